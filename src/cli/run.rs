//! `sgdnoise run PIPELINE`: execute what is not fresh, record everything.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::cache;
use crate::engine::dispatcher::{self, RunOptions};
use crate::engine::executor::{self, Event, Executor, LocalPool};
use crate::engine::lock;
use crate::engine::plan::Planner;
use crate::engine::progress::human;
use crate::nn::runtime;

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The pipeline file.
    pipeline: PathBuf,
    /// Run only these stages, globs or instance ids, and what they need (default: everything).
    targets: Vec<String>,
    /// Leave training runs that are not done pending and compute the analyses and report over
    /// the runs that are (marked provisional, with k of n runs done).
    #[arg(long)]
    partial: bool,
    /// Worker slots (concurrent instances).
    #[arg(long, short = 'j', default_value_t = 1)]
    jobs: usize,
    /// auto, cpu, cuda or cuda:N (the device class enters keys; the index does not).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// libtorch intra-op threads per job (default: cores / jobs).
    #[arg(long)]
    threads: Option<usize>,
    /// Go on with independent instances after a failure.
    #[arg(long)]
    keep_going: bool,
    /// Print one JSON summary object.
    #[arg(long)]
    json: bool,
    /// The cache folder (default: $SGDNOISE_CACHE or ./cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Do not copy report outputs to reports/<pipeline name>/.
    #[arg(long)]
    no_export: bool,
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let pipeline = cache::load_targets(&args.pipeline, &args.targets)?;
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let _lock = lock::acquire(&cache_dir)?;
    let (store, mut db) = cache::open(&cache_dir)?;
    for stale in store.stale_tmp() {
        let _ = std::fs::remove_file(stale);
    }
    let (env, device) = cache::plan_env(&args.device)?;
    let mut planner = Planner::new(&pipeline, &db, &store, env)?;
    planner.partial = args.partial;
    let jobs = args.jobs.max(1);
    let opts = RunOptions {
        jobs,
        device,
        // A partial run reports what it can: one analysis failing for want of runs stops nothing.
        keep_going: args.keep_going || args.partial,
        threads: args.threads.unwrap_or_else(|| runtime::default_threads(jobs)),
        quiet: args.json,
        exe: std::env::current_exe()?,
        cache: std::fs::canonicalize(&cache_dir)?,
    };
    let (outbox, inbox) = executor::channel();
    let interrupt = outbox.clone();
    let _ = ctrlc::set_handler(move || {
        let _ = interrupt.send(Event::Interrupt);
    });
    let pool =
        LocalPool::start(jobs, opts.exe.clone(), opts.cache.clone(), store.clone(), planner.env.data.clone(), outbox);
    let executor: Box<dyn Executor> = Box::new(pool);
    let summary = dispatcher::run(&planner, &mut db, &opts, executor, inbox)?;
    // Put the reports where a person looks for them.
    let mut exported = Vec::new();
    if !args.no_export && (summary.failed == 0 || args.partial) && summary.cancelled == 0 {
        let reports: Vec<usize> =
            (0..pipeline.stages.len()).filter(|&i| pipeline.stages[i].kind.name() == "report").collect();
        if !reports.is_empty() {
            let mut planner = Planner::new(&pipeline, &db, &store, planner.env.clone())?;
            planner.partial = args.partial;
            let plan = planner.plan();
            for si in reports {
                let dir = super::export::default_dir(&pipeline);
                if super::export::export_stage(&pipeline, &store, &plan, si, &dir)? > 0 {
                    exported.push(dir.join("report.html"));
                }
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "{:>12} {}: {} executed, {} cached, {} failed{}{}{} in {}",
            if summary.failed + summary.cancelled > 0 { "Stopped" } else { "Finished" },
            pipeline.name,
            summary.executed,
            summary.cached,
            summary.failed,
            if summary.cancelled > 0 { format!(", {} cancelled", summary.cancelled) } else { String::new() },
            if summary.skipped > 0 { format!(", {} skipped", summary.skipped) } else { String::new() },
            if summary.pending > 0 { format!(", {} pending", summary.pending) } else { String::new() },
            human(summary.wall_s)
        );
        for path in &exported {
            eprintln!("{:>12} {}", "Report", path.display());
        }
        for o in summary.instances.iter().filter(|o| o.status == "failed") {
            eprintln!("{:>12} {}: {}", "error", o.id, o.error.as_deref().unwrap_or(""));
        }
    }
    Ok(if summary.cancelled > 0 {
        ExitCode::from(130)
    } else if summary.failed > 0 {
        ExitCode::from(super::EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}
