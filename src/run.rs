//! One training run described by plain parameters: what `sgdnoise train` and the pipeline's
//! `train` stage both execute. Parameters resolve to a typed configuration (or a clear error
//! naming the parameter), the data is drawn, the net trained, and the record returned with the
//! parameters and the environment it ran in.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tch::Device;

use crate::datasets::{DataPaths, DataSpec, Pool, RunData};
use crate::nn::{runtime, Activation, ArchKind, ArchSpec, Dtype, RunRecord, TrainConfig};

/// The parameters of one run, as a user writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    pub data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chi: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    pub arch: String,
    pub depth: usize,
    pub width: usize,
    pub act: String,
    pub alpha: f64,
    #[serde(rename = "P")]
    pub p: usize,
    #[serde(rename = "T")]
    pub temperature: f64,
    pub batch: usize,
    pub seed: u64,
    pub test_size: usize,
    pub test_seed: u64,
    pub max_steps: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wall: Option<f64>,
    pub dtype: String,
}

impl Default for RunSpec {
    /// The paper's kernel-regime FC run on MNIST parity, at P = 1024 and T = 2^-6.
    fn default() -> Self {
        RunSpec {
            data: "mnist-parity".into(),
            chi: None,
            dim: None,
            arch: "fc".into(),
            depth: 5,
            width: 128,
            act: "relu".into(),
            alpha: 32768.0,
            p: 1024,
            temperature: 0.015625,
            batch: 16,
            seed: 0,
            test_size: 32768,
            test_seed: 0,
            max_steps: 1_000_000,
            max_wall: None,
            dtype: "f32".into(),
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
    pub fn resolve(&self, device: Device) -> Result<ResolvedRun, RunSpecError> {
        let data = DataSpec::parse(&self.data, self.chi, self.dim).map_err(|e| bad("data", e.to_string()))?;
        let kind = ArchKind::parse(&self.arch)
            .ok_or_else(|| bad("arch", format!("unknown `{}` (expected linear, fc or mnas)", self.arch)))?;
        let act = Activation::parse(&self.act)
            .ok_or_else(|| bad("act", format!("unknown `{}` (expected relu or gelu)", self.act)))?;
        let dtype = Dtype::parse(&self.dtype)
            .ok_or_else(|| bad("dtype", format!("unknown `{}` (expected f32 or f64)", self.dtype)))?;
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
        Ok(ResolvedRun { data, config, p: self.p, test_size: self.test_size, test_seed: self.test_seed })
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

/// The record of a run with its parameters and environment, as printed and stored.
pub fn record_json(spec: &RunSpec, run: &ResolvedRun, data: &RunData, record: &RunRecord) -> Value {
    let mut out = Map::new();
    if let Value::Object(params) = serde_json::to_value(spec).expect("spec serialises") {
        out.extend(params);
    }
    if let Value::Object(rec) = serde_json::to_value(record).expect("record serialises") {
        out.extend(rec);
    }
    out.insert("h".into(), json!(run.config.arch.h()));
    out.insert("device".into(), json!(runtime::device_name(run.config.device)));
    out.insert("libtorch_version".into(), json!(runtime::libtorch_version_full()));
    out.insert("threads".into(), json!(runtime::threads()));
    out.insert("sgdnoise_version".into(), json!(env!("CARGO_PKG_VERSION")));
    out.insert(
        "data_sources".into(),
        json!(data
            .sources
            .iter()
            .map(|(p, h)| json!({"file": p.display().to_string(), "sha256": h}))
            .collect::<Vec<_>>()),
    );
    Value::Object(out)
}
