//! The interface every stage kind implements: what a kind declares (parameters, version, whether
//! it uses libtorch, whether it runs in its own process) and the one function it implements. The
//! catalogue of kinds is `stages/mod.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::params::{CheckError, Params, Schema};
use crate::datasets::DataPaths;
use crate::job::Job;
use crate::store::Store;

/// Where a job runs and what it may use.
pub struct ExecContext<'a> {
    pub store: &'a Store,
    pub data: DataPaths,
    /// What executes `train` jobs: given by the process that links libtorch (`sgdnoise-torch`);
    /// `None` in the light coordinator, which plans and keys training but never executes it.
    pub trainer: Option<&'a dyn Trainer>,
}

/// Executes training jobs: one group of compatible runs, each result reported as it is done.
/// `sgdnoise-torch` implements it on libtorch and passes it in every [`ExecContext`] it builds.
pub trait Trainer: Sync {
    fn train_group(
        &self,
        ctx: &ExecContext,
        jobs: &[Job],
        on_done: &mut dyn FnMut(usize, Result<ExecOutput, StageError>),
    );
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
    Output(#[from] crate::outputs::OutputError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
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
    /// Whether the outputs are rebuilt exactly from the instance's key alone (raw files named by
    /// their sha256): bundles leave them out, and `plan` keys what is downstream of a missing one
    /// by the output hash it had.
    fn rederivable(&self) -> bool {
        false
    }
    /// With `--partial`, whether an instance that is not fresh stays pending (training runs,
    /// the expensive part) rather than running (aggregates are computed over what is done).
    fn pending_when_partial(&self) -> bool {
        false
    }
    /// The numeric parameters `plan`'s cost model may fit this kind's recorded times against
    /// (those that vary among the records); none by default, so the model is their mean.
    fn cost_features(&self) -> &'static [&'static str] {
        &[]
    }
    /// The parameters that only bound an execution (a run's step and wall limits): an output
    /// made under other limits is this instance's when it ended before reaching them
    /// ([`StageKind::ended_within`]). None by default.
    fn limits(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether the outputs of an instance that differed only in [`StageKind::limits`], and took
    /// `wall_s` seconds, are what this one would give under the limits in `params`: `Some(why)`
    /// when it ended (not at a limit) within them.
    fn ended_within(
        &self,
        _outputs: &std::collections::BTreeMap<String, String>,
        _store: &crate::store::Store,
        _params: &Value,
        _wall_s: Option<f64>,
    ) -> Option<String> {
        None
    }
    /// Instances whose costs are modelled apart (a GELU net's step costs more than a ReLU's):
    /// equal values share a model.
    fn cost_group(&self, _params: &Value) -> String {
        String::new()
    }
}
