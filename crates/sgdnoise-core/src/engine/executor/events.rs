//! The messages between the dispatcher and its executors. Work goes out as [`Work`] items;
//! everything that happens comes back as an [`Event`] on one channel: an instance started or
//! finished, a work item's slots are free, the user interrupted. The dispatcher blocks on that
//! channel and nothing else, so there is no flag to poll.

use std::sync::mpsc::{self, Receiver, Sender};

use serde_json::{Map, Value};

use crate::engine::exec::{ExecFailure, ExecResult};
use crate::job::Job;

/// Instances of one stage executed together (one, or a group of batched replicas).
#[derive(Debug, Clone)]
pub struct Work {
    pub stage: usize,
    /// (instance index, job).
    pub items: Vec<(usize, Job)>,
    /// Runs in a child process (training) rather than in the coordinator's.
    pub isolated: bool,
    /// Worker slots it occupies until [`Event::WorkDone`].
    pub weight: usize,
}

#[derive(Debug)]
pub enum Event {
    Started {
        stage: usize,
        index: usize,
    },
    Finished {
        stage: usize,
        index: usize,
        result: Result<ExecResult, ExecFailure>,
        started_at: String,
        seconds: f64,
        /// Where it ran when not in this process tree (node, Slurm job id, array index):
        /// recorded in provenance beside the environment.
        place: Map<String, Value>,
    },
    /// Handed to a cluster that runs it on its own (`--detach`): a later run collects it.
    Detached {
        stage: usize,
        index: usize,
    },
    /// Something the user should see while it waits (why Slurm tasks are pending, an instance
    /// submitted again): a word and a line.
    Note {
        word: &'static str,
        message: String,
    },
    /// A work item's slots are free again.
    WorkDone {
        weight: usize,
    },
    /// Ctrl-C.
    Interrupt,
}

/// The sending end, one clone per executor thread and one for the signal handler.
pub type Outbox = Sender<Event>;
/// The dispatcher's end.
pub type Inbox = Receiver<Event>;

pub fn channel() -> (Outbox, Inbox) {
    mpsc::channel()
}

/// Runs work items and reports their events.
pub trait Executor {
    /// How many worker slots it offers at once.
    fn slots(&self) -> usize;
    /// Starts a work item; it reports `Started`/`Finished` per instance and then `WorkDone`.
    fn submit(&mut self, work: Work);
    /// Stops what runs: each running instance reports `Finished` with `Cancelled`.
    fn cancel(&mut self);
    /// Waits until nothing of it runs any more.
    fn shutdown(self: Box<Self>);
}
