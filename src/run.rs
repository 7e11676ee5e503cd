//! One training run described by plain parameters: what `sgdnoise train` and the pipeline's
//! `train` stage both execute. Parameters resolve to a typed configuration (or a clear error
//! naming the parameter), the data is drawn, the net trained, and the record returned with the
//! parameters and the environment it ran in.

use serde::{Deserialize, Serialize};
use tch::Device;

use crate::datasets::task::DataName;
use crate::datasets::{DataPaths, DataSpec, Pool, RunData};
use crate::nn::{runtime, Activation, ArchKind, ArchSpec, Dtype, RunRecord, Timing, TrainConfig};
use crate::stages::outputs::TrainRecord;
use crate::stages::params::num;

/// The defaults of a run's parameters, written once: the train stage's serde defaults and the
/// flags of `sgdnoise train` both read them.
pub mod defaults {
    use crate::nn::{Activation, ArchKind};

    pub const ARCH: ArchKind = ArchKind::Fc;
    pub const DEPTH: usize = 5;
    pub const WIDTH: usize = 128;
    pub const ACT: Activation = Activation::Relu;
    pub const SEED: u64 = 0;
    pub const MAX_STEPS: u64 = 1_000_000;
    /// Test points of depleted data when none are given (the paper's 32768).
    pub const TEST_SIZE: usize = 32768;
    pub const TEST_SEED: u64 = 0;

    pub(super) fn arch() -> ArchKind {
        ARCH
    }
    pub(super) fn depth() -> usize {
        DEPTH
    }
    pub(super) fn width() -> usize {
        WIDTH
    }
    pub(super) fn act() -> Activation {
        ACT
    }
    pub(super) fn seed() -> u64 {
        SEED
    }
    pub(super) fn max_steps() -> u64 {
        MAX_STEPS
    }
}

/// The parameters of one run, as a user writes them: the `train` stage's parameter struct and
/// what `sgdnoise train` builds from its flags. Serialised, it is the instance's keyed
/// parameters (every field, `null` where absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// mnist-parity, fashion-parity, cifar-animals or depleted.
    pub data: DataName,
    /// χ of the depleted data.
    #[serde(default, deserialize_with = "num::opt_float")]
    pub chi: Option<f64>,
    /// d of the depleted data.
    #[serde(default, deserialize_with = "num::opt_int")]
    pub dim: Option<usize>,
    /// linear, fc or mnas.
    #[serde(default = "defaults::arch")]
    pub arch: ArchKind,
    /// Hidden layers L (fc).
    #[serde(default = "defaults::depth", deserialize_with = "num::int")]
    pub depth: usize,
    /// Width h (fc, mnas).
    #[serde(default = "defaults::width", deserialize_with = "num::int")]
    pub width: usize,
    /// relu or gelu.
    #[serde(default = "defaults::act")]
    pub act: Activation,
    /// Output scale α.
    #[serde(deserialize_with = "num::float")]
    pub alpha: f64,
    /// Training points.
    #[serde(rename = "P", deserialize_with = "num::int")]
    pub p: usize,
    /// Temperature T = dt/(h·B).
    #[serde(rename = "T", deserialize_with = "num::float")]
    pub temperature: f64,
    /// Batch size B.
    #[serde(deserialize_with = "num::int")]
    pub batch: usize,
    /// Training set, initialisation and batches.
    #[serde(default = "defaults::seed", deserialize_with = "num::int")]
    pub seed: u64,
    /// Test points of depleted data (image tasks: from the dataset stage).
    #[serde(default, deserialize_with = "num::opt_int")]
    pub test_size: Option<usize>,
    /// Test seed of depleted data (image tasks: from the dataset stage).
    #[serde(default, deserialize_with = "num::opt_int")]
    pub test_seed: Option<u64>,
    /// Step limit.
    #[serde(default = "defaults::max_steps", deserialize_with = "num::int")]
    pub max_steps: u64,
    /// Wall-clock limit in seconds.
    #[serde(default, deserialize_with = "num::opt_float")]
    pub max_wall: Option<f64>,
    /// f32 or f64.
    #[serde(default)]
    pub dtype: Dtype,
}

impl Default for RunSpec {
    /// The paper's kernel-regime FC run on MNIST parity, at P = 1024 and T = 2^-6.
    fn default() -> Self {
        RunSpec {
            data: DataName::MnistParity,
            chi: None,
            dim: None,
            arch: defaults::ARCH,
            depth: defaults::DEPTH,
            width: defaults::WIDTH,
            act: defaults::ACT,
            alpha: 32768.0,
            p: 1024,
            temperature: 0.015625,
            batch: 16,
            seed: defaults::SEED,
            test_size: None,
            test_seed: None,
            max_steps: defaults::MAX_STEPS,
            max_wall: None,
            dtype: Dtype::F32,
        }
    }
}

/// A run parameter that does not hold, with the parameter it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {message}")]
pub struct RunSpecError {
    pub param: &'static str,
    pub message: String,
}

fn bad(param: &'static str, message: impl Into<String>) -> RunSpecError {
    RunSpecError { param, message: message.into() }
}

/// A [`RunSpec`] checked and turned into types.
#[derive(Debug, Clone)]
pub struct ResolvedRun {
    pub data: DataSpec,
    pub config: TrainConfig,
    pub p: usize,
    pub test_size: usize,
    pub test_seed: u64,
}

impl RunSpec {
    /// Checks every parameter; an error names the parameter.
    /// Checks every parameter; an error names the parameter. `test` is the split of an image
    /// task's dataset stage (size, seed), which overrides the run's own.
    pub fn resolve(&self, test: Option<(usize, u64)>, device: Device) -> Result<ResolvedRun, RunSpecError> {
        let data = DataSpec::of(self.data, self.chi, self.dim).map_err(|e| bad("data", e.to_string()))?;
        let (kind, act, dtype) = (self.arch, self.act, self.dtype);
        if kind == ArchKind::Mnas && !data.is_image() {
            return Err(bad("arch", "mnas needs image data"));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err(bad("alpha", format!("must be positive and finite, got {}", self.alpha)));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(bad("T", format!("must be positive and finite, got {}", self.temperature)));
        }
        if self.p == 0 {
            return Err(bad("P", "must be at least 1"));
        }
        if self.batch == 0 || self.batch > self.p {
            return Err(bad("batch", format!("must be between 1 and P = {}, got {}", self.p, self.batch)));
        }
        if kind != ArchKind::Linear && self.width == 0 {
            return Err(bad("width", "must be at least 1"));
        }
        if kind == ArchKind::Fc && self.depth == 0 {
            return Err(bad("depth", "must be at least 1"));
        }
        if let Some(w) = self.max_wall {
            if w.is_nan() || w <= 0.0 {
                return Err(bad("max_wall", format!("must be positive seconds, got {w}")));
            }
        }
        let arch =
            ArchSpec { kind, depth: self.depth, width: if kind == ArchKind::Linear { 1 } else { self.width }, act };
        let config = TrainConfig {
            arch,
            alpha: self.alpha,
            temperature: self.temperature,
            batch: self.batch,
            seed: self.seed,
            max_steps: self.max_steps,
            max_wall: self.max_wall,
            dtype,
            device,
            trajectory: true,
        };
        let (test_size, test_seed) = test
            .unwrap_or((self.test_size.unwrap_or(defaults::TEST_SIZE), self.test_seed.unwrap_or(defaults::TEST_SEED)));
        Ok(ResolvedRun { data, config, p: self.p, test_size, test_seed })
    }
}

impl ResolvedRun {
    /// Draws this run's data (loading the pool for image tasks).
    pub fn draw_data(&self, paths: &DataPaths) -> Result<RunData, crate::datasets::DataError> {
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
