//! Models, the SGD dynamics with the exact stop, observables, and the libtorch runtime.

pub mod act;
pub mod dynamics;
mod fc;
pub mod model;
pub mod observables;
pub mod perceptron;
pub mod replicas;
pub mod runtime;

pub use act::Activation;
pub use dynamics::{train, train_with_autograd, train_with_libtorch, Dtype, Status, TrainConfig, TrainError, Trainer};
pub use model::{ArchKind, ArchSpec, Net};
pub use observables::{RunRecord, Timing};
