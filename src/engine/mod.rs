//! The pipeline engine: keys, the content-addressed store, plans with reasons, the dispatcher
//! and its workers, progress, and the cache lock.

pub mod clock;
pub mod estimate;
pub mod exec;
pub mod key;
pub mod lock;
pub mod plan;
pub mod progress;
pub mod reason;
pub mod scheduler;
pub mod store;
