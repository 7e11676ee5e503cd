//! Models, the SGD dynamics with the exact stop, and the libtorch runtime. Three loops share one
//! skeleton (`skeleton`: the configuration, the schedule of trajectory points and wall-clock
//! reads, the record): the nets' (`dynamics::run`, over libtorch's `Trainer` or, for float32 FC
//! nets on the CPU, `fc_cpu` with its own products from `kernels`), the perceptron's, and
//! libtorch's batched replicas'. The plain types of a run (names, records) are
//! `sgdnoise_core::run`'s.

pub mod apply;
pub mod dynamics;
mod fc;
pub mod fc_cpu;
pub mod kernels;
mod margin_filter;
pub mod model;
pub mod perceptron;
pub mod replicas;
pub mod runtime;
pub mod skeleton;

pub use dynamics::{train, train_with_autograd, train_with_libtorch, TorchKind, TrainError, Trainer};
pub use model::Net;
pub use skeleton::{SetStats, TrainConfig};
