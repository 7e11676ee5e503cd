//! `train`: one training run (the same library function as `sgdnoise train`), in its own process.
//! The stored `record.json` holds only what the run computed (deterministic for a given libtorch,
//! device and thread count); wall time and rates go to provenance as metrics.

use std::sync::{Arc, Mutex};

use super::dataset::DatasetParams;
use super::outputs::{self, Stored, TrainRecord};
use super::params::{typed, CheckError, Params, Schema, Typed};
use super::registry::{ExecContext, ExecOutput, Job, StageError, StageKind};
use crate::datasets::prepared::PreparedPool;
use crate::datasets::{DataSpec, RunData};
use crate::nn::{replicas, runtime, train, ArchKind};
use crate::run::RunSpec;

pub struct Train;

/// The train stage's parameters are a [`RunSpec`], the same struct `sgdnoise train` fills.
static SCHEMA: Typed<RunSpec> = Typed::new();

impl StageKind for Train {
    fn name(&self) -> &'static str {
        "train"
    }

    fn version(&self) -> u32 {
        2
    }

    /// Per architecture since version 2: linear 3 (dot products in eight partial sums), mnas 3
    /// (bounded full-set passes), fc 2.
    /// Called for every instance when planning: reads the one resolved field it needs.
    fn version_of(&self, params: &Params) -> u32 {
        match params.get("arch").and_then(serde_json::Value::as_str).and_then(ArchKind::parse) {
            Some(ArchKind::Linear | ArchKind::Mnas) => 3,
            _ => self.version(),
        }
    }

    fn params(&self) -> &'static dyn Schema {
        &SCHEMA
    }

    fn uses_torch(&self) -> bool {
        true
    }

    fn isolated(&self) -> bool {
        true
    }

    fn check(&self, params: &Params, upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        let spec: RunSpec = typed(params)?;
        spec.resolve(None, tch::Device::Cpu).map_err(|e| CheckError::param(e.param, e.message))?;
        let datasets: Vec<&Params> = upstream.iter().filter(|(k, _)| *k == "dataset").map(|(_, p)| *p).collect();
        if !spec.data.is_image() {
            if !datasets.is_empty() {
                return Err(CheckError::param("data", "depleted data is synthetic and needs no dataset stage"));
            }
            return Ok(());
        }
        let data = spec.data.name();
        match datasets.as_slice() {
            [one] => {
                let dataset: DatasetParams = typed(one)?;
                if dataset.data != spec.data {
                    return Err(CheckError::param(
                        "data",
                        format!("is {data} but the dataset stage it needs prepares {}", dataset.data),
                    ));
                }
                if spec.test_size.is_some() || spec.test_seed.is_some() {
                    return Err(CheckError::param(
                        "test_size",
                        "image tasks take the test split from their dataset stage; set test_size and test_seed there",
                    ));
                }
                Ok(())
            }
            [] => Err(CheckError::param(
                "data",
                format!("{data} needs a dataset stage in `needs` (kind: dataset, params: {{ data: {data} }})"),
            )),
            _ => Err(CheckError::needs("a train stage needs exactly one dataset instance")),
        }
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let run = prepare(ctx, job)?;
        let record = train(&run.resolved.config, &run.data)?;
        Ok(output_of(&run, &record))
    }

    fn group_key(&self, params: &Params) -> Option<String> {
        // Runs that differ only in these can be trained as replicas of one another.
        let mut p = params.clone();
        for free in ["seed", "T", "alpha", "max_steps", "max_wall"] {
            p.remove(free);
        }
        Some(crate::engine::key::canonical_json(&serde_json::to_value(&p).expect("params serialise")))
    }

    fn execute_group(
        &self,
        ctx: &ExecContext,
        jobs: &[Job],
        on_done: &mut dyn FnMut(usize, Result<ExecOutput, StageError>),
    ) {
        let mut ready = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            match prepare(ctx, job) {
                Ok(run) => ready.push((i, run)),
                Err(e) => on_done(i, Err(e)),
            }
        }
        let pairs: Vec<(crate::nn::TrainConfig, &RunData)> =
            ready.iter().map(|(_, r)| (r.resolved.config.clone(), &r.data)).collect();
        if ready.len() > 1 && replicas::incompatibility(&pairs).is_none() {
            let result = replicas::train_replicas(&pairs, &mut |k, record| {
                let (i, run) = &ready[k];
                on_done(*i, Ok(output_of(run, &record)));
            });
            if let Err(e) = result {
                for (i, _) in &ready {
                    on_done(*i, Err(StageError::new(e.to_string())));
                }
            }
            return;
        }
        for (i, run) in &ready {
            on_done(*i, train(&run.resolved.config, &run.data).map(|r| output_of(run, &r)).map_err(StageError::from));
        }
    }
}

/// A train job made ready to run: its parameters resolved and its data drawn.
struct Prepared {
    spec: RunSpec,
    resolved: crate::run::ResolvedRun,
    data: RunData,
}

fn prepare(ctx: &ExecContext, job: &Job) -> Result<Prepared, StageError> {
    runtime::set_threads(job.threads);
    let device = runtime::parse_device(&job.device).map_err(StageError::Failed)?;
    let pool_input = job.inputs.iter().find(|i| i.kind == "dataset");
    let prepared = match pool_input {
        Some(input) => {
            let hash = input.outputs.get("pool.bin").ok_or_else(|| StageError::new("dataset input has no pool.bin"))?;
            Some(load_pool(ctx, hash)?)
        }
        None => None,
    };
    let spec: RunSpec = typed(&job.params).map_err(|e| StageError::new(format!("{}: {e}", e.param)))?;
    let test = prepared.as_ref().map(|p| (p.test.len(), p.test_seed));
    let resolved = spec.resolve(test, device)?;
    let data: RunData = match (&resolved.data, &prepared) {
        (DataSpec::Depleted { chi, dim }, _) => {
            RunData::depleted(*chi, *dim, resolved.p, resolved.test_size, resolved.config.seed, resolved.test_seed)
        }
        (_, Some(pool)) => pool.run_data(resolved.p, resolved.config.seed),
        (spec, None) => return Err(StageError::new(format!("{} needs a dataset input", spec.name()))),
    }?;
    Ok(Prepared { spec, resolved, data })
}

/// The prepared pool of `hash`, decoded once per process: a worker trains run after run on the
/// same pool (55 MB for MNIST), and reading and decoding it again each time cost more than a
/// short training run.
fn load_pool(ctx: &ExecContext, hash: &str) -> Result<Arc<PreparedPool>, StageError> {
    static LAST: Mutex<Option<(String, Arc<PreparedPool>)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((h, pool)) = last.as_ref() {
        if h == hash {
            return Ok(Arc::clone(pool));
        }
    }
    let bytes = ctx.store.get(hash)?;
    let pool = Arc::new(
        PreparedPool::decode(&bytes).map_err(|message| StageError::BadObject { hash: hash.to_owned(), message })?,
    );
    *last = Some((hash.to_owned(), Arc::clone(&pool)));
    Ok(pool)
}

/// The stored record (what the run computed) and the metrics (how long it took, where).
fn output_of(run: &Prepared, record: &crate::nn::RunRecord) -> ExecOutput {
    let (stored, env) = crate::run::record_of(&run.spec, &run.resolved, &run.data, record);
    #[derive(serde::Serialize)]
    struct Metrics {
        #[serde(flatten)]
        timing: crate::nn::Timing,
        #[serde(flatten)]
        env: crate::run::RunEnv,
    }
    let metrics = serde_json::to_value(Metrics { timing: record.clock(), env }).expect("metrics serialise");
    let mut out = ExecOutput { metrics, ..Default::default() };
    out.outputs.insert(TrainRecord::FILE.into(), outputs::encode(&stored));
    out
}
