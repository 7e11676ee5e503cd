//! A run's parameters made into a training configuration, its data drawn, and its record put
//! together with the environment it ran in. The parameters themselves and their checks are
//! `sgdnoise_core::run`, re-exported here.

use serde::Serialize;
use tch::Device;

use crate::nn::{runtime, TrainConfig};
use sgdnoise_core::datasets::{DataPaths, DataSpec, Pool, RunData};
use sgdnoise_core::outputs::TrainRecord;
use sgdnoise_core::run::{RunRecord, Timing};
use sgdnoise_core::run::{RunSpec, RunSpecError};

/// A [`RunSpec`] checked and turned into types.
#[derive(Debug, Clone)]
pub struct ResolvedRun {
    pub data: DataSpec,
    pub config: TrainConfig,
    pub p: usize,
    pub test_size: usize,
    pub test_seed: u64,
}

/// A [`RunSpec`] made into a training configuration on `device`.
pub trait Resolve {
    /// Checks every parameter (an error names it) and builds the configuration. `test` is the
    /// split of an image task's dataset stage (size, seed), which overrides the run's own.
    fn resolve(&self, test: Option<(usize, u64)>, device: Device) -> Result<ResolvedRun, RunSpecError>;
}

impl Resolve for RunSpec {
    fn resolve(&self, test: Option<(usize, u64)>, device: Device) -> Result<ResolvedRun, RunSpecError> {
        let checked = self.check(test)?;
        let config = TrainConfig {
            arch: checked.arch,
            alpha: self.alpha,
            temperature: self.temperature,
            batch: self.batch,
            seed: self.seed,
            max_steps: self.max_steps,
            max_wall: self.max_wall,
            dtype: self.dtype,
            device,
            trajectory: true,
        };
        Ok(ResolvedRun {
            data: checked.data,
            config,
            p: self.p,
            test_size: checked.test_size,
            test_seed: checked.test_seed,
        })
    }
}

impl ResolvedRun {
    /// Draws this run's data (loading the pool for image tasks).
    pub fn draw_data(&self, paths: &DataPaths) -> Result<RunData, sgdnoise_core::datasets::DataError> {
        match &self.data {
            DataSpec::Depleted { chi, dim } => {
                RunData::depleted(*chi, *dim, self.p, self.test_size, self.config.seed, self.test_seed)
            }
            spec => {
                let pool = Pool::load(spec, paths)?;
                RunData::from_pool(&pool, self.p, self.test_size, self.config.seed, self.test_seed)
            }
        }
    }
}

/// The stored record of a run (its clock left out) and where it ran.
pub fn record_of(spec: &RunSpec, run: &ResolvedRun, data: &RunData, record: &RunRecord) -> (TrainRecord, RunEnv) {
    // The record states the test split the run used.
    let spec = RunSpec { test_size: Some(run.test_size), test_seed: Some(run.test_seed), ..spec.clone() };
    let stored = TrainRecord {
        spec,
        run: RunRecord { timing: None, ..record.clone() },
        h: run.config.arch.h(),
        data_sha256: data.sources.iter().map(|(_, h)| h.clone()).collect(),
    };
    let env = RunEnv {
        device: runtime::device_name(run.config.device),
        libtorch_version: runtime::libtorch_version_full(),
        processor: sgdnoise_core::host::processor(),
        vector_extensions: sgdnoise_core::host::vector_extensions(),
        threads: runtime::threads(),
        sgdnoise_version: env!("CARGO_PKG_VERSION"),
        data_sources: data
            .sources
            .iter()
            .map(|(p, h)| DataSource { file: p.display().to_string(), sha256: h.clone() })
            .collect(),
    };
    (stored, env)
}

/// Where a run ran: printed by `sgdnoise train` and recorded in provenance beside the record,
/// never part of it (a rerun elsewhere must give the same output).
#[derive(Debug, Clone, Serialize)]
pub struct RunEnv {
    pub device: String,
    pub libtorch_version: String,
    /// The processor's model name, and its vector extensions that decide the instruction path.
    pub processor: String,
    pub vector_extensions: String,
    pub threads: usize,
    pub sgdnoise_version: &'static str,
    pub data_sources: Vec<DataSource>,
}

/// A raw data file a run read.
#[derive(Debug, Clone, Serialize)]
pub struct DataSource {
    pub file: String,
    pub sha256: String,
}

/// What `sgdnoise train --json` prints: the record, its clock and where it ran.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    #[serde(flatten)]
    pub record: TrainRecord,
    #[serde(flatten)]
    pub timing: Timing,
    #[serde(flatten)]
    pub env: RunEnv,
}
