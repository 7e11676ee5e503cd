//! How a `train` job executes: its parameters resolved, its data drawn (the dataset's pool decoded
//! once per process), the net trained (several compatible runs as batched replicas), and its
//! record stored. The kind itself is declared in `sgdnoise_core::stages::train`; [`TorchTrainer`] is
//! handed to every execution context of the processes that train.

use std::sync::{Arc, Mutex};

use crate::nn::{replicas, runtime, train};
use crate::resolve::Resolve;
use sgdnoise_core::datasets::prepared::PreparedPool;
use sgdnoise_core::datasets::{DataSpec, RunData};
use sgdnoise_core::job::Job;
use sgdnoise_core::outputs::{self, Stored, TrainRecord};
use sgdnoise_core::run::RunSpec;
use sgdnoise_core::stages::params::typed;
use sgdnoise_core::stages::{ExecContext, ExecOutput, StageError, Trainer};

/// Executes train jobs on libtorch: what `sgdnoise-torch` passes as the trainer of every
/// [`ExecContext`] it builds.
pub struct TorchTrainer;

impl Trainer for TorchTrainer {
    fn train_group(
        &self,
        ctx: &ExecContext,
        jobs: &[Job],
        on_done: &mut dyn FnMut(usize, Result<ExecOutput, StageError>),
    ) {
        execute_group(ctx, jobs, on_done)
    }
}

fn execute_group(ctx: &ExecContext, jobs: &[Job], on_done: &mut dyn FnMut(usize, Result<ExecOutput, StageError>)) {
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
        on_done(*i, train(&run.resolved.config, &run.data).map(|r| output_of(run, &r)).map_err(training_error));
    }
}

fn training_error(e: crate::nn::TrainError) -> StageError {
    StageError::Training(Box::new(e))
}

/// A train job made ready to run: its parameters resolved and its data drawn.
struct Prepared {
    spec: RunSpec,
    resolved: crate::resolve::ResolvedRun,
    data: RunData,
}

fn prepare(ctx: &ExecContext, job: &Job) -> Result<Prepared, StageError> {
    if let Some(planned) = &job.libtorch {
        let loaded = runtime::libtorch_version_full();
        if *planned != loaded {
            return Err(StageError::new(format!(
                "planned for libtorch {planned}, but this worker loaded {loaded} ({}): run sgdnoise with the LD_LIBRARY_PATH its workers use",
                runtime::loaded_libtorch_dir().map(|d| d.display().to_string()).unwrap_or_default()
            )));
        }
    }
    runtime::set_threads(job.threads);
    let device = runtime::parse_device(&job.device).map_err(|e| StageError::Failed(e.to_string()))?;
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
        PreparedPool::decode(&bytes).map_err(|e| StageError::BadObject { hash: hash.to_owned(), message: e.0 })?,
    );
    *last = Some((hash.to_owned(), Arc::clone(&pool)));
    Ok(pool)
}

/// The stored record (what the run computed) and the metrics (how long it took, where).
fn output_of(run: &Prepared, record: &sgdnoise_core::run::RunRecord) -> ExecOutput {
    let (stored, env) = crate::resolve::record_of(&run.spec, &run.resolved, &run.data, record);
    #[derive(serde::Serialize)]
    struct Metrics {
        #[serde(flatten)]
        timing: sgdnoise_core::run::Timing,
        #[serde(flatten)]
        env: crate::resolve::RunEnv,
    }
    let metrics = serde_json::to_value(Metrics { timing: record.clock(), env }).expect("metrics serialise");
    let mut out = ExecOutput { metrics, ..Default::default() };
    out.outputs.insert(TrainRecord::FILE.into(), outputs::encode(&stored));
    out
}
