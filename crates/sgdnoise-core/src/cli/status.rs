//! `sgdnoise status PIPELINE [TARGET…]`: where each stage stands, read from the cache alone:
//! done, to run (with the reasons), failed (with the errors), on Slurm, and whether a `run` holds
//! the cache now. It never runs anything and opens a read-only cache too.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::cache;
use crate::engine::plan::{Planner, Status};
use crate::engine::reason::RerunReason;

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The pipeline file.
    pipeline: PathBuf,
    #[command(flatten)]
    variant: cache::Variant,
    /// Only these stages, globs or instance ids, and what they need (default: everything).
    targets: Vec<String>,
    /// The cache folder (default: $SGDNOISE_CACHE or ./cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// The device class the training keys are for: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Print one JSON object: the stages with their counts, reasons and errors.
    #[arg(long)]
    json: bool,
}

/// Failed instances listed per stage before "… and N more".
const FAILED_SHOWN: usize = 5;

/// One stage's standing.
#[derive(Debug, Default, Serialize)]
struct StageStatus {
    stage: String,
    kind: String,
    done: usize,
    to_run: usize,
    failed: usize,
    /// Instances whose keys a Slurm job of this cache still queues or runs.
    on_slurm: usize,
    /// Why the instances to run will run (failures left out), with how many.
    reasons: BTreeMap<String, usize>,
    /// The failed instances with the first line of their error.
    errors: Vec<(String, String)>,
}

#[derive(Debug, Serialize)]
struct PipelineStatus {
    pipeline: String,
    /// The pipeline file, as given.
    file: String,
    /// The process that holds the cache now (a `run` or `gc`), if any.
    running: Option<String>,
    stages: Vec<StageStatus>,
}

/// What a reason is, without the instance's particulars, to count alike reasons together.
fn reason_label(reason: &RerunReason) -> String {
    let text = reason.to_string();
    match reason {
        RerunReason::ParamChanged { name, .. } => format!("param {name} changed"),
        _ => text,
    }
}

pub(crate) fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let pipeline = cache::load_targets(&args.pipeline, &args.targets, &args.variant)?;
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let running = crate::engine::lock::holder(&cache_dir);
    let (store, db) = cache::open_read(&cache_dir)?;
    let (env, _) = cache::plan_env(&args.device)?;
    let planner = Planner::new(&pipeline, &db, &store, env)?;
    let plan = planner.plan();
    let live = crate::engine::executor::slurm::batches(&store).map(|b| b.live_keys).unwrap_or_default();
    let mut stages = Vec::new();
    for &si in &pipeline.order {
        let stage = &pipeline.stages[si];
        let mut st =
            StageStatus { stage: stage.name.clone(), kind: stage.kind.name().to_owned(), ..Default::default() };
        for p in &plan[si] {
            if p.key.as_ref().is_some_and(|k| live.contains(k)) {
                st.on_slurm += 1;
            }
            if p.status == Status::Fresh {
                st.done += 1;
                continue;
            }
            let failure = p.reasons.iter().find_map(|r| match r {
                RerunReason::PreviousFailed { error } => Some(error.clone()),
                _ => None,
            });
            match failure {
                Some(error) => {
                    st.failed += 1;
                    st.errors.push((stage.instances[p.index].id.clone(), error));
                }
                None => {
                    st.to_run += 1;
                    let label = p.reasons.first().map(reason_label).unwrap_or_else(|| "not keyed yet".into());
                    *st.reasons.entry(label).or_default() += 1;
                }
            }
        }
        stages.push(st);
    }
    let status =
        PipelineStatus { pipeline: pipeline.name.clone(), file: args.pipeline.display().to_string(), running, stages };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print(&status);
    }
    Ok(ExitCode::SUCCESS)
}

fn print(status: &PipelineStatus) {
    let total = |f: fn(&StageStatus) -> usize| status.stages.iter().map(f).sum::<usize>();
    for st in &status.stages {
        let slurm = if st.on_slurm > 0 { format!(", {} on Slurm", st.on_slurm) } else { String::new() };
        println!(
            "{:>12} {} ({}): {} done, {} to run, {} failed{slurm}",
            "Stage", st.stage, st.kind, st.done, st.to_run, st.failed
        );
        for (reason, n) in &st.reasons {
            println!("{:>12} {n} to run: {reason}", "");
        }
        for (id, error) in st.errors.iter().take(FAILED_SHOWN) {
            println!("{:>12} {id}: {error}", "Failed");
        }
        if st.errors.len() > FAILED_SHOWN {
            println!("{:>12} … and {} more", "", st.errors.len() - FAILED_SHOWN);
        }
    }
    let (done, to_run, failed) = (total(|s| s.done), total(|s| s.to_run), total(|s| s.failed));
    println!(
        "{:>12} {}: {} instances, {done} done, {to_run} to run, {failed} failed",
        "Status",
        status.pipeline,
        done + to_run + failed
    );
    match &status.running {
        Some(holder) => println!("{:>12} the cache is held now by {holder} (a run, or gc)", "Running"),
        None if to_run + failed > 0 => {
            println!("{:>12} nothing is running: `sgdnoise run {}` goes on", "Idle", status.file)
        }
        None => {}
    }
}
