//! `train`: one training run (the same library function as `sgdnoise train`), in its own process.
//! The stored `record.json` holds only what the run computed (deterministic for a given libtorch,
//! device and thread count); wall time and rates go to provenance as metrics.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::params::{CheckError, DefaultValue, ParamDef, ParamType, Params};
use super::registry::{param_f64, param_i64, param_str, ExecContext, ExecOutput, Job, StageError, StageKind};
use crate::datasets::prepared::PreparedPool;
use crate::datasets::{DataSpec, RunData};
use crate::nn::{replicas, runtime, train};
use crate::run::RunSpec;

pub struct Train;

const PARAMS: &[ParamDef] = &[
    ParamDef::keyed(
        "data",
        ParamType::Str,
        DefaultValue::Required,
        "mnist-parity, fashion-parity, cifar-animals or depleted",
    ),
    ParamDef::keyed("chi", ParamType::Float, DefaultValue::None, "χ of the depleted data"),
    ParamDef::keyed("dim", ParamType::Int, DefaultValue::None, "d of the depleted data"),
    ParamDef::keyed("arch", ParamType::Str, DefaultValue::Str("fc"), "linear, fc or mnas"),
    ParamDef::keyed("depth", ParamType::Int, DefaultValue::Int(5), "hidden layers (fc)"),
    ParamDef::keyed("width", ParamType::Int, DefaultValue::Int(128), "width h (fc, mnas)"),
    ParamDef::keyed("act", ParamType::Str, DefaultValue::Str("relu"), "relu or gelu"),
    ParamDef::keyed("alpha", ParamType::Float, DefaultValue::Required, "output scale α"),
    ParamDef::keyed("P", ParamType::Int, DefaultValue::Required, "training points"),
    ParamDef::keyed("T", ParamType::Float, DefaultValue::Required, "temperature dt/(h·B)"),
    ParamDef::keyed("batch", ParamType::Int, DefaultValue::Required, "batch size B"),
    ParamDef::keyed("seed", ParamType::Int, DefaultValue::Int(0), "training set, initialisation and batches"),
    ParamDef::keyed(
        "test_size",
        ParamType::Int,
        DefaultValue::None,
        "test points of depleted data (image tasks: from the dataset stage)",
    ),
    ParamDef::keyed(
        "test_seed",
        ParamType::Int,
        DefaultValue::None,
        "test seed of depleted data (image tasks: from the dataset stage)",
    ),
    ParamDef::keyed("max_steps", ParamType::Int, DefaultValue::Int(1_000_000), "step limit"),
    ParamDef::keyed("max_wall", ParamType::Float, DefaultValue::None, "wall-clock limit in seconds"),
    ParamDef::keyed("dtype", ParamType::Str, DefaultValue::Str("f32"), "f32 or f64"),
];

/// The run's parameters as a [`RunSpec`]; for image tasks the test split comes from `pool`.
fn run_spec(p: &Params, test: Option<(usize, u64)>) -> RunSpec {
    let (test_size, test_seed) = test.unwrap_or((
        param_i64(p, "test_size").unwrap_or(32768) as usize,
        param_i64(p, "test_seed").unwrap_or(0) as u64,
    ));
    RunSpec {
        data: param_str(p, "data").unwrap_or_default().to_owned(),
        chi: param_f64(p, "chi"),
        dim: param_i64(p, "dim").map(|d| d as usize),
        arch: param_str(p, "arch").unwrap_or("fc").to_owned(),
        depth: param_i64(p, "depth").unwrap_or(5) as usize,
        width: param_i64(p, "width").unwrap_or(128) as usize,
        act: param_str(p, "act").unwrap_or("relu").to_owned(),
        alpha: param_f64(p, "alpha").unwrap_or(f64::NAN),
        p: param_i64(p, "P").unwrap_or(0).max(0) as usize,
        temperature: param_f64(p, "T").unwrap_or(f64::NAN),
        batch: param_i64(p, "batch").unwrap_or(0).max(0) as usize,
        seed: param_i64(p, "seed").unwrap_or(0) as u64,
        test_size,
        test_seed,
        max_steps: param_i64(p, "max_steps").unwrap_or(1_000_000).max(0) as u64,
        max_wall: param_f64(p, "max_wall"),
        dtype: param_str(p, "dtype").unwrap_or("f32").to_owned(),
    }
}

impl StageKind for Train {
    fn name(&self) -> &'static str {
        "train"
    }

    fn version(&self) -> u32 {
        2
    }

    /// Per architecture since version 2: linear 3 (dot products in eight partial sums), mnas 3
    /// (bounded full-set passes), fc 2.
    fn version_of(&self, params: &Params) -> u32 {
        match param_str(params, "arch") {
            Some("linear") | Some("mnas") => 3,
            _ => self.version(),
        }
    }

    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }

    fn uses_torch(&self) -> bool {
        true
    }

    fn isolated(&self) -> bool {
        true
    }

    fn check(&self, params: &Params, upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        let spec = run_spec(params, None);
        let resolved = spec.resolve(tch::Device::Cpu).map_err(|e| CheckError::param(e.param, e.message))?;
        let datasets: Vec<&Params> = upstream.iter().filter(|(k, _)| *k == "dataset").map(|(_, p)| *p).collect();
        if resolved.data.is_image() {
            match datasets.as_slice() {
                [one] => {
                    if param_str(one, "data") != Some(resolved.data.name()) {
                        return Err(CheckError::param(
                            "data",
                            format!(
                                "is {} but the dataset stage it needs prepares {}",
                                resolved.data.name(),
                                param_str(one, "data").unwrap_or("?")
                            ),
                        ));
                    }
                    if params.get("test_size").is_some_and(|v| !v.is_null())
                        || params.get("test_seed").is_some_and(|v| !v.is_null())
                    {
                        return Err(CheckError::param("test_size", "image tasks take the test split from their dataset stage; set test_size and test_seed there"));
                    }
                }
                [] => {
                    return Err(CheckError::param(
                        "data",
                        format!(
                            "{} needs a dataset stage in `needs` (kind: dataset, params: {{ data: {} }})",
                            resolved.data.name(),
                            resolved.data.name()
                        ),
                    ))
                }
                _ => return Err(CheckError::needs("a train stage needs exactly one dataset instance")),
            }
        } else if !datasets.is_empty() {
            return Err(CheckError::param("data", "depleted data is synthetic and needs no dataset stage"));
        }
        Ok(())
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let run = prepare(ctx, job)?;
        let record = train(&run.resolved.config, &run.data).map_err(|e| StageError(e.to_string()))?;
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
                    on_done(*i, Err(StageError(e.to_string())));
                }
            }
            return;
        }
        for (i, run) in &ready {
            on_done(
                *i,
                train(&run.resolved.config, &run.data)
                    .map(|r| output_of(run, &r))
                    .map_err(|e| StageError(e.to_string())),
            );
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
    let device = runtime::parse_device(&job.device).map_err(StageError)?;
    let pool_input = job.inputs.iter().find(|i| i.kind == "dataset");
    let prepared = match pool_input {
        Some(input) => {
            let hash = input.outputs.get("pool.bin").ok_or_else(|| StageError::new("dataset input has no pool.bin"))?;
            Some(load_pool(ctx, hash)?)
        }
        None => None,
    };
    let spec = run_spec(&job.params, prepared.as_ref().map(|p| (p.test.len(), p.test_seed)));
    let resolved = spec.resolve(device).map_err(|e| StageError(e.to_string()))?;
    let data: RunData = match (&resolved.data, &prepared) {
        (DataSpec::Depleted { chi, dim }, _) => {
            RunData::depleted(*chi, *dim, resolved.p, resolved.test_size, resolved.config.seed, resolved.test_seed)
        }
        (_, Some(pool)) => pool.run_data(resolved.p, resolved.config.seed),
        (spec, None) => return Err(StageError(format!("{} needs a dataset input", spec.name()))),
    }
    .map_err(|e| StageError(e.to_string()))?;
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
    let bytes = ctx.store.get(hash).map_err(|e| StageError(e.to_string()))?;
    let pool = Arc::new(PreparedPool::decode(&bytes).map_err(|e| StageError(format!("object {hash}: {e}")))?);
    *last = Some((hash.to_owned(), Arc::clone(&pool)));
    Ok(pool)
}

/// The stored record (what the run computed) and the metrics (how long it took, where).
fn output_of(run: &Prepared, record: &crate::nn::RunRecord) -> ExecOutput {
    let mut full = crate::run::record_json(&run.spec, &run.resolved, &run.data, record);
    let obj = full.as_object_mut().expect("record is an object");
    let mut metrics = serde_json::Map::new();
    for timing in [
        "wall_s",
        "steps_per_s",
        "check_wall_s",
        "threads",
        "device",
        "libtorch_version",
        "sgdnoise_version",
        "data_sources",
    ] {
        if let Some(v) = obj.remove(timing) {
            metrics.insert(timing.to_owned(), v);
        }
    }
    // The raw files' hashes stay in the record (science), their paths do not (environment).
    obj.insert("data_sha256".into(), Value::Array(run.data.sources.iter().map(|(_, h)| json!(h)).collect()));
    let mut out = ExecOutput { metrics: Value::Object(metrics), ..Default::default() };
    out.outputs.insert("record.json".into(), serde_json::to_vec_pretty(&full).expect("serialise record"));
    out
}
