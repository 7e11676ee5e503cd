//! Execution-only settings of Slurm runs: a profile file (`--slurm-profile`) overridden by the
//! command line. They never enter a key.

use serde::{Deserialize, Serialize};

/// Execution-only settings of Slurm runs: they never enter a key. Read from a profile file
/// (`--slurm-profile`, YAML) and overridden by the command line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    /// `--partition`.
    #[serde(default)]
    pub partition: Option<String>,
    /// `--account`.
    #[serde(default)]
    pub account: Option<String>,
    /// `--time` of each array task, e.g. `04:00:00`.
    #[serde(default)]
    pub time: Option<String>,
    /// `--mem` of each array task, e.g. `4G`.
    #[serde(default)]
    pub mem: Option<String>,
    /// `--gres` of each array task, e.g. `gpu:1` (each task then uses the devices Slurm assigns).
    #[serde(default)]
    pub gres: Option<String>,
    /// `--cpus-per-task`.
    #[serde(default)]
    pub cpus_per_task: Option<usize>,
    /// Array tasks running at once (`--array=…%K`).
    #[serde(default)]
    pub max_concurrent: Option<usize>,
    /// Instances packed into one array task (default: spread over at most `max_tasks` tasks).
    #[serde(default)]
    pub pack: Option<usize>,
    /// Array tasks per submission when `pack` is not given (default 10).
    #[serde(default)]
    pub max_tasks: Option<usize>,
    /// Resubmissions of an instance whose task failed, was cancelled, or ran out of time or memory.
    #[serde(default)]
    pub retries: Option<usize>,
    /// Seconds a task may stay held, or pending on a drained or down node, before the run stops
    /// following it with advice (default [`STUCK_PATIENCE_S`]).
    #[serde(default)]
    pub stuck_timeout: Option<u64>,
    /// Further `sbatch` options, as given.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
}

/// How long a held task, or one pending on a drained or down node, is waited for by default.
pub const STUCK_PATIENCE_S: u64 = 600;

/// A profile value Slurm would refuse, found before anything is submitted.
#[derive(Debug, thiserror::Error)]
#[error("{field}: `{value}` is not {expected}")]
pub struct SettingsError {
    pub field: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl SlurmSettings {
    /// `over`'s settings where given, these otherwise.
    pub fn overridden_by(self, over: SlurmSettings) -> SlurmSettings {
        SlurmSettings {
            partition: over.partition.or(self.partition),
            account: over.account.or(self.account),
            time: over.time.or(self.time),
            mem: over.mem.or(self.mem),
            gres: over.gres.or(self.gres),
            cpus_per_task: over.cpus_per_task.or(self.cpus_per_task),
            max_concurrent: over.max_concurrent.or(self.max_concurrent),
            pack: over.pack.or(self.pack),
            max_tasks: over.max_tasks.or(self.max_tasks),
            retries: over.retries.or(self.retries),
            stuck_timeout: over.stuck_timeout.or(self.stuck_timeout),
            sbatch_args: if over.sbatch_args.is_empty() { self.sbatch_args } else { over.sbatch_args },
        }
    }

    /// How long a stuck task is waited for.
    pub(super) fn stuck_patience(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.stuck_timeout.unwrap_or(STUCK_PATIENCE_S))
    }

    /// Checks each value's form as Slurm reads it: one clear refusal before any submission, not
    /// one failed record per instance.
    pub fn check(&self) -> Result<(), SettingsError> {
        let bad = |field, value: &str, expected| Err(SettingsError { field, value: value.to_owned(), expected });
        let word = |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        for (field, value) in [("partition", &self.partition), ("account", &self.account)] {
            if let Some(v) = value {
                if !v.split(',').all(word) {
                    return bad(field, v, "a name (letters, digits, `_`, `.`, `-`; several with commas)");
                }
            }
        }
        if let Some(v) = &self.time {
            if !is_slurm_time(v) && !["UNLIMITED", "INFINITE", "0"].contains(&v.as_str()) {
                return bad("time", v, "a Slurm time: MINUTES, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS");
            }
        }
        if let Some(v) = &self.mem {
            let digits = v.trim_end_matches(['K', 'M', 'G', 'T']);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) || v.len() - digits.len() > 1 {
                return bad("mem", v, "a size like 4000, 500M or 4G");
            }
        }
        if let Some(v) = &self.gres {
            if !v.chars().all(|c| c.is_ascii_alphanumeric() || "_.-:,".contains(c)) || v.is_empty() {
                return bad("gres", v, "a generic resource like gpu:1");
            }
        }
        for (field, value) in [
            ("cpus_per_task", self.cpus_per_task),
            ("max_concurrent", self.max_concurrent),
            ("pack", self.pack),
            ("max_tasks", self.max_tasks),
        ] {
            if value == Some(0) {
                return bad(field, "0", "at least 1");
            }
        }
        if self.stuck_timeout == Some(0) {
            return bad("stuck_timeout", "0", "at least 1 second");
        }
        Ok(())
    }

    /// How many array tasks `units` work items go into.
    pub(super) fn tasks_for(&self, units: usize) -> usize {
        match self.pack {
            Some(pack) => units.div_ceil(pack.max(1)),
            None => units.min(self.max_tasks.unwrap_or(10).max(1)),
        }
    }
}

/// Slurm's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
fn is_slurm_time(v: &str) -> bool {
    let num = |s: &str| !s.is_empty() && s.len() <= 6 && s.chars().all(|c| c.is_ascii_digit());
    let (days, rest) = match v.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, v),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(num)
        && parts.iter().all(|p| num(p))
        && match days {
            Some(_) => (1..=3).contains(&parts.len()),
            None => (1..=3).contains(&parts.len()),
        }
        && v != "0"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_refused_naming_the_field() {
        let ok = SlurmSettings {
            partition: Some("debug".into()),
            time: Some("1-02:00:00".into()),
            mem: Some("4G".into()),
            gres: Some("gpu:1".into()),
            cpus_per_task: Some(2),
            ..Default::default()
        };
        ok.check().unwrap();
        for t in ["10", "10:00", "01:00:00", "2-0", "2-01:00"] {
            SlurmSettings { time: Some(t.into()), ..Default::default() }.check().unwrap();
        }
        let refused = |s: SlurmSettings| s.check().unwrap_err().to_string();
        assert_eq!(
            refused(SlurmSettings { time: Some("1h".into()), ..Default::default() }),
            "time: `1h` is not a Slurm time: MINUTES, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
        );
        assert!(refused(SlurmSettings { mem: Some("4GB".into()), ..Default::default() }).starts_with("mem: `4GB`"));
        assert!(
            refused(SlurmSettings { partition: Some("gpu;rm".into()), ..Default::default() }).starts_with("partition:")
        );
        assert!(refused(SlurmSettings { pack: Some(0), ..Default::default() }).starts_with("pack: `0`"));
    }

    #[test]
    fn instances_spread_over_at_most_max_tasks_unless_packed() {
        let s = SlurmSettings::default();
        assert_eq!((s.tasks_for(200), s.tasks_for(4)), (10, 4));
        let packed = SlurmSettings { pack: Some(1), ..Default::default() };
        assert_eq!(packed.tasks_for(200), 200);
        let wide = SlurmSettings { max_tasks: Some(64), ..Default::default() };
        assert_eq!(wide.tasks_for(5400), 64);
    }

    #[test]
    fn the_command_line_overrides_the_profile() {
        let profile = SlurmSettings { partition: Some("gpu".into()), pack: Some(4), ..Default::default() };
        let flags = SlurmSettings { pack: Some(1), ..Default::default() };
        let s = profile.overridden_by(flags);
        assert_eq!((s.partition.as_deref(), s.pack), (Some("gpu"), Some(1)));
    }
}
