//! One training run described by plain parameters: what `sgdnoise train` and the pipeline's
//! `train` stage both execute. The parameters are checked here (a clear error naming the
//! parameter) without libtorch, so the coordinator validates a pipeline without loading it; the
//! `sgdnoise-torch` crate's `resolve` turns a checked run into a training configuration.

use serde::{Deserialize, Serialize};

use crate::datasets::task::DataName;
use crate::datasets::DataSpec;
use crate::numbers::num;
use crate::run::{Activation, ArchKind, ArchSpec, Dtype};

/// The defaults of a run's parameters, written once: the train stage's serde defaults and the
/// flags of `sgdnoise train` both read them.
pub mod defaults {
    use crate::run::{Activation, ArchKind};

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

/// A [`RunSpec`] whose parameters hold: its data, architecture and test split, as types.
#[derive(Debug, Clone)]
pub struct CheckedRun {
    pub data: DataSpec,
    pub arch: ArchSpec,
    pub test_size: usize,
    pub test_seed: u64,
}

impl RunSpec {
    /// Checks every parameter; an error names the parameter. `test` is the split of an image
    /// task's dataset stage (size, seed), which overrides the run's own.
    pub fn check(&self, test: Option<(usize, u64)>) -> Result<CheckedRun, RunSpecError> {
        let data = DataSpec::of(self.data, self.chi, self.dim).map_err(|e| bad("data", e.to_string()))?;
        let (kind, act) = (self.arch, self.act);
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
        let (test_size, test_seed) = test
            .unwrap_or((self.test_size.unwrap_or(defaults::TEST_SIZE), self.test_seed.unwrap_or(defaults::TEST_SEED)));
        Ok(CheckedRun { data, arch, test_size, test_seed })
    }
}
