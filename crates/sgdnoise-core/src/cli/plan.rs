//! `sgdnoise plan PIPELINE [--explain]`: a dry run: which instances are fresh, which will run
//! and why. Nothing is executed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::cache;
use crate::engine::estimate::{CostModels, Unestimated};
use crate::engine::plan::{Planner, Status};

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// The pipeline file.
    pipeline: PathBuf,
    #[command(flatten)]
    variant: cache::Variant,
    /// Plan only these stages, globs or instance ids, and what they need (default: everything).
    targets: Vec<String>,
    /// Plan as `run --partial` would: training runs not done stay pending.
    #[arg(long)]
    partial: bool,
    /// Worker slots the wall-time estimate assumes (default: the cores available).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Say why each instance runs.
    #[arg(long)]
    explain: bool,
    /// Print a JSON list of instances.
    #[arg(long)]
    json: bool,
    /// The device class the training keys are for: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// The cache folder (default: $SGDNOISE_CACHE or ./cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Also say which instances to run a shared remote holds (file:///path or s3://bucket/prefix;
    /// default SGDNOISE_REMOTE): `run --remote` fetches those instead. Only reads the remote.
    #[arg(long)]
    remote: Option<String>,
}

pub(crate) fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let pipeline = cache::load_targets(&args.pipeline, &args.targets, &args.variant)?;
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let (store, db) = cache::open_read(&cache_dir)?;
    let (env, _) = cache::plan_env(&args.device)?;
    let mut planner = Planner::new(&pipeline, &db, &store, env)?;
    planner.partial = args.partial;
    let plan = planner.plan();
    let on_remote: std::collections::BTreeSet<String> = match crate::remote::client::remote_url(args.remote.as_deref())
    {
        None => Default::default(),
        Some(url) => {
            let remote = crate::remote::Remote::open(&url).map_err(|e| super::InvalidInput(e.to_string()))?;
            let mut held = std::collections::BTreeSet::new();
            for key in plan.iter().flatten().filter(|p| p.status == Status::Run).filter_map(|p| p.key.as_ref()) {
                if remote.get_record(key)?.is_some() {
                    held.insert(key.clone());
                }
            }
            let keyed = plan.iter().flatten().filter(|p| p.status == Status::Run && p.key.is_some()).count();
            eprintln!(
                "{:>12} {url} holds {} of the {keyed} instance(s) to run whose keys are known (`run --remote` fetches them; what is above them is keyed once they are here)",
                "Remote",
                held.len()
            );
            held
        }
    };
    // The cost models read every recorded execution: fitted only when something will run.
    let to_run = plan.iter().flatten().any(|p| p.status == Status::Run);
    let models = if to_run { CostModels::fit(&db.durations()?) } else { CostModels::fit(&[]) };
    if args.json {
        let mut items = planner.to_json(&plan);
        for item in items.as_array_mut().into_iter().flatten() {
            if item["key"].as_str().is_some_and(|k| on_remote.contains(k)) {
                item["on_remote"] = Value::Bool(true);
            }
            if item["status"] != "run" {
                item["estimate_s"] = Value::Null;
                continue;
            }
            let kind = item["kind"].as_str().unwrap_or("").to_owned();
            match models.predict(&kind, &item["params"]) {
                Ok(s) => {
                    item["estimate_s"] = serde_json::json!(s);
                    if let Some(beyond) = models.extrapolation(&kind, &item["params"]) {
                        let (lo, hi) = models.spread(&kind, &item["params"]).unwrap_or((1.0, 1.0));
                        item["estimate_extrapolated"] = serde_json::json!(beyond);
                        item["estimate_s_range"] = serde_json::json!([s * lo.min(1.0), s * hi.max(1.0)]);
                    }
                }
                Err(why) => {
                    item["estimate_s"] = Value::Null;
                    item["estimate_missing"] = serde_json::json!(missing_text(&why));
                }
            }
        }
        println!("{}", serde_json::to_string_pretty(&items)?);
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
        let reused = plan[si].iter().filter(|p| p.reuse.is_some()).count();
        fresh_total += fresh;
        run_total += run;
        pending_total += pending;
        println!(
            "{:>12} {} ({}): {} fresh{}, {} to run{}",
            "Stage",
            stage.name,
            stage.kind.name(),
            fresh,
            if reused > 0 { format!(" ({reused} by runs that ended within other limits)") } else { String::new() },
            run,
            pending_text(pending)
        );
        if args.explain {
            for p in &plan[si] {
                if let Some(reuse) = &p.reuse {
                    println!("{:>12} {}: {}", "Reuse", stage.instances[p.index].id, reuse.why);
                }
            }
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
        print_estimate(&pipeline, &plan, &models, args.jobs.unwrap_or_else(crate::host::cores).max(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Compute time of the instances to run, from cost models fitted to this cache's records
/// ([`CostModels`]), in core-hours and as wall time at `jobs` workers.
fn print_estimate(
    pipeline: &crate::pipeline::Pipeline,
    plan: &[Vec<crate::engine::plan::PlannedInstance>],
    models: &CostModels,
    jobs: usize,
) {
    let mut seconds = 0.0;
    let mut longest: f64 = 0.0;
    // Instances priced outside their model's records: how many, their price as a range (the
    // model's 10–90% actual/predicted spread, at least the point), and the first reason.
    let (mut beyond, mut beyond_lo, mut beyond_hi, mut beyond_s, mut beyond_why) = (0, 0.0, 0.0, 0.0, None);
    // Not estimated: (kind arch, why) → count.
    let mut unknown = std::collections::BTreeMap::<(String, String), usize>::new();
    for &si in &pipeline.order {
        let stage = &pipeline.stages[si];
        for p in plan[si].iter().filter(|p| p.status == Status::Run) {
            let params = &stage.instances[p.index].params;
            let value = serde_json::to_value(params).unwrap_or_default();
            match models.predict(stage.kind.name(), &value) {
                Ok(s) => {
                    seconds += s * stage.weight as f64;
                    longest = longest.max(s);
                    if let Some(why) = models.extrapolation(stage.kind.name(), &value) {
                        let (lo, hi) = models.spread(stage.kind.name(), &value).unwrap_or((1.0, 1.0));
                        let w = stage.weight as f64;
                        beyond += 1;
                        beyond_s += s * w;
                        beyond_lo += s * w * lo.min(1.0);
                        beyond_hi += s * w * hi.max(1.0);
                        beyond_why.get_or_insert(why);
                    }
                }
                Err(why) => {
                    let (kind, arch) = crate::engine::estimate::group_of(stage.kind.name(), &value);
                    let what = if arch.is_empty() { kind } else { format!("{kind} {arch}") };
                    *unknown.entry((what, missing_text(&why))).or_default() += 1;
                }
            }
        }
    }
    let basis: Vec<String> = models
        .models()
        .iter()
        .filter(|((k, _), _)| k == "train")
        .map(|((_, a), m)| {
            let law = if m.features.is_empty() {
                "mean".to_owned()
            } else {
                format!("log-linear in {}", m.features.join(", "))
            };
            format!(
                "train {a}: {law} over {} runs, actual/predicted median {:.2} (10–90% {:.2}–{:.2})",
                m.records, m.ratio.0, m.ratio.1, m.ratio.2
            )
        })
        .collect();
    let wall = |s: f64| crate::engine::progress::human((s / jobs as f64).max(longest));
    if beyond == 0 {
        println!("{:>12} {:.2} core-hours; {} wall at -j {jobs}", "Estimate", seconds / 3600.0, wall(seconds));
    } else {
        let (lo, hi) = (seconds - beyond_s + beyond_lo, seconds - beyond_s + beyond_hi);
        println!(
            "{:>12} {:.2}–{:.2} core-hours; {}–{} wall at -j {jobs}: extrapolated",
            "Estimate",
            lo / 3600.0,
            hi / 3600.0,
            wall(lo),
            wall(hi)
        );
        println!(
            "{:>12} {beyond} instance(s) priced outside the recorded range, e.g. {}: their cost is the fitted slope carried beyond the records, shown with the model's 10–90% spread",
            "",
            beyond_why.unwrap_or_default()
        );
    }
    if basis.is_empty() {
        println!("{:>12} no recorded runs in this cache yet", "");
    }
    for b in basis {
        println!("{:>12} {b}", "");
    }
    for ((what, why), n) in &unknown {
        println!("{:>12} not counted: {n} {what} ({why})", "");
    }
}

/// Why an instance has no estimate, for `plan`'s output.
fn missing_text(why: &Unestimated) -> String {
    match why {
        Unestimated::NoRecords => "no recorded runs of their kind".to_owned(),
        Unestimated::Unseen { feature, value, seen } => {
            format!(
                "{feature} = {value}: the recorded runs all have {feature} = {seen}, so their cost in it is unknown"
            )
        }
        Unestimated::UnseenTogether { a, a_value, b, b_value } => format!(
            "{a} = {a_value} with {b} = {b_value}: no recorded run near both, and the model has no term for how they interact"
        ),
    }
}
