//! The plain types of a training run: its parameters and their checks (`spec`), its
//! architecture and activation by name, its float type, how it ended, and what it reports. The
//! training itself (libtorch) is the `sgdnoise-torch` crate's.

pub mod act;
pub mod names;
pub mod observables;
pub mod spec;

pub use act::Activation;
pub use names::{ArchKind, ArchSpec, Dtype, Status};
pub use observables::{LayerChange, RunRecord, Timing, TrajectoryPoint};
pub use spec::*;
