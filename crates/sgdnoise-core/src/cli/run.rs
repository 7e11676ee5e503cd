//! `sgdnoise run PIPELINE`: execute what is not fresh, record everything.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::cache;
use crate::cli::InvalidInput;
use crate::engine::dispatcher::{self, Outcome, RunOptions};
use crate::engine::executor::{self, Event, Executor, LocalPool, SlurmExecutor, SlurmSettings};
use crate::engine::lock;
use crate::engine::plan::Planner;
use crate::engine::progress::human;
use crate::host;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file.
    pipeline: PathBuf,
    #[command(flatten)]
    variant: cache::Variant,
    /// Run only these stages, globs or instance ids, and what they need (default: everything).
    targets: Vec<String>,
    /// Leave training runs that are not done pending and compute the analyses and report over
    /// the runs that are (marked provisional, with k of n runs done).
    #[arg(long)]
    partial: bool,
    /// Worker slots, i.e. instances at once (default: the cores available).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
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
    /// Print no progress: only errors and the closing summary line.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Colours of the progress on a terminal: auto (unless NO_COLOR is set, or CLICOLOR=0),
    /// always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Share results through a write-once remote: file:///path or s3://bucket/prefix (default:
    /// SGDNOISE_REMOTE). What it holds is fetched instead of run; what runs is pushed.
    #[arg(long)]
    remote: Option<String>,
    /// The cache folder (default: $SGDNOISE_CACHE or ./cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Do not copy report outputs to reports/<pipeline name>/.
    #[arg(long)]
    no_export: bool,
    /// local (this machine's cores) or slurm (job arrays; the cache must be on a filesystem
    /// the nodes share). Training goes to the executor; collect, fits and reports run here.
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
    executor: ExecutorKind,
    /// Slurm settings from a YAML profile (the keys of the --slurm flags); flags override it.
    #[arg(long, value_name = "FILE")]
    slurm_profile: Option<PathBuf>,
    #[command(flatten)]
    slurm: SlurmFlags,
    /// With --executor slurm: submit and return; a later `run` collects the results.
    #[arg(long, requires = "executor")]
    detach: bool,
}

/// `--color`: whether the progress on a terminal is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Where training runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExecutorKind {
    Local,
    Slurm,
}

/// Slurm settings on the command line (none enters a key).
#[derive(Debug, Args)]
struct SlurmFlags {
    /// Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// Slurm account.
    #[arg(long)]
    account: Option<String>,
    /// Time limit of each array task (sbatch --time).
    #[arg(long)]
    time_limit: Option<String>,
    /// Memory of each array task (sbatch --mem).
    #[arg(long)]
    mem: Option<String>,
    /// Generic resources of each array task, e.g. gpu:1.
    #[arg(long)]
    gres: Option<String>,
    /// CPUs of each array task.
    #[arg(long)]
    cpus_per_task: Option<usize>,
    /// Array tasks running at once (--array=…%K).
    #[arg(long)]
    max_concurrent: Option<usize>,
    /// Instances packed into one array task.
    #[arg(long)]
    pack: Option<usize>,
    /// Array tasks per submission when --pack is not given (default 10).
    #[arg(long)]
    max_tasks: Option<usize>,
    /// Resubmissions of an instance whose task failed, timed out or ran out of memory.
    #[arg(long)]
    retries: Option<usize>,
    /// Seconds a task may stay held, or pending on a drained or down node, before the run stops
    /// following it with advice (default 600).
    #[arg(long)]
    stuck_timeout: Option<u64>,
    /// A further sbatch option (repeatable).
    #[arg(long = "sbatch-arg", allow_hyphen_values = true)]
    sbatch_args: Vec<String>,
}

impl SlurmFlags {
    fn settings(&self) -> SlurmSettings {
        SlurmSettings {
            partition: self.partition.clone(),
            account: self.account.clone(),
            time: self.time_limit.clone(),
            mem: self.mem.clone(),
            gres: self.gres.clone(),
            cpus_per_task: self.cpus_per_task,
            max_concurrent: self.max_concurrent,
            pack: self.pack,
            max_tasks: self.max_tasks,
            retries: self.retries,
            stuck_timeout: self.stuck_timeout,
            sbatch_args: self.sbatch_args.clone(),
        }
    }
}

/// The profile file's settings, with the flags over them.
fn slurm_settings(args: &RunArgs) -> anyhow::Result<SlurmSettings> {
    let profile = match &args.slurm_profile {
        None => SlurmSettings::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let located = |e: crate::pipeline::located::LocatedError| {
                let at = if e.path.is_empty() { String::new() } else { format!("{}: ", e.path) };
                InvalidInput(format!("{}:{}:{}: {at}{}", path.display(), e.pos.line, e.pos.col, e.message))
            };
            match crate::pipeline::located::parse(&text).map_err(located)? {
                None => SlurmSettings::default(),
                Some(node) => node.deserialize::<SlurmSettings>().map_err(located)?,
            }
        }
    };
    Ok(profile.overridden_by(args.slurm.settings()))
}

pub fn run(args: RunArgs, source: &crate::host::Source) -> anyhow::Result<ExitCode> {
    match args.color {
        // The terminal library's own rule: a terminal, and neither NO_COLOR nor CLICOLOR=0.
        ColorChoice::Auto => {}
        ColorChoice::Always | ColorChoice::Never => {
            // The progress styles decide by the stdout switch, the bars draw on stderr: set both.
            let on = args.color == ColorChoice::Always;
            console::set_colors_enabled(on);
            console::set_colors_enabled_stderr(on);
        }
    }
    let pipeline = cache::load_targets(&args.pipeline, &args.targets, &args.variant)?;
    let slurm = match args.executor {
        ExecutorKind::Slurm => Some(slurm_settings(&args)?),
        ExecutorKind::Local if args.detach => {
            return Err(InvalidInput("--detach needs --executor slurm (local runs cannot outlive `run`)".into()).into())
        }
        ExecutorKind::Local => None,
    };
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let _lock = lock::acquire(&cache_dir)?;
    let (store, mut db) = cache::open(&cache_dir)?;
    for stale in store.stale_tmp() {
        let _ = std::fs::remove_file(stale);
    }
    let (env, device) = cache::plan_env(&args.device)?;
    let remote = match crate::remote::client::remote_url(args.remote.as_deref()) {
        None => None,
        Some(url) => {
            let remote = crate::remote::Remote::open(&url).map_err(|e| InvalidInput(e.to_string()))?;
            super::remote::ensure_write_once(&remote, &cache_dir)?;
            super::remote::pull_for(&remote, &pipeline, &mut db, &store, &env, args.partial)?;
            Some(remote)
        }
    };
    let mut planner = Planner::new(&pipeline, &db, &store, env)?;
    planner.partial = args.partial;
    let jobs = args.jobs.unwrap_or_else(host::cores).max(1);
    let opts = RunOptions {
        jobs,
        device,
        // A partial run reports what it can: one analysis failing for want of runs stops nothing.
        keep_going: args.keep_going || args.partial,
        threads: args.threads.unwrap_or_else(|| host::default_threads(jobs)),
        quiet: args.json || args.quiet,
        exe: host::torch_exe(),
        cache: std::fs::canonicalize(&cache_dir)?,
        source: source.clone(),
    };
    let (outbox, inbox) = executor::channel();
    let interrupt = outbox.clone();
    let _ = ctrlc::set_handler(move || {
        let _ = interrupt.send(Event::Interrupt);
    });
    let pool = LocalPool::start(
        jobs,
        opts.exe.clone(),
        opts.cache.clone(),
        store.clone(),
        planner.env.data.clone(),
        outbox.clone(),
    );
    let executor: Box<dyn Executor> = match slurm {
        None => Box::new(pool),
        Some(settings) => Box::new(
            SlurmExecutor::start(settings, pool, opts.exe.clone(), store.clone(), outbox, args.detach).map_err(
                |e| {
                    use crate::engine::executor::slurm::SubmitError;
                    match e {
                        SubmitError::Settings(_) | SubmitError::Refused(_) => {
                            anyhow::Error::new(InvalidInput(e.to_string()))
                        }
                        other => anyhow::Error::new(other).context("starting the Slurm executor"),
                    }
                },
            )?,
        ),
    };
    let summary = dispatcher::run(&planner, &mut db, &opts, executor, inbox)?;
    if let Some(remote) = &remote {
        if summary.cancelled == 0 {
            super::remote::push_for(remote, &pipeline, &db, &store, &planner.env, args.partial)?;
        }
    }
    // Put the reports where a person looks for them.
    let mut exported = Vec::new();
    if !args.no_export && (summary.failed == 0 || args.partial) && summary.cancelled == 0 {
        let reports: Vec<usize> =
            (0..pipeline.stages.len()).filter(|&i| pipeline.stages[i].kind.name() == "report").collect();
        if !reports.is_empty() {
            let mut planner = Planner::new(&pipeline, &db, &store, planner.env.clone())?;
            planner.partial = args.partial;
            let plan = planner.plan();
            // What the folder holds the report of: a report of another file or variant that
            // bears the same name is replaced, and said so.
            let source: String = std::iter::once(format!("{}\n", args.pipeline.display()))
                .chain(args.variant.sets.iter().map(|o| format!("--set {o}\n")))
                .collect();
            for si in reports {
                let dir = super::export::default_dir(&pipeline);
                let marker = dir.join(super::export::SOURCE);
                let before = std::fs::read_to_string(&marker).ok();
                if super::export::export_stage(&pipeline, &store, &plan, si, &dir)? > 0 {
                    if let Some(before) = before.filter(|b| *b != source) {
                        eprintln!(
                            "{:>12} {}: it held the report of {}; now of {}",
                            "Replaced",
                            dir.display(),
                            before.trim().replace('\n', " "),
                            source.trim().replace('\n', " ")
                        );
                    }
                    store
                        .write_atomic(&marker, source.as_bytes())
                        .with_context(|| format!("writing {}", marker.display()))?;
                    exported.push(dir.join("report.html"));
                }
            }
        }
    }
    // The verdicts of each report just exported, counted (read once, printed once).
    let tallies: Vec<Option<String>> = exported
        .iter()
        .map(|path| std::fs::read_to_string(path.with_file_name("claims.csv")).ok())
        .map(|csv| csv.map(|csv| crate::report::claims::verdict_tally(&csv)))
        .collect();
    let verdicts: Vec<&str> = tallies.iter().flatten().map(String::as_str).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "{:>12} {}: {} executed, {} cached, {} failed{}{}{} in {}{}",
            if summary.failed + summary.cancelled > 0 { "Stopped" } else { "Finished" },
            pipeline.name,
            summary.executed,
            summary.cached,
            summary.failed,
            if summary.cancelled > 0 { format!(", {} cancelled", summary.cancelled) } else { String::new() },
            if summary.skipped > 0 { format!(", {} skipped", summary.skipped) } else { String::new() },
            if summary.pending > 0 { format!(", {} pending", summary.pending) } else { String::new() },
            human(summary.wall_s),
            if args.quiet && !verdicts.is_empty() {
                format!("; verdicts {}", verdicts.join("; "))
            } else {
                String::new()
            }
        );
        if args.detach && summary.pending > 0 {
            eprintln!(
                "{:>12} {} instance(s) left to Slurm: run the same command again to collect them",
                "Detached", summary.pending
            );
        }
        if !args.quiet {
            for (path, tally) in exported.iter().zip(&tallies) {
                eprintln!("{:>12} {}", "Report", path.display());
                if let Some(tally) = tally {
                    eprintln!("{:>12} {tally}", "Verdicts");
                }
            }
        }
        for o in summary.instances.iter().filter(|o| o.status == Outcome::Failed) {
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
