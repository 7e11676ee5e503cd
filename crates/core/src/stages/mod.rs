//! Stage kinds: the science plugged into the engine. Each kind is one file.

pub mod analysis_params;
pub mod collect;
pub mod crossover;
pub mod dataset;
pub mod fit;
pub mod optimum;
pub mod outputs;
pub mod params;
pub mod registry;
pub mod report;
pub mod train;

pub use params::Params;
pub use registry::{find, registry, ExecContext, ExecOutput, Input, Job, StageError, StageKind};
