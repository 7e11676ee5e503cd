//! `sgdnoise gc [--dry-run]`: remove objects no record references, stale temporary and job files,
//! ingested Slurm results and the folders of finished Slurm batches. Work in flight is never
//! touched: objects named by a Slurm result not yet ingested stay, and so does every object made
//! since the oldest batch Slurm still runs (its nodes may be storing outputs that no result names
//! yet); when Slurm cannot be asked, every object made since the oldest batch folder stays.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::cache;
use crate::engine::executor::slurm;
use crate::engine::lock;

#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// Say what would be removed, remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// The cache folder (default: $SGDNOISE_CACHE or ./cache).
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub(crate) fn run(args: GcArgs) -> anyhow::Result<ExitCode> {
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let _lock = lock::acquire(&cache_dir)?;
    let (store, db) = cache::open(&cache_dir)?;
    let records = db.records()?;
    let recorded: BTreeSet<String> = records.keys().cloned().collect();
    let mut live: BTreeSet<String> = records.into_values().flat_map(|r| r.outputs.into_values()).collect();
    let slurm = slurm::batches(&store);
    // Results that nodes left and no coordinator ingested yet: their objects are finished work.
    let mut pending_results = 0;
    if let Ok(rd) = std::fs::read_dir(store.root().join("slurm/results")) {
        for path in rd.flatten().map(|e| e.path()) {
            let key = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if recorded.contains(&key) {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else { continue };
            if let Ok(r) = serde_json::from_slice::<slurm::NodeResult>(&bytes) {
                live.extend(r.ok.into_iter().flat_map(|ok| ok.outputs.into_values()));
                pending_results += 1;
            }
        }
    }
    // Objects younger than the oldest batch that may still be storing outputs.
    let in_flight_since = match &slurm {
        Some(b) => b.oldest_live,
        None => slurm::oldest_batch(&store),
    };
    let (mut count, mut bytes, mut young) = (0usize, 0u64, 0usize);
    for hash in store.list() {
        if live.contains(&hash) {
            continue;
        }
        if let Some(since) = in_flight_since {
            let made = std::fs::metadata(store.path(&hash)).and_then(|m| m.modified());
            if made.map_or(true, |t| t >= since) {
                young += 1;
                continue;
            }
        }
        count += 1;
        if args.dry_run {
            bytes += std::fs::metadata(store.path(&hash)).map(|m| m.len()).unwrap_or(0);
            println!("{:>12} {hash}", "Would remove");
        } else {
            bytes += store.remove(&hash)?;
        }
    }
    let mut stale = store.stale_tmp();
    // Slurm: job files of tasks still queued or running stay (a detached run's nodes read them);
    // results already recorded and the folders of finished batches go. When Slurm cannot be
    // asked about existing batches, none of their files is touched.
    if let Ok(rd) = std::fs::read_dir(store.root().join("jobs")) {
        let key = |p: &std::path::Path| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        stale.extend(rd.flatten().map(|e| e.path()).filter(|p| match &slurm {
            Some(b) => !b.live_keys.contains(&key(p)),
            None => false,
        }));
        if let Ok(rd) = std::fs::read_dir(store.root().join("slurm/results")) {
            stale.extend(rd.flatten().map(|e| e.path()).filter(|p| recorded.contains(&key(p))));
        }
    }
    let finished = slurm.map(|b| b.finished).unwrap_or_default();
    if !args.dry_run {
        for f in &stale {
            let _ = std::fs::remove_file(f);
        }
        for dir in &finished {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    println!(
        "{:>12} {count} unreferenced object(s), {:.1} MB; {} stale temporary file(s); {} finished Slurm batch folder(s); {} object(s) kept",
        if args.dry_run { "Would remove" } else { "Removed" },
        bytes as f64 / 1e6,
        stale.len(),
        finished.len(),
        live.len()
    );
    if pending_results > 0 || young > 0 {
        println!(
            "{:>12} {pending_results} Slurm result(s) not yet collected and {young} object(s) made while Slurm batches run: kept (run the pipeline to collect them)",
            "Kept"
        );
    }
    Ok(ExitCode::SUCCESS)
}
