//! The cache's `slurm/` folder: one folder a batch (`tasks/N`, `job.sh`, `job_id`, `logs/`), named
//! so that batches sort by time, and what `gc` may delete of it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::commands::{job_of, job_prefix, RealSlurm, SlurmCommands};
use crate::store::Store;

/// A short id of the cache folder, in job names, so two caches' jobs are told apart.
pub(super) fn cache_id(root: &Path) -> String {
    let canonical = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    blake3::hash(canonical.to_string_lossy().as_bytes()).to_hex()[..8].to_owned()
}

/// The batches of a cache as `gc` sees them: the keys of those Slurm still queues or runs (their
/// job files must stay), the folders of those it has finished with, and when the oldest live one
/// was made (its nodes may be writing objects that no result file names yet).
pub struct Batches {
    pub live_keys: HashSet<String>,
    pub finished: Vec<PathBuf>,
    pub oldest_live: Option<SystemTime>,
}

/// When a batch folder was made, by the clock of the filesystem that also stamps the objects (not
/// the coordinator's, which may differ), less a margin of [`crate::store::STALE_TMP_AGE`] for
/// clocks that still disagree.
fn batch_time(dir: &Path) -> Option<SystemTime> {
    let made = std::fs::metadata(dir.join("tasks")).and_then(|m| m.modified()).ok()?;
    Some(made.checked_sub(crate::store::STALE_TMP_AGE).unwrap_or(SystemTime::UNIX_EPOCH))
}

/// How long ago a batch folder was made (by its name: nanoseconds since the epoch on the
/// coordinator's clock).
fn batch_age(dir: &Path) -> Option<std::time::Duration> {
    let name = dir.file_name()?.to_str()?;
    let nanos = u64::try_from(name.split('-').next()?.parse::<u128>().ok()?).ok()?;
    (SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(nanos)).elapsed().ok()
}

/// When the oldest batch folder of the cache was made (any batch, live or not).
pub fn oldest_batch(store: &Store) -> Option<SystemTime> {
    std::fs::read_dir(store.root().join("slurm"))
        .ok()?
        .flatten()
        .filter(|e| e.path().join("tasks").is_dir())
        .filter_map(|e| batch_time(&e.path()))
        .min()
}

/// The cache's batches; `None` when there are some but Slurm cannot be asked (keep everything).
pub fn batches(store: &Store) -> Option<Batches> {
    let mut out = Batches { live_keys: HashSet::new(), finished: Vec::new(), oldest_live: None };
    let Ok(entries) = std::fs::read_dir(store.root().join("slurm")) else { return Some(out) };
    let dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|d| d.join("tasks").is_dir()).collect();
    if dirs.is_empty() {
        return Some(out);
    }
    let prefix = job_prefix(&cache_id(store.root()));
    let live = RealSlurm.squeue(&prefix).ok()?;
    for dir in dirs {
        let job_id = std::fs::read_to_string(dir.join("job_id")).unwrap_or_default().trim().to_owned();
        let name = format!("{prefix}{}", dir.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
        // A batch whose coordinator died during `sbatch` has no job id: Slurm knows it by name.
        let is_live = live.iter().any(|(id, q)| (!job_id.is_empty() && job_of(id) == job_id) || q.name == name);
        if !is_live {
            // Without a job id, Slurm may not have answered `sbatch` yet: only an old one is done.
            let old = batch_age(&dir).is_some_and(|age| age > std::time::Duration::from_secs(600));
            if !job_id.is_empty() || old {
                out.finished.push(dir);
            }
            continue;
        }
        let made = batch_time(&dir).unwrap_or(SystemTime::UNIX_EPOCH);
        out.oldest_live = Some(out.oldest_live.map_or(made, |t| t.min(made)));
        for n in 0.. {
            let Ok(text) = std::fs::read_to_string(dir.join("tasks").join(n.to_string())) else { break };
            out.live_keys.extend(text.split_whitespace().map(str::to_owned));
        }
    }
    Some(out)
}

/// The last lines of a task's log, for a failure message.
pub(super) fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    format!("; log {}: {}", path.display(), lines[lines.len().saturating_sub(5)..].join(" | "))
}

/// A sortable batch name: seconds and nanoseconds since the epoch.
pub(super) fn now_stamp() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}{:09}", d.as_secs(), d.subsec_nanos())
}
