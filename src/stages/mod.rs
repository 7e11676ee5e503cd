//! Stage kinds: the science plugged into the engine. Each kind is one file.

pub mod collect;
pub mod dataset;
pub mod fit;
pub mod params;
pub mod registry;
pub mod train;

pub use params::{ParamDef, Params};
pub use registry::{find, registry, ExecContext, ExecOutput, Input, Job, StageError, StageKind};
