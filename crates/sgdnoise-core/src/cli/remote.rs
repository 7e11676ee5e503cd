//! `--remote URL` on `run` and `plan`, and `sgdnoise cache push|pull|doctor --remote URL`: a
//! cache a lab shares through a write-once remote (`file:///path` or `s3://bucket/prefix`).
//! `run` fetches what the remote has of what it would execute, runs the rest, then pushes what
//! it holds that the remote lacks.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::cache;
use crate::cli::InvalidInput;
use crate::engine::clock;
use crate::engine::plan::{PlanEnv, Planner, Status};
use crate::pipeline::Pipeline;
use crate::provenance::Db;
use crate::remote::doctor::{self, Verdict};
use crate::remote::sync::{self, Pulled, Pushed};
use crate::remote::Remote;
use crate::store::Store;

#[derive(Debug, Args)]
pub(crate) struct CacheArgs {
    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(Debug, Subcommand)]
enum CacheCommand {
    /// Write every record of this cache that the remote lacks (objects first).
    Push(RemoteArgs),
    /// Fetch every record of the remote that this cache lacks, checked, into provenance.
    Pull(RemoteArgs),
    /// Check that the remote keeps what is written once; refuse it otherwise.
    Doctor(RemoteArgs),
}

#[derive(Debug, Args)]
struct RemoteArgs {
    /// file:///path or s3://bucket/prefix (default: SGDNOISE_REMOTE).
    #[arg(long)]
    remote: Option<String>,
    /// The cache folder (default: $SGDNOISE_CACHE or ./cache).
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub(crate) fn run(args: CacheArgs) -> anyhow::Result<ExitCode> {
    let (CacheCommand::Push(r) | CacheCommand::Pull(r) | CacheCommand::Doctor(r)) = &args.command;
    let url = crate::remote::client::remote_url(r.remote.as_deref()).ok_or_else(|| {
        InvalidInput("--remote: give file:///path or s3://bucket/prefix (or set SGDNOISE_REMOTE)".into())
    })?;
    let cache_dir = cache::cache_dir(r.cache.as_deref());
    let remote = Remote::open(&url).map_err(|e| InvalidInput(e.to_string()))?;
    let started = std::time::Instant::now();
    match args.command {
        CacheCommand::Doctor(_) => {
            let nonce = format!("{}-{}", clock::hostname(), std::process::id());
            match doctor::probe(&remote, &nonce)? {
                Verdict::WriteOnce => {
                    if cache_dir.is_dir() {
                        let _ = doctor::note_checked(&cache_dir, &url);
                    }
                    eprintln!("{:>12} {url}: write-once holds (a second write to the same name was refused)", "Ok");
                    Ok(ExitCode::SUCCESS)
                }
                Verdict::Overwrites => {
                    eprintln!(
                        "{:>12} {url}: the store accepted a second write to the same name (it ignores If-None-Match): two machines could overwrite each other's records unseen; refused",
                        "Refused"
                    );
                    Ok(ExitCode::from(super::EXIT_FAILED))
                }
            }
        }
        CacheCommand::Push(_) => {
            let _lock = crate::engine::lock::acquire(&cache_dir)?;
            let (store, db) = cache::open(&cache_dir)?;
            ensure_write_once(&remote, &cache_dir)?;
            let keys = sync::local_keys(&db)?;
            let pushed = sync::push(&remote, &db, &store, &keys)?;
            report_push(&url, &pushed);
            eprintln!("{:>12} in {:.2}s", "Finished", started.elapsed().as_secs_f64());
            Ok(if pushed.conflicts.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(super::EXIT_FAILED) })
        }
        CacheCommand::Pull(_) => {
            let _lock = crate::engine::lock::acquire(&cache_dir)?;
            let (store, mut db) = cache::open(&cache_dir)?;
            let pulled = sync::pull(&remote, &mut db, &store, None, &clock::now_rfc3339(), &clock::hostname())?;
            report_pull(&url, &pulled);
            eprintln!("{:>12} in {:.2}s", "Finished", started.elapsed().as_secs_f64());
            let bad = pulled.conflicts.len() + pulled.refused.len();
            Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::from(super::EXIT_FAILED) })
        }
    }
}

/// Refuses a remote that does not keep what is written once; each remote is probed once per
/// cache (the verdict is noted in it).
pub(crate) fn ensure_write_once(remote: &Remote, cache_dir: &Path) -> anyhow::Result<()> {
    if doctor::checked(cache_dir, remote.url()) {
        return Ok(());
    }
    let nonce = format!("{}-{}", clock::hostname(), std::process::id());
    match doctor::probe(remote, &nonce)? {
        Verdict::WriteOnce => {
            doctor::note_checked(cache_dir, remote.url())?;
            Ok(())
        }
        Verdict::Overwrites => anyhow::bail!(InvalidInput(format!(
            "remote {}: the store ignores write-if-absent (If-None-Match): refused, as `sgdnoise cache doctor` explains",
            remote.url()
        ))),
    }
}

fn report_push(url: &str, p: &Pushed) {
    eprintln!(
        "{:>12} {url}: {} record(s) written, {} already there; {} object(s) written, {} already there",
        "Pushed", p.records_written, p.records_present, p.objects_written, p.objects_present
    );
    for c in &p.conflicts {
        eprintln!("{:>12} {c}", "Conflict");
    }
}

fn report_pull(url: &str, p: &Pulled) {
    eprintln!(
        "{:>12} {url}: {} record(s) imported ({} object(s) fetched), {} already here",
        "Pulled", p.imported, p.objects_fetched, p.present
    );
    for c in &p.conflicts {
        eprintln!("{:>12} {c}", "Conflict");
    }
    for r in &p.refused {
        eprintln!("{:>12} {r}", "Refused");
    }
}

/// Before a run: fetch what the remote holds of the instances that would execute, stage after
/// stage (a fetched record makes the keys above it known), until it has nothing more.
pub(crate) fn pull_for(
    remote: &Remote,
    pipeline: &Pipeline,
    db: &mut Db,
    store: &Store,
    env: &PlanEnv,
    partial: bool,
) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let mut planner = Planner::new(pipeline, db, store, env.clone())?;
        planner.partial = partial;
        let wanted: Vec<String> =
            planner.plan().into_iter().flatten().filter(|p| p.status != Status::Fresh).filter_map(|p| p.key).collect();
        if wanted.is_empty() {
            break;
        }
        let pulled = sync::pull(remote, db, store, Some(wanted), &clock::now_rfc3339(), &clock::hostname())?;
        if pulled.imported > 0 || !pulled.conflicts.is_empty() || !pulled.refused.is_empty() {
            report_pull(remote.url(), &pulled);
        }
        total += pulled.imported;
        if pulled.imported == 0 {
            break;
        }
    }
    Ok(total)
}

/// After a run: push what the pipeline holds fresh that the remote lacks.
pub(crate) fn push_for(
    remote: &Remote,
    pipeline: &Pipeline,
    db: &Db,
    store: &Store,
    env: &PlanEnv,
    partial: bool,
) -> anyhow::Result<Pushed> {
    let mut planner = Planner::new(pipeline, db, store, env.clone())?;
    planner.partial = partial;
    let keys: Vec<String> = planner
        .plan()
        .into_iter()
        .flatten()
        .filter(|p| p.status == Status::Fresh)
        .filter_map(|p| p.record.map(|r| r.key))
        .collect();
    let pushed = sync::push(remote, db, store, &keys)?;
    report_push(remote.url(), &pushed);
    Ok(pushed)
}
