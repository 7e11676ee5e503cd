//! The perceptron's synthetic data: x ∈ R^d with x1 = ±√(2·Gamma((χ+1)/2, 1)) (random sign), so
//! that x1 has density ∝ |x1|^χ e^{−x1²/2}, the other coordinates N(0, 1), and y = sign(x1).
//! χ > 0 depletes the points near the decision boundary.

use crate::rng::Rng;

/// `n` samples, row-major, and their labels.
pub fn sample(chi: f64, dim: usize, n: usize, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    let mut x = Vec::with_capacity(n * dim);
    let mut y = Vec::with_capacity(n);
    let shape = (chi + 1.0) / 2.0;
    for _ in 0..n {
        let sign = if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
        let x1 = sign * (2.0 * rng.gamma(shape)).sqrt();
        x.push(x1 as f32);
        for _ in 1..dim {
            x.push(rng.normal() as f32);
        }
        y.push(sign as f32);
    }
    (x, y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    /// The density of |x1| near zero grows as |x1|^χ: the fraction of points with |x1| < ε
    /// scales as ε^(χ+1). Fit that exponent between two small ε.
    #[test]
    fn x1_density_exponent_is_chi() {
        for chi in [0.0, 1.0, 3.0] {
            let n = 400_000;
            let (x, y) = sample(chi, 1, n, &mut Rng::stream(5, Stream::TrainData));
            let frac = |eps: f32| x.iter().filter(|v| v.abs() < eps).count() as f64 / n as f64;
            let (e1, e2) = (0.3f32, 0.6f32);
            let slope = (frac(e2) / frac(e1)).ln() / (e2 as f64 / e1 as f64).ln();
            // Exact for the density: the log-slope of F(ε) ≈ (χ+1)(1 − O(ε²)).
            let exact = {
                let cdf = |e: f64| -> f64 {
                    // ∫0^e t^chi e^{-t²/2} dt by Simpson's rule
                    let m = 2000;
                    let h = e / m as f64;
                    let g = |t: f64| {
                        if t == 0.0 {
                            if chi == 0.0 {
                                1.0
                            } else {
                                0.0
                            }
                        } else {
                            t.powf(chi) * (-t * t / 2.0).exp()
                        }
                    };
                    (0..=m)
                        .map(|k| {
                            let w = if k == 0 || k == m {
                                1.0
                            } else if k % 2 == 1 {
                                4.0
                            } else {
                                2.0
                            };
                            w * g(k as f64 * h)
                        })
                        .sum::<f64>()
                        * h
                        / 3.0
                };
                (cdf(e2 as f64) / cdf(e1 as f64)).ln() / (e2 as f64 / e1 as f64).ln()
            };
            assert!((slope - exact).abs() < 0.06 * (chi + 1.0), "chi {chi}: measured {slope}, expected {exact}");
            assert!((exact - (chi + 1.0)).abs() < 0.25 * (chi + 1.0));
            for (v, l) in x.iter().zip(&y) {
                assert_eq!(v.signum(), *l);
            }
        }
    }
}
