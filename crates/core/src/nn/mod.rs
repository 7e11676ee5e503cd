//! The plain types of a training run: its architecture and activation by name, its float type,
//! how it ended, and what it reports. The training itself (libtorch) is the root crate's `nn`.

pub mod act;
pub mod names;
pub mod observables;

pub use act::Activation;
pub use names::{ArchKind, ArchSpec, Dtype, Status};
pub use observables::{LayerChange, RunRecord, Timing, TrajectoryPoint};
