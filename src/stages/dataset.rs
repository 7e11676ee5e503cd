//! `dataset`: hash the raw files of an image task and store the pooled images with the fixed test
//! split as one object, so every `train` instance reads the same split and provenance reaches the
//! raw files' sha256.

use super::params::{CheckError, DefaultValue, ParamDef, ParamType, Params};
use super::registry::{param_i64, param_str, ExecContext, ExecOutput, Job, StageError, StageKind};
use crate::datasets::prepared::PreparedPool;
use crate::datasets::{sources, DataPaths, DataSpec, Pool};

pub struct Dataset;

const PARAMS: &[ParamDef] = &[
    ParamDef::keyed("data", ParamType::Str, DefaultValue::Required, "mnist-parity, fashion-parity or cifar-animals"),
    ParamDef::keyed("test_size", ParamType::Int, DefaultValue::Int(32768), "test points drawn from the pooled images"),
    ParamDef::keyed("test_seed", ParamType::Int, DefaultValue::Int(0), "seed of the test split"),
];

fn spec(params: &Params) -> Result<DataSpec, CheckError> {
    let name = param_str(params, "data").unwrap_or_default();
    if name == "depleted" {
        return Err(CheckError::param("data", "depleted data is synthetic: it needs no dataset stage"));
    }
    let spec = DataSpec::parse(name, None, None).map_err(|e| CheckError::param("data", e.to_string()))?;
    if !spec.is_image() {
        return Err(CheckError::param("data", "the dataset stage prepares image tasks; depleted data needs none"));
    }
    Ok(spec)
}

impl StageKind for Dataset {
    fn name(&self) -> &'static str {
        "dataset"
    }

    fn version(&self) -> u32 {
        1
    }

    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }

    fn check(&self, params: &Params, _upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        spec(params)?;
        if param_i64(params, "test_size").unwrap_or(0) < 1 {
            return Err(CheckError::param("test_size", "must be at least 1"));
        }
        Ok(())
    }

    fn external_files(&self, params: &Params, data: &DataPaths) -> Result<Vec<std::path::PathBuf>, StageError> {
        let spec = spec(params).map_err(|e| StageError(e.message))?;
        let files = match spec {
            DataSpec::MnistParity => sources::MNIST_FILES.iter().map(|(n, _)| data.mnist.join(n)).collect(),
            DataSpec::FashionParity => sources::FASHION_FILES
                .iter()
                .map(|n| sources::fashion_file(&data.fashion, n))
                .collect::<Result<_, _>>()
                .map_err(|e| StageError(e.to_string()))?,
            DataSpec::CifarAnimals => crate::datasets::cifar::FILES.iter().map(|n| data.cifar.join(n)).collect(),
            DataSpec::Depleted { .. } => Vec::new(),
        };
        for f in &files {
            if !f.exists() {
                // The loader's message says how to get the data.
                return Err(StageError(
                    Pool::load(&spec, data)
                        .err()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| format!("{} is missing", f.display())),
                ));
            }
        }
        Ok(files)
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let spec = spec(&job.params).map_err(|e| StageError(e.message))?;
        let pool = Pool::load(&spec, &ctx.data).map_err(|e| StageError(e.to_string()))?;
        let test_size = param_i64(&job.params, "test_size").unwrap_or(32768) as usize;
        let test_seed = param_i64(&job.params, "test_seed").unwrap_or(0) as u64;
        let prepared = PreparedPool::new(pool, test_size, test_seed).map_err(|e| StageError(e.to_string()))?;
        let metrics = serde_json::json!({
            "pool": prepared.pool.len(),
            "test": prepared.test.len(),
            "sources": prepared.pool.sources.iter().map(|(p, h)| serde_json::json!({"file": p.display().to_string(), "sha256": h})).collect::<Vec<_>>(),
        });
        let mut out = ExecOutput { metrics, ..Default::default() };
        out.outputs.insert("pool.bin".into(), prepared.encode());
        Ok(out)
    }
}
