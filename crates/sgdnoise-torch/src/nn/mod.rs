//! Models, the SGD dynamics with the exact stop, and the libtorch runtime. Three loops (the nets'
//! in `dynamics`, the perceptron's, batched replicas') share one skeleton (`skeleton`: the
//! configuration, the schedule of trajectory points and wall-clock reads, the record). The plain
//! types of a run (names, records) are `sgdnoise_core::run`'s.

pub mod apply;
pub mod dynamics;
mod fc;
mod margin_filter;
pub mod model;
pub mod perceptron;
pub mod replicas;
pub mod runtime;
pub mod skeleton;

pub use dynamics::{train, train_with_autograd, train_with_libtorch, TorchKind, TrainError, Trainer};
pub use model::Net;
pub use skeleton::{SetStats, TrainConfig};
