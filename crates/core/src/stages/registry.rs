//! The stage-kind registry: what a kind declares (parameters, version, whether it uses
//! libtorch, whether it runs in its own process) and the one function it implements.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::params::{CheckError, Params, Schema};
use crate::datasets::DataPaths;
use crate::engine::store::Store;

/// One upstream instance as a job sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub stage: String,
    pub kind: String,
    pub instance: String,
    pub key: String,
    pub params: Params,
    /// Output name → object hash.
    pub outputs: BTreeMap<String, String>,
}

/// Everything needed to execute one instance; written to `cache/jobs/KEY.json` for
/// `sgdnoise exec --key KEY`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub key: String,
    pub stage: String,
    pub instance: String,
    pub kind: String,
    pub params: Params,
    pub inputs: Vec<Input>,
    /// libtorch intra-op threads for this job.
    pub threads: usize,
    /// `cpu`, `cuda`, `cuda:N`.
    pub device: String,
    /// Set when an aggregate runs over part of its upstream (`--partial`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<crate::engine::key::Partial>,
    /// The libtorch version the key was made with (kinds that use libtorch): the worker that
    /// loads another one refuses the job rather than record it under a key that lies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libtorch: Option<String>,
}

/// Where a job runs and what it may use.
pub struct ExecContext<'a> {
    pub store: &'a Store,
    pub data: DataPaths,
}

/// What an execution produced: named output files (content-addressed once stored) and
/// metrics that are recorded in provenance but are not part of the output (wall time, rates).
#[derive(Debug, Default)]
pub struct ExecOutput {
    pub outputs: BTreeMap<String, Vec<u8>>,
    pub metrics: Value,
}

/// An error while executing a stage, typed down to its source.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// A parameter the job carries does not resolve (its check passed when planned).
    #[error(transparent)]
    Param(#[from] super::params::ParamError),
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error(transparent)]
    RunSpec(#[from] crate::run::RunSpecError),
    #[error(transparent)]
    Output(#[from] super::outputs::OutputError),
    #[error(transparent)]
    Store(#[from] crate::engine::store::StoreError),
    #[error(transparent)]
    Data(#[from] crate::datasets::DataError),
    /// Training failed (libtorch's errors, from the trainer `sgdnoise-torch` installs).
    #[error(transparent)]
    Training(Box<dyn std::error::Error + Send + Sync>),
    /// A stored object that does not decode as what it should be.
    #[error("object {hash}: {message}")]
    BadObject { hash: String, message: String },
    /// The stage cannot go on with what it was given (no runs selected, a missing input).
    #[error("{0}")]
    Failed(String),
}

impl StageError {
    pub fn new(msg: impl Into<String>) -> Self {
        StageError::Failed(msg.into())
    }
}

/// A file outside the store that an instance reads (its content hash enters the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalFile {
    pub path: String,
    pub sha256: String,
}

pub trait StageKind: Send + Sync {
    fn name(&self) -> &'static str;
    /// Bump when the implementation changes what it outputs.
    fn version(&self) -> u32;
    /// The implementation version of one instance: the kind's, unless a change of code touched
    /// only some of its instances (a new perceptron loop need not rerun every net).
    fn version_of(&self, _params: &Params) -> u32 {
        self.version()
    }
    /// The kind's parameter struct: resolution, defaults, names.
    fn params(&self) -> &'static dyn Schema;
    /// The libtorch version and device class enter the key.
    fn uses_torch(&self) -> bool {
        false
    }
    /// Run in a child process (`sgdnoise exec`), not in the dispatcher's process.
    fn isolated(&self) -> bool {
        false
    }
    /// Checks the resolved parameters against the upstream instances, before anything runs.
    /// The error is `(parameter, message)`.
    fn check(&self, _params: &Params, _upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        Ok(())
    }
    /// Raw files read outside the store (hashed into the key).
    fn external_files(&self, _params: &Params, _data: &DataPaths) -> Result<Vec<std::path::PathBuf>, StageError> {
        Ok(Vec::new())
    }
    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError>;
    /// Executes several instances of this kind together, reporting each as it finishes. By
    /// default one after the other; `train` trains compatible runs as batched replicas.
    fn execute_group(
        &self,
        ctx: &ExecContext,
        jobs: &[Job],
        on_done: &mut dyn FnMut(usize, Result<ExecOutput, StageError>),
    ) {
        for (i, job) in jobs.iter().enumerate() {
            on_done(i, self.execute(ctx, job));
        }
    }
    /// Which instances may run together as one group: equal values group together.
    fn group_key(&self, _params: &Params) -> Option<String> {
        None
    }
}

pub fn registry() -> &'static [&'static dyn StageKind] {
    &[
        &super::dataset::Dataset,
        &super::train::Train,
        &super::collect::Collect,
        &super::fit::Fit,
        &super::crossover::Crossover,
        &super::optimum::Optimum,
        &super::report::Report,
    ]
}

pub fn find(name: &str) -> Option<&'static dyn StageKind> {
    registry().iter().copied().find(|k| k.name() == name)
}

pub fn kind_names() -> Vec<&'static str> {
    registry().iter().map(|k| k.name()).collect()
}
