//! The pipeline engine: keys, plans with reasons, the dispatcher and its executors (local
//! workers, Slurm), cost estimates, progress, and the cache lock.

pub mod clock;
pub mod dispatcher;
pub mod estimate;
pub mod exec;
pub mod executor;
pub mod key;
pub mod lock;
pub mod plan;
pub mod progress;
pub mod reason;
