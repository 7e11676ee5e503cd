//! The cache's `slurm/` folder: one folder a batch (`tasks/N`, `job.sh`, `job_id`, `logs/`), named
//! so that batches sort by time, and what `gc` may delete of it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::commands::{job_prefix, RealSlurm, SlurmCommands};
use crate::store::Store;

/// A short id of the cache folder, in job names, so two caches' jobs are told apart.
pub(super) fn cache_id(root: &Path) -> String {
    let canonical = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    blake3::hash(canonical.to_string_lossy().as_bytes()).to_hex()[..8].to_owned()
}

/// The batches of a cache as `gc` sees them: the keys of those Slurm still queues or runs (their
/// job files must stay), and the folders of those it has finished with.
pub struct Batches {
    pub live_keys: HashSet<String>,
    pub finished: Vec<PathBuf>,
}

/// The cache's batches; `None` when there are some but Slurm cannot be asked (keep everything).
pub fn batches(store: &Store) -> Option<Batches> {
    let mut out = Batches { live_keys: HashSet::new(), finished: Vec::new() };
    let Ok(entries) = std::fs::read_dir(store.root().join("slurm")) else { return Some(out) };
    let dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|d| d.join("job_id").is_file()).collect();
    if dirs.is_empty() {
        return Some(out);
    }
    let live = RealSlurm.squeue(&job_prefix(&cache_id(store.root()))).ok()?;
    for dir in dirs {
        let job_id = std::fs::read_to_string(dir.join("job_id")).unwrap_or_default().trim().to_owned();
        if !live.iter().any(|id| id.split('_').next() == Some(job_id.as_str())) {
            out.finished.push(dir);
            continue;
        }
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
