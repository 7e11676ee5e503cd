//! The Slurm executor. The coordinator (this process) keeps planning, keys and every SQLite
//! write; nodes only run `sgdnoise exec --task FILE` on instances packed into the tasks of a job
//! array. Everything they share lives in the cache, which must be on a filesystem the nodes see:
//!
//! | path                              | written by  | what                                     |
//! |-----------------------------------|-------------|------------------------------------------|
//! | `jobs/KEY.json`                   | coordinator | the job of one instance                  |
//! | `slurm/BATCH/tasks/N`             | coordinator | the keys of array task N (a group a line)|
//! | `slurm/BATCH/job.sh`, `job_id`    | coordinator | the batch script and Slurm's job id      |
//! | `slurm/BATCH/logs/N.log`          | Slurm       | the task's stdout and stderr             |
//! | `objects/…`                       | node        | the outputs, stored atomically           |
//! | `slurm/results/KEY.json`          | node        | [`NodeResult`]: outputs or error, where  |
//!
//! The coordinator ingests result files as they appear and asks `squeue`/`scontrol` (no
//! accounting needed) what became of tasks that ended without writing all of theirs. A restarted
//! coordinator reunites: before submitting an instance it takes a result file already there, or
//! adopts the task of a batch still queued or running that holds its key. Job names carry the
//! cache's id and the batch, so `squeue --name` finds them.
//!
//! One concept a file: `settings` (the profile), `layout` (the cache's `slurm/` folder, and what
//! `gc` may delete), `protocol` (the result file of a node), `commands` (Slurm's commands behind
//! the [`SlurmCommands`] seam) and `coordinator` (the executor's thread).

mod commands;
mod coordinator;
mod layout;
mod protocol;
mod settings;

pub use commands::{CommandError, Queue, Queued, RealSlurm, SlurmCommands};
pub use coordinator::{SlurmExecutor, SubmitError};
pub use layout::{batches, oldest_batch, Batches};
pub use protocol::{node_place, result_path, NodeResult};
pub use settings::{SettingsError, SlurmSettings, STUCK_PATIENCE_S};
