//! `sgdnoise results PIPELINE --stage NAME`: one row per instance of a stage, its parameters and
//! outputs, as CSV or JSON. Instances not yet run appear with status `missing`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{Map, Value};

use super::cache;
use crate::cli::InvalidInput;
use crate::engine::plan::{Planner, Status};
use crate::outputs::{decode, FitOutput, Stored, TrainRecord};

#[derive(Debug, Args)]
pub(crate) struct ResultsArgs {
    pipeline: PathBuf,
    #[arg(long)]
    stage: String,
    /// csv or json.
    #[arg(long, default_value = "csv")]
    format: String,
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub(crate) fn run(args: ResultsArgs) -> anyhow::Result<ExitCode> {
    if !matches!(args.format.as_str(), "csv" | "json") {
        return Err(InvalidInput(format!("--format: expected csv or json, got `{}`", args.format)).into());
    }
    let pipeline = cache::load_pipeline(&args.pipeline)?;
    let si = pipeline.stage(&args.stage).ok_or_else(|| {
        let names: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
        InvalidInput(format!(
            "--stage: no stage `{}` in {} (stages: {})",
            args.stage,
            args.pipeline.display(),
            names.join(", ")
        ))
    })?;
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let (store, db) = cache::open_read(&cache_dir)?;
    let (env, _) = cache::plan_env(&args.device)?;
    let planner = Planner::new(&pipeline, &db, &store, env)?;
    let plan = planner.plan();
    let stage = &pipeline.stages[si];
    let mut rows: Vec<Map<String, Value>> = Vec::new();
    for p in &plan[si] {
        let inst = &stage.instances[p.index];
        let mut row = Map::new();
        row.insert("instance".into(), Value::String(inst.id.clone()));
        row.insert("key".into(), p.key.clone().map(Value::String).unwrap_or(Value::Null));
        for (k, v) in &inst.params {
            row.insert(k.clone(), v.clone());
        }
        match (&p.status, &p.record) {
            (Status::Fresh, Some(rec)) => {
                for (name, hash) in &rec.outputs {
                    // A run's record and a fit's result become columns; other outputs, their hashes.
                    let fields = match name.as_str() {
                        TrainRecord::FILE => serde_json::to_value(decode::<TrainRecord>(hash, &store.get(hash)?)?)?,
                        FitOutput::FILE => serde_json::to_value(decode::<FitOutput>(hash, &store.get(hash)?)?)?,
                        _ => {
                            row.insert(name.clone(), Value::String(hash.clone()));
                            continue;
                        }
                    };
                    if let Value::Object(o) = fields {
                        for (k, v) in o {
                            row.entry(k).or_insert(v);
                        }
                    }
                }
            }
            _ => {
                row.insert("status".into(), Value::String("missing".into()));
            }
        }
        rows.push(row);
    }
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", crate::stages::collect::to_csv(&rows));
    }
    Ok(ExitCode::SUCCESS)
}
