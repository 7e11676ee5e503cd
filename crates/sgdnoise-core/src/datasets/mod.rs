//! Datasets: readers for the raw files, the binary tasks built on them, and the synthetic
//! perceptron data.

pub mod cifar;
pub mod depleted;
pub mod idx;
pub mod prepared;
pub mod sources;
pub mod task;

pub use sources::{DataPaths, DatasetStatus};
pub use task::{DataSpec, Pool, RunData};

use std::path::PathBuf;

/// Bytes that are not in the format they should be in (IDX, CIFAR-10 records, a prepared pool):
/// what is wrong, in words; the caller names the file or object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

/// Why a dataset could not be used. Every variant names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("dataset {dataset} is missing: {path} does not exist; {how}")]
    Missing { dataset: String, path: PathBuf, how: String },
    #[error("{path}: sha256 is {got}, expected {expected}; {how}")]
    BadChecksum { path: PathBuf, got: String, expected: String, how: String },
    #[error("{path}: corrupt: {why}")]
    Corrupt { path: PathBuf, why: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}
