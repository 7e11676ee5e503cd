//! `sgdnoise plan PIPELINE [--explain]`: a dry run: which instances are fresh, which will run
//! and why. Nothing is executed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::cache;
use crate::engine::plan::{Planner, Status};

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    pipeline: PathBuf,
    /// Plan only these stages, globs or instance ids, and what they need (default: everything).
    targets: Vec<String>,
    /// Plan as `run --partial` would: training runs not done stay pending.
    #[arg(long)]
    partial: bool,
    /// Say why each instance runs.
    #[arg(long)]
    explain: bool,
    /// Print a JSON list of instances.
    #[arg(long)]
    json: bool,
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub(crate) fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let pipeline = cache::load_targets(&args.pipeline, &args.targets)?;
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let (store, db) = cache::open(&cache_dir)?;
    let (env, _) = cache::plan_env(&args.device)?;
    let mut planner = Planner::new(&pipeline, &db, &store, env)?;
    planner.partial = args.partial;
    let plan = planner.plan();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&planner.to_json(&plan))?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut fresh_total = 0;
    let mut run_total = 0;
    let mut pending_total = 0;
    let pending_text = |n: usize| if n > 0 { format!(", {n} pending") } else { String::new() };
    for &si in &pipeline.order {
        let stage = &pipeline.stages[si];
        let count = |status: Status| plan[si].iter().filter(|p| p.status == status).count();
        let (fresh, run, pending) = (count(Status::Fresh), count(Status::Run), count(Status::Pending));
        fresh_total += fresh;
        run_total += run;
        pending_total += pending;
        println!(
            "{:>12} {} ({}): {} fresh, {} to run{}",
            "Stage",
            stage.name,
            stage.kind.name(),
            fresh,
            run,
            pending_text(pending)
        );
        if args.explain {
            for p in plan[si].iter().filter(|p| p.status == Status::Run) {
                let reasons: Vec<String> = p.reasons.iter().map(ToString::to_string).collect();
                println!("{:>12} {}: {}", "Run", stage.instances[p.index].id, reasons.join("; "));
            }
        }
    }
    println!(
        "{:>12} {}: {} instances, {} fresh, {} to run{}",
        "Plan",
        pipeline.name,
        fresh_total + run_total + pending_total,
        fresh_total,
        run_total,
        pending_text(pending_total)
    );
    if run_total > 0 {
        print_estimate(&pipeline, &plan, &db)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Compute time of the instances to run, at this cache's recorded mean durations per stage kind
/// and architecture: a lower bound when the runs are larger than those recorded.
fn print_estimate(
    pipeline: &crate::pipeline::Pipeline,
    plan: &[Vec<crate::engine::plan::PlannedInstance>],
    db: &crate::provenance::Db,
) -> anyhow::Result<()> {
    let means = db.mean_durations_by_arch()?;
    let mut seconds = 0.0;
    let mut unknown = std::collections::BTreeMap::<String, usize>::new();
    for &si in &pipeline.order {
        let stage = &pipeline.stages[si];
        for p in plan[si].iter().filter(|p| p.status == Status::Run) {
            let arch = stage.instances[p.index].params.get("arch").and_then(|v| v.as_str()).unwrap_or("").to_owned();
            match means.get(&(stage.kind.name().to_owned(), arch.clone())) {
                Some((m, _)) => seconds += m,
                None => {
                    let what = if arch.is_empty() {
                        stage.kind.name().to_owned()
                    } else {
                        format!("{} {arch}", stage.kind.name())
                    };
                    *unknown.entry(what).or_default() += 1;
                }
            }
        }
    }
    let basis: Vec<String> = means
        .iter()
        .filter(|((k, _), _)| k == "train")
        .map(|((_, a), (m, n))| format!("train {a}: {m:.2} s over {n} runs"))
        .collect();
    println!(
        "{:>12} ~{:.2} h of compute at this cache's recorded means ({}); a lower bound when the runs are larger",
        "Estimate",
        seconds / 3600.0,
        if basis.is_empty() { "none recorded yet".to_owned() } else { basis.join(", ") }
    );
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!("{:>12} not counted (no recorded duration): {}", "", list.join(", "));
    }
    Ok(())
}
