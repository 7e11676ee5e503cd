//! The pipeline engine: keys, the content-addressed store, plans with reasons, the dispatcher
//! and its executors (local workers, Slurm), progress, and the cache lock.

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
pub mod store;
