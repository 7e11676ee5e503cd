//! `dataset`: hash the raw files of an image task and store the pooled images with the fixed test
//! split as one object, so every `train` instance reads the same split and provenance reaches the
//! raw files' sha256.

use serde::{Deserialize, Serialize};

use super::kind::{ExecContext, ExecOutput, StageError, StageKind};
use super::params::{num, typed, CheckError, Params, Schema, Typed};
use crate::datasets::prepared::PreparedPool;
use crate::datasets::task::DataName;
use crate::datasets::{sources, DataPaths, DataSpec, Pool};
use crate::job::Job;

pub struct Dataset;

/// The dataset stage's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetParams {
    /// mnist-parity, fashion-parity or cifar-animals.
    pub data: DataName,
    /// Test points drawn from the pooled images.
    #[serde(default = "paper_test_size", deserialize_with = "num::int")]
    pub test_size: usize,
    /// Seed of the test split.
    #[serde(default, deserialize_with = "num::int")]
    pub test_seed: u64,
}

fn paper_test_size() -> usize {
    crate::run::defaults::TEST_SIZE
}

static SCHEMA: Typed<DatasetParams> = Typed::new();

fn spec(params: &Params) -> Result<(DatasetParams, DataSpec), CheckError> {
    let p: DatasetParams = typed(params)?;
    if !p.data.is_image() {
        return Err(CheckError::param("data", "depleted data is synthetic: it needs no dataset stage"));
    }
    let spec = DataSpec::of(p.data, None, None).map_err(|e| CheckError::param("data", e.to_string()))?;
    Ok((p, spec))
}

impl StageKind for Dataset {
    fn name(&self) -> &'static str {
        "dataset"
    }

    fn version(&self) -> u32 {
        1
    }

    fn params(&self) -> &'static dyn Schema {
        &SCHEMA
    }

    fn rederivable(&self) -> bool {
        true
    }

    fn cost_features(&self) -> &'static [&'static str] {
        &["test_size"]
    }

    fn check(&self, params: &Params, _upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        if spec(params)?.0.test_size < 1 {
            return Err(CheckError::param("test_size", "must be at least 1"));
        }
        Ok(())
    }

    fn external_files(&self, params: &Params, data: &DataPaths) -> Result<Vec<std::path::PathBuf>, StageError> {
        let (_, spec) = spec(params)?;
        let files = match spec {
            DataSpec::MnistParity => sources::MNIST_FILES.iter().map(|(n, _)| data.mnist.join(n)).collect(),
            DataSpec::FashionParity => sources::FASHION_FILES
                .iter()
                .map(|n| sources::fashion_file(&data.fashion, n))
                .collect::<Result<_, _>>()?,
            DataSpec::CifarAnimals => crate::datasets::cifar::FILES.iter().map(|n| data.cifar.join(n)).collect(),
            DataSpec::Depleted { .. } => Vec::new(),
        };
        for f in &files {
            if !f.exists() {
                // The loader's message says how to get the data.
                return Err(match Pool::load(&spec, data).err() {
                    Some(e) => e.into(),
                    None => StageError::new(format!("{} is missing", f.display())),
                });
            }
        }
        Ok(files)
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let (p, spec) = spec(&job.params)?;
        let pool = Pool::load(&spec, &ctx.data)?;
        let prepared = PreparedPool::new(pool, p.test_size, p.test_seed)?;
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
