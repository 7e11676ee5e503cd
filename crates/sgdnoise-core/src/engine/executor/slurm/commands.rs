//! Slurm's own commands, the one seam between the coordinator and the cluster: `sbatch`,
//! `squeue`, `scontrol` and `scancel` behind [`SlurmCommands`], so that the coordinator's unit
//! tests put a fake cluster there (the end-to-end tests run the real one).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

/// What went wrong running a Slurm command.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("cannot run {command}: {source}")]
    Spawn { command: &'static str, source: std::io::Error },
    /// The command's own message.
    #[error("{0}")]
    Refused(String),
}

/// Slurm as the coordinator uses it.
pub trait SlurmCommands: Send {
    /// `sbatch --parsable ARGS SCRIPT`: the job id.
    fn sbatch(&self, args: &[String], script: &Path) -> Result<String, CommandError>;
    /// The array tasks (`JOB_N`, or `JOB_[a-b]` while an array is pending) of the user's jobs
    /// whose name starts with `name_prefix`, that Slurm still queues or runs.
    fn squeue(&self, name_prefix: &str) -> Result<HashSet<String>, CommandError>;
    /// The final state (`JobState`) of array task `JOB_N`, while Slurm still knows it.
    fn task_state(&self, job_id: &str, n: usize) -> Option<String>;
    /// Cancels jobs.
    fn scancel(&self, job_ids: &[String]);
}

/// The cluster's real commands, found on `PATH`.
pub struct RealSlurm;

impl SlurmCommands for RealSlurm {
    fn sbatch(&self, args: &[String], script: &Path) -> Result<String, CommandError> {
        let out = Command::new("sbatch")
            .arg("--parsable")
            .args(args)
            .arg(script)
            .output()
            .map_err(|source| CommandError::Spawn { command: "sbatch", source })?;
        if !out.status.success() {
            return Err(CommandError::Refused(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().split(';').next().unwrap_or_default().to_owned())
    }

    fn squeue(&self, name_prefix: &str) -> Result<HashSet<String>, CommandError> {
        let out = Command::new("squeue")
            .args(["-h", "-r", "--me", "-o", "%i %j"])
            .output()
            .map_err(|source| CommandError::Spawn { command: "squeue", source })?;
        if !out.status.success() {
            return Err(CommandError::Refused(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, name)| name.starts_with(name_prefix))
            .map(|(id, _)| id.to_owned())
            .collect())
    }

    fn task_state(&self, job_id: &str, n: usize) -> Option<String> {
        let out = Command::new("scontrol").args(["show", "job", "-o", &format!("{job_id}_{n}")]).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace().find_map(|f| f.strip_prefix("JobState=")).map(str::to_owned)
    }

    fn scancel(&self, job_ids: &[String]) {
        if !job_ids.is_empty() {
            let _ = Command::new("scancel").args(job_ids).output();
        }
    }
}

/// The prefix of this cache's job names (`sgdnoise-CACHEID-BATCH`): `squeue` finds them by it.
pub(super) fn job_prefix(cache_id: &str) -> String {
    format!("sgdnoise-{cache_id}-")
}

/// Whether array task `n` of `job_id` is among the live ones (a pending array may still show
/// as `JOB_[a-b]`).
pub(super) fn is_live(live: &HashSet<String>, job_id: &str, n: usize) -> bool {
    live.contains(&format!("{job_id}_{n}")) || live.iter().any(|id| id.starts_with(&format!("{job_id}_[")))
}

/// How an array task that left no result ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TaskState {
    /// Cancelled (`scancel`), or forgotten by Slurm before it started: never retried.
    Cancelled,
    /// It started (it has a log), and Slurm no longer knows it.
    Forgotten,
    /// Any other final state, as Slurm names it: TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, FAILED, ….
    Ended(String),
}

impl TaskState {
    pub(super) fn from_slurm(state: &str) -> TaskState {
        match state {
            "CANCELLED" => TaskState::Cancelled,
            other => TaskState::Ended(other.to_owned()),
        }
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskState::Cancelled => f.write_str("CANCELLED"),
            TaskState::Forgotten => f.write_str("UNKNOWN (no longer known to Slurm)"),
            TaskState::Ended(state) => f.write_str(state),
        }
    }
}

/// `text` as one word for `sh`: inside single quotes, each `'` written as `'\''`, so no path
/// (an apostrophe, `$(…)`) is ever read as shell syntax.
pub(super) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The batch script of an array: task N executes the keys in `tasks/N` of its batch folder.
pub(super) fn batch_script(batch: &str, exe: &Path, cache: &Path, dir: &Path) -> String {
    format!(
        "#!/bin/sh\n# sgdnoise batch {batch}: array task N executes the keys in tasks/N.\nexec {} exec --cache {} --task {}\"$SLURM_ARRAY_TASK_ID\"\n",
        shell_quote(&exe.display().to_string()),
        shell_quote(&cache.display().to_string()),
        shell_quote(&format!("{}/tasks/", dir.display()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each quoted word, run through a real `sh`, comes back as written: no `$(…)` runs.
    #[test]
    fn quoted_paths_stay_words() {
        for text in ["/home/o'brien/cache", "/tmp/'$(touch pwned)'", "a b\tc", "''", "$HOME `id` \\ \"q\""] {
            let out = Command::new("sh").arg("-c").arg(format!("printf %s {}", shell_quote(text))).output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
        }
    }
}
