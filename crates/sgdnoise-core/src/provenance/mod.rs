//! Provenance in SQLite (`cache/provenance.sqlite`, WAL): every execution with its key, key
//! inputs, inputs, outputs, environment, times and status; the records that map keys to outputs;
//! and the queries behind `why`.

pub mod audit;
pub mod db;
pub mod schema;
pub mod why;

pub use db::{Db, ExecutionRow, RecordRow};
