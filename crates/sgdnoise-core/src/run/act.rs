//! Activations rescaled so that E[φ(z)²] = 1 for z ~ N(0, 1) (shared/DESIGN.md). Applying
//! one to a tensor is libtorch's part (`sgdnoise_torch::nn::apply::Apply`).
//!
//! ReLU gets √2 exactly. GELU (the exact, erf-based one that torch computes by default) gets a
//! constant computed once by quadrature; the authors' JAX code estimated it by Monte Carlo with
//! 10⁶ samples, which agrees to about 10⁻³.

use std::sync::OnceLock;

crate::named_enum! {
    /// The activation φ of the hidden layers.
    pub enum Activation {
        Relu = "relu",
        Gelu = "gelu",
    }
}

impl Activation {
    /// The factor c with E[(c·φ(z))²] = 1.
    pub fn gain(self) -> f64 {
        match self {
            Activation::Relu => std::f64::consts::SQRT_2,
            Activation::Gelu => *GELU_GAIN.get_or_init(|| 1.0 / gaussian_second_moment(gelu).sqrt()),
        }
    }
}

static GELU_GAIN: OnceLock<f64> = OnceLock::new();

fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

/// E[φ(z)²] for z ~ N(0,1), by Simpson's rule on [−12, 12].
pub fn gaussian_second_moment(phi: fn(f64) -> f64) -> f64 {
    let (a, b, n) = (-12.0f64, 12.0f64, 24_000usize);
    let h = (b - a) / n as f64;
    let norm = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    let f = |x: f64| phi(x).powi(2) * (-x * x / 2.0).exp() * norm;
    let mut s = f(a) + f(b);
    for k in 1..n {
        let w = if k % 2 == 1 { 4.0 } else { 2.0 };
        s += w * f(a + k as f64 * h);
    }
    s * h / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_moment_is_one_half() {
        let m = gaussian_second_moment(|x| x.max(0.0));
        assert!((m - 0.5).abs() < 1e-9, "{m}");
    }

    #[test]
    fn gelu_gain_matches_known_value() {
        // E[gelu(z)^2] ≈ 0.4252 for the exact GELU.
        let m = gaussian_second_moment(gelu);
        assert!((m - 0.42522).abs() < 2e-4, "{m}");
        assert!((Activation::Gelu.gain() - 1.0 / m.sqrt()).abs() < 1e-12);
    }
}
