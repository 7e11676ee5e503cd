//! `sgdnoise results PIPELINE --stage NAME`: one row per instance of a stage, its parameters and
//! outputs, as CSV or JSON. Instances not yet run appear with status `missing`.
//! A fit's row starts with its numbers as flat columns (`delta`, `delta_lo`, `delta_hi`, …, `r2`,
//! `window_T_lo`, …), then its stored output.
//! `sgdnoise results PIPELINE --claims`: the claims table of the pipeline's report, as the report
//! wrote it (`claims.csv` or `claims.json`).

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
    /// The pipeline file.
    pipeline: PathBuf,
    #[command(flatten)]
    variant: cache::Variant,
    /// The stage (with --claims: which report, when the pipeline has several).
    #[arg(long, required_unless_present = "claims")]
    stage: Option<String>,
    /// The claims table of the report instead: one row per claim quantity.
    #[arg(long)]
    claims: bool,
    /// csv or json.
    #[arg(long, default_value = "csv")]
    format: String,
    /// The device class the training keys are for: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// The cache folder (default: $SGDNOISE_CACHE or ./cache).
    #[arg(long)]
    cache: Option<PathBuf>,
}

/// A fit's numbers as flat columns, first in the row: each exponent with its interval and its
/// range over the admissible windows, R², the runs used, and each variable's window.
fn fit_columns(fit: &FitOutput, row: &mut Map<String, Value>) {
    let num = |v: f64| serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number);
    for (name, e) in &fit.fit.exponents {
        row.insert(name.clone(), num(e.value));
        row.insert(format!("{name}_lo"), num(e.ci_low));
        row.insert(format!("{name}_hi"), num(e.ci_high));
        if let Some((lo, hi)) = fit.systematic.get(name) {
            row.insert(format!("{name}_windows_lo"), num(*lo));
            row.insert(format!("{name}_windows_hi"), num(*hi));
        }
    }
    row.insert("r2".into(), num(fit.fit.r2));
    row.insert("runs_used".into(), Value::from(fit.runs_used));
    for p in &fit.profiles {
        let w = p.window.as_ref().and_then(|c| c.chosen.as_ref());
        row.insert(format!("window_{}_lo", p.variable), w.map_or(Value::Null, |w| num(w.low)));
        row.insert(format!("window_{}_hi", p.variable), w.map_or(Value::Null, |w| num(w.high)));
    }
}

pub(crate) fn run(args: ResultsArgs) -> anyhow::Result<ExitCode> {
    if !matches!(args.format.as_str(), "csv" | "json") {
        return Err(InvalidInput(format!("--format: expected csv or json, got `{}`", args.format)).into());
    }
    let pipeline = cache::load_pipeline(&args.pipeline, &args.variant)?;
    let stage_named = |name: &str| {
        pipeline.stage(name).ok_or_else(|| {
            let names: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
            InvalidInput(format!(
                "--stage: no stage `{name}` in {} (stages: {})",
                args.pipeline.display(),
                names.join(", ")
            ))
        })
    };
    let si = match (&args.stage, args.claims) {
        (Some(name), _) => stage_named(name)?,
        (None, _) => {
            let reports: Vec<usize> =
                (0..pipeline.stages.len()).filter(|&i| pipeline.stages[i].kind.name() == "report").collect();
            match reports[..] {
                [one] => one,
                [] => {
                    return Err(
                        InvalidInput(format!("--claims: {} has no report stage", args.pipeline.display())).into()
                    )
                }
                _ => {
                    let names: Vec<&str> = reports.iter().map(|&i| pipeline.stages[i].name.as_str()).collect();
                    return Err(InvalidInput(format!(
                        "--claims: several reports; name one with --stage ({})",
                        names.join(", ")
                    ))
                    .into());
                }
            }
        }
    };
    if args.claims && pipeline.stages[si].kind.name() != "report" {
        return Err(InvalidInput(format!("--claims: `{}` is not a report stage", pipeline.stages[si].name)).into());
    }
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let (store, db) = cache::open_read(&cache_dir)?;
    let (env, _) = cache::plan_env(&args.device)?;
    let planner = Planner::new(&pipeline, &db, &store, env)?;
    let plan = planner.plan();
    if args.claims {
        let file = if args.format == "json" { "claims.json" } else { "claims.csv" };
        let hash = plan[si].iter().find_map(|p| match (&p.status, &p.record) {
            (Status::Fresh, Some(rec)) => rec.outputs.get(file).cloned(),
            _ => None,
        });
        let Some(hash) = hash else {
            return Err(InvalidInput(format!(
                "--claims: the report `{}` has not run with this code (run `sgdnoise run {} {}` first)",
                pipeline.stages[si].name,
                args.pipeline.display(),
                pipeline.stages[si].name
            ))
            .into());
        };
        print!("{}", String::from_utf8_lossy(&store.get(&hash)?));
        return Ok(ExitCode::SUCCESS);
    }
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
                        FitOutput::FILE => {
                            let fit = decode::<FitOutput>(hash, &store.get(hash)?)?;
                            fit_columns(&fit, &mut row);
                            serde_json::to_value(fit)?
                        }
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
