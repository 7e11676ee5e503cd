//! Which training points the perceptron may skip reading: every point's margin α·y·f is kept
//! up to date through the Gram matrix while updates are rare, so that a step reads the row of a
//! point only when its margin could be below 1. Late in a run at χ = 0 fewer than 1% of steps
//! update the weights, and each step otherwise reads two random rows of a matrix larger than the
//! processor's cache: this turns those reads into a look-up in an array of P numbers.
//!
//! The one idea to know: the estimates never decide anything by themselves. A point is skipped
//! only when its estimate lies above 1 by more than a bound on everything that separates it from
//! the margin the plain loop computes (the rounding of that dot product, of every update of the
//! weights since the estimates were last set from exact margins, and of the Gram matrix), so a
//! skipped point is one the plain loop finds fitted, and the run is bitwise the plain loop's.
//! Every other point has its margin computed exactly as before.

use std::time::Instant;

/// Unit roundoff of the f64 arithmetic the estimates are kept in.
const U64: f64 = f64::EPSILON / 2.0;
/// Unit roundoff of f32, in which the Gram matrix is computed.
const U32: f64 = f32::EPSILON as f64 / 2.0;

/// What the filter did over a run (tests and the benchmark read it; it is not part of a run's
/// record).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FilterStats {
    /// Steps taken with the filter on.
    pub steps: u64,
    /// Batch points the filter proved fitted, whose rows were not read.
    pub skipped: u64,
    /// Batch points whose margins were computed because the filter could not rule them out.
    pub read: u64,
    /// Times the estimates were set from exact margins of every point.
    pub refreshes: u64,
    /// Times the filter was switched on.
    pub activations: u64,
    /// Seconds spent computing the Gram matrix.
    pub gram_s: f64,
}

/// The estimates and what bounds their error. Margins are in the units of the plain loop:
/// m_j = α·y_j·(x_j·v)·s with s the run's 1/√d as a float; the update of point i adds
/// k_i·x_i to v with k_i = step·y_i.
pub(crate) struct MarginFilter {
    p: usize,
    /// y_i·y_j·(x_i·x_j) in f32, row i at i·P.
    gram: Vec<f32>,
    /// Estimates of every point's margin.
    approx: Vec<f64>,
    /// α·s: margin per unit of y·(x·v).
    c: f64,
    /// α·s·step: what an update of point i adds to estimate j per unit of gram[i][j].
    coef: f64,
    /// |k_i| = step (y = ±1).
    step: f64,
    /// Unit roundoff of the run's arithmetic (f32 or f64).
    u: f64,
    /// Bound on the rounding of one dot product of length d relative to Σ|x||v|: γ_d, padded.
    gamma: f64,
    /// Largest ‖x_j‖ (padded upwards).
    xmax: f64,
    /// Bound on |gram[i][j] − y_i·y_j·(x_i·x_j)|.
    gerr: f64,
    /// Bound on |estimate − exact margin of the current v| (the margin in real arithmetic).
    err: f64,
    /// Bound on every |estimate|.
    amax: f64,
    /// A point whose estimate is at least this is certainly fitted.
    threshold: f64,
    /// Points read since the last refresh and found fitted: the filter's misses.
    misses: u64,
    pub(crate) on: bool,
    pub(crate) stats: FilterStats,
}

impl MarginFilter {
    /// The largest P whose Gram matrix (P² f32) is kept: 1 GiB.
    pub(crate) const MAX_POINTS: usize = 16384;

    /// Builds the Gram matrix of the training rows `x` (P rows of d, in f32 whatever the run's
    /// dtype: its error is bounded, not assumed away). `alpha_s` is α·s, `step` the update's
    /// dt/B·s, `u` the unit roundoff of the run's arithmetic.
    pub(crate) fn new(x: &[f32], y: &[f32], d: usize, alpha_s: f64, step: f64, u: f64) -> Option<MarginFilter> {
        let p = y.len();
        if p == 0 || p > Self::MAX_POINTS || x.len() != p * d {
            return None;
        }
        let t0 = Instant::now();
        let signed: Vec<f32> =
            x.chunks_exact(d).zip(y).flat_map(|(row, &yi)| row.iter().map(move |&v| v * yi)).collect();
        let xs = tch::Tensor::from_slice(&signed).view([p as i64, d as i64]);
        let gram = Vec::<f32>::try_from(xs.matmul(&xs.tr()).view([-1])).ok()?;
        let xmax = x
            .chunks_exact(d)
            .map(|row| row.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt())
            .fold(0.0f64, f64::max)
            * (1.0 + 1e-9);
        if !xmax.is_finite() || gram.iter().any(|g| !g.is_finite()) {
            return None;
        }
        let dd = d as f64;
        Some(MarginFilter {
            p,
            gram,
            approx: vec![f64::NEG_INFINITY; p],
            c: alpha_s,
            coef: alpha_s * step,
            step,
            u,
            gamma: (dd + 4.0) * u * 1.01,
            xmax,
            // Any order of f32 sums and products of length d, from inputs rounded to f32.
            gerr: (dd + 6.0) * U32 * 1.01 * xmax * xmax,
            err: f64::INFINITY,
            amax: f64::INFINITY,
            threshold: f64::INFINITY,
            misses: 0,
            on: false,
            stats: FilterStats { gram_s: t0.elapsed().as_secs_f64(), ..FilterStats::default() },
        })
    }

    /// Whether point `i` is certainly fitted: the plain loop's margin of it is at least 1.
    /// A NaN estimate is never certain.
    #[inline(always)]
    pub(crate) fn fitted(&self, i: usize) -> bool {
        self.approx[i] >= self.threshold
    }

    /// Counts a point read because [`MarginFilter::fitted`] could not rule it out.
    pub(crate) fn read(&mut self, fitted: bool) {
        self.stats.read += 1;
        if fitted {
            self.misses += 1;
        }
    }

    /// Counts a step whose batch points were all fitted: `skipped` of them proven so, `read`
    /// read and found so (what [`MarginFilter::read`] counts one at a time).
    pub(crate) fn quiet_step(&mut self, skipped: u64, read: u64) {
        self.stats.steps += 1;
        self.stats.skipped += skipped;
        self.stats.read += read;
        self.misses += read;
    }

    /// The points not proven fitted, in order.
    pub(crate) fn candidates(&self) -> Vec<u32> {
        (0..self.p as u32).filter(|&i| !self.fitted(i as usize)).collect()
    }

    /// Whether the misses since the estimates were set have cost about what setting them again
    /// costs (a pass over all P rows, in order, which reads faster than the random rows missed).
    pub(crate) fn stale(&self) -> bool {
        self.misses as usize >= self.p / 8
    }

    /// Sets the estimates from the exact margins of every point (as the plain loop computes
    /// them) at weights of norm `vnorm`.
    pub(crate) fn refresh(&mut self, margins: &[f64], vnorm: f64) {
        self.approx.copy_from_slice(margins);
        self.amax = margins.iter().fold(0.0f64, |m, a| m.max(a.abs()));
        // A computed margin is within c·γ·‖x‖·‖v‖ + 2.01u·|m| of the real one.
        self.err = self.dot_err(vnorm) + 2.01 * self.u * self.amax;
        self.misses = 0;
        self.stats.refreshes += 1;
        self.set_threshold(vnorm);
    }

    /// Applies the update of point `i` to every estimate; `vnorm` is ‖v‖ just after it.
    pub(crate) fn update(&mut self, i: usize, vnorm: f64) {
        let row = &self.gram[i * self.p..(i + 1) * self.p];
        add_scaled(&mut self.approx, row, self.coef);
        let (c, u, k, x) = (self.c, self.u, self.step, self.xmax);
        let g = x * x + self.gerr;
        self.amax += self.coef.abs() * g;
        // v's new components carry a rounding of at most u·(|k·x| + |v_new|) each: that moves
        // every margin by up to c·‖x‖·u·(|k|·‖x_i‖ + ‖v_new‖); the Gram entry's own error moves
        // the estimate by c·|k|·gerr; the f64 products and sums, by a few ulps of what they add.
        self.err +=
            1.01 * (c * x * u * (k * x + vnorm) + c * k * self.gerr) + 4.0 * U64 * (self.amax + self.coef.abs() * g);
        self.set_threshold(vnorm);
    }

    fn dot_err(&self, vnorm: f64) -> f64 {
        self.c * self.gamma * self.xmax * vnorm
    }

    /// A point is fitted for the plain loop when its real margin m satisfies
    /// m − c·γ·‖x‖·‖v‖ ≥ 1 + 2.01u; m ≥ estimate − err. Both bounds doubled for safety.
    fn set_threshold(&mut self, vnorm: f64) {
        let t = 1.0 + 4.0 * self.u + 2.0 * (self.err + self.dot_err(vnorm));
        // Far from where an f32 dot product could overflow (a margin the plain loop would find
        // infinite, and call a divergence), or the filter stays out of it.
        let safe = self.c * self.xmax * vnorm < 1e30;
        self.threshold = if t.is_finite() && safe { t } else { f64::INFINITY };
    }
}

/// a += coef·g, element by element.
fn add_scaled(a: &mut [f64], g: &[f32], coef: f64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2, checked just above.
        return unsafe { add_scaled_avx2(a, g, coef) };
    }
    add_scaled_plain(a, g, coef)
}

#[inline(always)]
fn add_scaled_plain(a: &mut [f64], g: &[f32], coef: f64) {
    for (a, &g) in a.iter_mut().zip(g) {
        *a += coef * f64::from(g);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_scaled_avx2(a: &mut [f64], g: &[f32], coef: f64) {
    add_scaled_plain(a, g, coef)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Margins as the plain loop computes them in f32 (any fixed summation order will do: the
    /// bound holds for every order).
    fn margin(x: &[f32], y: f32, v: &[f32], alpha_s: f64) -> f64 {
        let dot: f32 = x.iter().zip(v).map(|(a, b)| a * b).sum();
        f64::from(dot * y) * alpha_s
    }

    #[test]
    fn estimates_stay_within_their_bound_and_prove_most_points_fitted() {
        let (d, p) = (24usize, 300usize);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let x: Vec<f32> = (0..p * d).map(|_| (uniform() * 2.0 - 1.0) as f32 * 1.7).collect();
        let y: Vec<f32> = (0..p).map(|i| if x[i * d] >= 0.0 { 1.0 } else { -1.0 }).collect();
        let (alpha_s, step) = (32768.0 / (d as f64).sqrt(), 0.01f32);
        let mut f = MarginFilter::new(&x, &y, d, alpha_s, f64::from(step), f64::from(f32::EPSILON) / 2.0).unwrap();
        let mut v = vec![0.0f32; d];
        let vnorm = |v: &[f32]| v.iter().map(|&a| f64::from(a) * f64::from(a)).sum::<f64>().sqrt() * (1.0 + 1e-9);
        let computed = |v: &[f32]| (0..p).map(|j| margin(&x[j * d..][..d], y[j], v, alpha_s)).collect::<Vec<_>>();
        // The margin in real arithmetic, to within f64 rounding.
        let real = |j: usize, v: &[f32]| {
            let dot: f64 = x[j * d..][..d].iter().zip(v).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
            dot * f64::from(y[j]) * alpha_s
        };
        // Set from v = 0, where the computed margins are exact: from here on, the bound is only
        // what the updates add.
        f.refresh(&computed(&v), vnorm(&v));
        let (mut skipped, mut looked) = (0usize, 0usize);
        for n in 0..20000 {
            // Update an unfitted point (as training does), or any point once all are fitted.
            let m = computed(&v);
            let i = (0..p).map(|k| (k + n * 7) % p).find(|&k| m[k] < 1.0).unwrap_or(n % p);
            let k = step * y[i];
            for (a, b) in v.iter_mut().zip(&x[i * d..][..d]) {
                *a += k * *b;
            }
            f.update(i, vnorm(&v));
            let m = computed(&v);
            for (j, &mj) in m.iter().enumerate() {
                let r = real(j, &v);
                assert!(
                    (f.approx[j] - r).abs() <= f.err * (1.0 + 1e-9),
                    "update {n}, point {j}: {} vs {r} (bound {})",
                    f.approx[j],
                    f.err
                );
                if f.fitted(j) {
                    assert!(mj >= 1.0, "update {n}: point {j} proven fitted at margin {mj}");
                    skipped += 1;
                }
                looked += 1;
            }
        }
        // The bound is not vacuous: most points are proven fitted.
        assert!(skipped * 2 > looked, "{skipped} of {looked} proven fitted");
    }
}
