//! Slurm's own commands, the one seam between the coordinator and the cluster: `sbatch`,
//! `squeue`, `scontrol` and `scancel` behind [`SlurmCommands`], so that the coordinator's unit
//! tests put a fake cluster there (the end-to-end tests run the real one).

use std::collections::HashMap;
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

/// A task Slurm still queues or runs, as `squeue` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queued {
    /// The job's name (`sgdnoise-CACHEID-BATCH`).
    pub name: String,
    /// `PENDING`, `RUNNING`, `SUSPENDED`, …
    pub state: String,
    /// Why it is pending (`Resources`, `JobHeldAdmin`, `launch failed requeued held`, …), or `None`.
    pub reason: String,
}

impl Queued {
    /// Pending for a reason that does not pass by waiting: held, or its nodes drained, down or
    /// unavailable. A person must act (`scontrol release`, resume the node, `scancel`).
    pub fn is_stuck(&self) -> bool {
        let r = self.reason.to_ascii_lowercase();
        // Not SUSPENDED (gang scheduling resumes it) nor a maintenance reservation (it ends).
        self.state == "PENDING"
            && !r.contains("reserved")
            && ["held", "drain", "down", "reqnodenotavail", "partitioninactive", "nodenotavail"]
                .iter()
                .any(|w| r.contains(w))
    }
}

/// The array tasks (`JOB_N`, or `JOB_[a-b]` while an array is pending) Slurm still queues or runs.
pub type Queue = HashMap<String, Queued>;

/// Slurm as the coordinator uses it.
pub trait SlurmCommands: Send {
    /// `sbatch --parsable ARGS SCRIPT`: the job id.
    fn sbatch(&self, args: &[String], script: &Path) -> Result<String, CommandError>;
    /// `sbatch --test-only ARGS SCRIPT`: whether Slurm would take the job (a partition, account
    /// or limit it refuses is refused once, before anything is submitted).
    fn test_only(&self, args: &[String], script: &Path) -> Result<(), CommandError>;
    /// The tasks of the user's jobs whose name starts with `name_prefix` that Slurm still queues
    /// or runs.
    fn squeue(&self, name_prefix: &str) -> Result<Queue, CommandError>;
    /// The final state (`JobState`) of array task `JOB_N`, while Slurm still knows it.
    fn task_state(&self, job_id: &str, n: usize) -> Option<String>;
    /// Cancels jobs.
    fn scancel(&self, job_ids: &[String]);
}

/// The cluster's real commands, found on `PATH`.
pub struct RealSlurm;

impl SlurmCommands for RealSlurm {
    fn sbatch(&self, args: &[String], script: &Path) -> Result<String, CommandError> {
        let out = stdout_of("sbatch", Command::new("sbatch").arg("--parsable").args(args).arg(script))?;
        Ok(out.trim().split(';').next().unwrap_or_default().to_owned())
    }

    fn test_only(&self, args: &[String], script: &Path) -> Result<(), CommandError> {
        stdout_of("sbatch", Command::new("sbatch").arg("--test-only").args(args).arg(script)).map(drop)
    }

    fn squeue(&self, name_prefix: &str) -> Result<Queue, CommandError> {
        let out = stdout_of("squeue", Command::new("squeue").args(["-h", "-r", "--me", "-o", "%i|%j|%T|%r"]))?;
        Ok(parse_squeue(&out, name_prefix))
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

/// Runs a Slurm command: its standard output, or its own message when it refuses.
fn stdout_of(command: &'static str, cmd: &mut Command) -> Result<String, CommandError> {
    let out = cmd.output().map_err(|source| CommandError::Spawn { command, source })?;
    if !out.status.success() {
        return Err(CommandError::Refused(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `squeue -o "%i|%j|%T|%r"` lines, keeping the jobs whose name starts with `name_prefix`.
pub(super) fn parse_squeue(text: &str, name_prefix: &str) -> Queue {
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(4, '|');
            let (id, name) = (f.next()?.trim(), f.next()?.trim());
            let state = f.next().unwrap_or("").trim().to_owned();
            let reason = f.next().unwrap_or("").trim().to_owned();
            name.starts_with(name_prefix).then(|| (id.to_owned(), Queued { name: name.to_owned(), state, reason }))
        })
        .collect()
}

/// The prefix of this cache's job names (`sgdnoise-CACHEID-BATCH`): `squeue` finds them by it.
pub(super) fn job_prefix(cache_id: &str) -> String {
    format!("sgdnoise-{cache_id}-")
}

/// Whether array task `n` of `job_id` is among the live ones (a pending array may still show
/// as `JOB_[a-b]`).
pub(super) fn is_live(live: &Queue, job_id: &str, n: usize) -> bool {
    task_entry(live, job_id, n).is_some()
}

/// What `squeue` says of array task `n` of `job_id` (a pending array may still show as
/// `JOB_[a-b]`).
pub(super) fn task_entry<'a>(live: &'a Queue, job_id: &str, n: usize) -> Option<&'a Queued> {
    live.get(&format!("{job_id}_{n}"))
        .or_else(|| live.iter().find(|(id, _)| id.starts_with(&format!("{job_id}_["))).map(|(_, q)| q))
}

/// The job id of a queue entry `JOB_N` or `JOB_[a-b]`.
pub(super) fn job_of(task_id: &str) -> &str {
    task_id.split('_').next().unwrap_or(task_id)
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

    #[test]
    fn squeue_lines_give_state_and_reason() {
        let q = parse_squeue(
            "12_[1-3]|sgdnoise-ab-1|PENDING|Resources\n12_0|sgdnoise-ab-1|RUNNING|None\n13_0|other|PENDING|Priority\n14_2|sgdnoise-ab-2|PENDING|launch failed requeued held\n",
            "sgdnoise-ab-",
        );
        assert_eq!(q.len(), 3);
        assert!(is_live(&q, "12", 2) && is_live(&q, "12", 0) && !is_live(&q, "13", 0));
        assert_eq!(task_entry(&q, "12", 3).unwrap().reason, "Resources");
        assert!(!q["12_0"].is_stuck() && !q["12_[1-3]"].is_stuck() && q["14_2"].is_stuck());
        let drained = Queued {
            state: "PENDING".into(),
            reason: "ReqNodeNotAvail, UnavailableNodes:n1".into(),
            ..Default::default()
        };
        assert!(drained.is_stuck());
        assert_eq!(job_of("14_2"), "14");
    }

    /// Each quoted word, run through a real `sh`, comes back as written: no `$(…)` runs.
    #[test]
    fn quoted_paths_stay_words() {
        for text in ["/home/o'brien/cache", "/tmp/'$(touch pwned)'", "a b\tc", "''", "$HOME `id` \\ \"q\""] {
            let out = Command::new("sh").arg("-c").arg(format!("printf %s {}", shell_quote(text))).output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
        }
    }
}
