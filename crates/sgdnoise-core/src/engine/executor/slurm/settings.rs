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
    /// Further `sbatch` options, as given.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
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
            sbatch_args: if over.sbatch_args.is_empty() { self.sbatch_args } else { over.sbatch_args },
        }
    }

    /// How many array tasks `units` work items go into.
    pub(super) fn tasks_for(&self, units: usize) -> usize {
        match self.pack {
            Some(pack) => units.div_ceil(pack.max(1)),
            None => units.min(self.max_tasks.unwrap_or(10).max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
