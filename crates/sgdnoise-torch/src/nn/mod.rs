//! Models, the SGD dynamics with the exact stop, and the libtorch runtime. The plain types of a
//! run (names, records) are `sgdnoise_core::run`'s.

pub mod apply;
pub mod dynamics;
mod fc;
mod margin_filter;
pub mod model;
pub mod perceptron;
pub mod replicas;
pub mod runtime;

pub use dynamics::{train, train_with_autograd, train_with_libtorch, TorchKind, TrainConfig, TrainError, Trainer};
pub use model::Net;
