//! Applying an activation to a tensor; the activation itself and its gain are
//! `sgdnoise_core::run::act`.

use tch::Tensor;

pub use sgdnoise_core::run::Activation;

/// c·φ on tensors.
pub trait Apply {
    /// c·φ(scale·z): the pre-activation scale folded in (for ReLU the two factors merge into one
    /// multiplication because ReLU is positively homogeneous).
    fn apply_scaled(self, z: &Tensor, scale: f64) -> Tensor;
    /// c·φ(z).
    fn apply(self, z: &Tensor) -> Tensor;
}

impl Apply for Activation {
    fn apply_scaled(self, z: &Tensor, scale: f64) -> Tensor {
        match self {
            Activation::Relu => (z * (scale * self.gain())).relu(),
            Activation::Gelu => (z * scale).gelu("none") * self.gain(),
        }
    }

    fn apply(self, z: &Tensor) -> Tensor {
        self.apply_scaled(z, 1.0)
    }
}
