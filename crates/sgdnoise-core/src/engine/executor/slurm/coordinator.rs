//! The coordinator: the executor's thread that batches instances into job arrays, submits them,
//! ingests the result files nodes leave, asks Slurm what became of tasks that ended without
//! them (retrying lost ones), and reunites with the batches of an earlier coordinator.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::commands::{
    batch_script, is_live, job_of, job_prefix, task_entry, CommandError, RealSlurm, SlurmCommands, TaskState,
};
use super::layout::{cache_id, log_tail, now_stamp};
use super::protocol::{result_path, NodeResult};
use super::settings::SlurmSettings;
use crate::engine::exec::{write_job, ExecFailure, ExecResult};
use crate::engine::executor::events::{Event, Executor, Outbox, Work};
use crate::engine::executor::local::LocalPool;
use crate::store::{Store, StoreError};

/// One instance the executor follows: which work item it belongs to and where it runs.
struct Tracked {
    work: usize,
    stage: usize,
    index: usize,
    /// (batch, task) once submitted or adopted.
    task: Option<(String, usize)>,
    attempts: usize,
    /// A result file of it named objects that were gone: it was submitted again once.
    resubmitted_stale: bool,
    /// Since when Slurm has shown its task held or its node drained.
    stuck_since: Option<Instant>,
}

/// A work item: its instances and how many have not finished.
struct WorkState {
    weight: usize,
    left: usize,
}

/// A submitted array job.
struct Batch {
    job_id: String,
    /// Keys per task.
    tasks: Vec<Vec<String>>,
}

/// Why a batch could not be written or submitted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sbatch(#[from] CommandError),
    #[error("the Slurm settings: {0}")]
    Settings(#[from] super::settings::SettingsError),
    #[error("Slurm refuses these settings (sbatch --test-only): {0}")]
    Refused(CommandError),
}

enum Message {
    Work(Work),
    Cancel,
}

pub struct SlurmExecutor {
    local: LocalPool,
    tx: Option<Sender<Message>>,
    thread: Option<JoinHandle<()>>,
}

impl SlurmExecutor {
    /// Starts the coordinator's Slurm thread; light stages go to `local`.
    /// With `detach`, instances are submitted and then reported detached, not waited for.
    pub fn start(
        settings: SlurmSettings,
        local: LocalPool,
        exe: PathBuf,
        store: Store,
        events: Outbox,
        detach: bool,
    ) -> Result<SlurmExecutor, SubmitError> {
        settings.check()?;
        let results = store.root().join("slurm/results");
        std::fs::create_dir_all(&results).map_err(|source| SubmitError::Io { path: results, source })?;
        let (tx, rx) = mpsc::channel();
        let mut c = Coordinator::new(settings, exe, store, events, detach, Box::new(RealSlurm));
        // One refusal up front, not one failed record per instance.
        c.test_submission()?;
        c.reunite();
        let thread = std::thread::spawn(move || c.run(rx));
        Ok(SlurmExecutor { local, tx: Some(tx), thread: Some(thread) })
    }
}

impl Executor for SlurmExecutor {
    fn slots(&self) -> usize {
        // Slurm queues what it cannot start; the local pool queues light stages.
        100_000
    }

    fn submit(&mut self, work: Work) {
        if work.isolated {
            if let Some(tx) = &self.tx {
                let _ = tx.send(Message::Work(work));
            }
        } else {
            self.local.submit(work);
        }
    }

    fn cancel(&mut self) {
        self.local.cancel();
        if let Some(tx) = &self.tx {
            let _ = tx.send(Message::Cancel);
        }
    }

    fn shutdown(mut self: Box<Self>) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        Box::new(self.local).shutdown();
    }
}

struct Coordinator {
    settings: SlurmSettings,
    exe: PathBuf,
    cache_id: String,
    store: Store,
    events: Outbox,
    /// Key → the instance, while it has not finished.
    tracked: HashMap<String, Tracked>,
    works: HashMap<usize, WorkState>,
    next_work: usize,
    /// Batches with tasks that may still run: this run's and adopted ones.
    batches: BTreeMap<String, Batch>,
    /// Keys to submit in the next batch (a group a line, as work items).
    waiting: VecDeque<Vec<String>>,
    last_squeue: Instant,
    detach: bool,
    commands: Box<dyn SlurmCommands>,
    /// The last line said about pending tasks, so it is said again only when it changes.
    pending_note: String,
}

impl Coordinator {
    fn new(
        settings: SlurmSettings,
        exe: PathBuf,
        store: Store,
        events: Outbox,
        detach: bool,
        commands: Box<dyn SlurmCommands>,
    ) -> Coordinator {
        Coordinator {
            settings,
            exe,
            cache_id: cache_id(store.root()),
            store,
            events,
            tracked: HashMap::new(),
            works: HashMap::new(),
            next_work: 0,
            batches: BTreeMap::new(),
            waiting: VecDeque::new(),
            last_squeue: Instant::now() - Duration::from_secs(60),
            detach,
            commands,
            pending_note: String::new(),
        }
    }

    /// `sbatch --test-only` with this run's options: a bad partition, account or limit is one
    /// refusal before anything is submitted.
    fn test_submission(&self) -> Result<(), SubmitError> {
        let dir = self.slurm_dir();
        let io = |source: std::io::Error| SubmitError::Io { path: dir.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let script = tempfile::Builder::new().prefix(".test-only.").suffix(".sh").tempfile_in(&dir).map_err(io)?;
        std::fs::write(script.path(), "#!/bin/sh\ntrue\n").map_err(io)?;
        let mut args = self.sbatch_args("test-only", &dir, 1).map_err(io)?;
        args.retain(|a| !a.starts_with("--output="));
        args.push("--output=/dev/null".into());
        match self.commands.test_only(&args, script.path()) {
            Ok(()) => Ok(()),
            // Slurm cannot be asked now (sbatch missing, the controller down): that is no verdict
            // on the settings, and a run that submits nothing must not fail for it.
            Err(CommandError::Spawn { .. }) => Ok(()),
            Err(CommandError::Refused(m)) if unreachable_controller(&m) => Ok(()),
            Err(e) => Err(SubmitError::Refused(e)),
        }
    }

    fn slurm_dir(&self) -> PathBuf {
        self.store.root().join("slurm")
    }

    /// Finds the batches of an earlier coordinator of this cache that Slurm still runs or queues.
    fn reunite(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.slurm_dir()) else { return };
        let Ok(live) = self.commands.squeue(&job_prefix(&self.cache_id)) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let dir = entry.path();
            let job_id = match std::fs::read_to_string(dir.join("job_id")) {
                Ok(id) if !id.trim().is_empty() => id.trim().to_owned(),
                // A coordinator killed during `sbatch` never wrote the job id; the job's name
                // carries the batch, so Slurm tells it.
                _ => {
                    let wanted = format!("{}{name}", job_prefix(&self.cache_id));
                    match live.iter().find(|(_, q)| q.name == wanted) {
                        Some((id, _)) => {
                            let id = job_of(id).to_owned();
                            let _ = self.store.write_atomic(&dir.join("job_id"), id.as_bytes());
                            id
                        }
                        None => continue,
                    }
                }
            };
            if !live.keys().any(|id| job_of(id) == job_id) {
                continue;
            }
            // Only the tasks still queued or running are adopted: a finished one left its results
            // (ingested) or failed (its instances run again).
            let mut tasks = Vec::new();
            for n in 0.. {
                match std::fs::read_to_string(dir.join("tasks").join(n.to_string())) {
                    Ok(text) if is_live(&live, &job_id, n) => {
                        tasks.push(text.split_whitespace().map(str::to_owned).collect())
                    }
                    Ok(_) => tasks.push(Vec::new()),
                    Err(_) => break,
                }
            }
            self.batches.insert(name, Batch { job_id, tasks });
        }
    }

    fn run(mut self, rx: Receiver<Message>) {
        loop {
            let timeout = if self.tracked.is_empty() { Duration::from_secs(3600) } else { Duration::from_millis(200) };
            match rx.recv_timeout(timeout) {
                Ok(Message::Work(w)) => {
                    self.accept(w);
                    // The dispatcher hands out a whole stage at once: gather it into one batch.
                    while let Ok(m) = rx.recv_timeout(Duration::from_millis(50)) {
                        match m {
                            Message::Work(w) => self.accept(w),
                            Message::Cancel => self.cancel_all(),
                        }
                    }
                    self.submit_waiting();
                }
                Ok(Message::Cancel) => self.cancel_all(),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if self.tracked.is_empty() {
                        return;
                    }
                    // Nothing more will come: only Slurm's answers are awaited.
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            self.poll();
            self.submit_waiting();
            if self.detach {
                self.detach_submitted();
            }
        }
    }

    /// `--detach`: every instance that runs on Slurm is reported detached and no longer followed.
    fn detach_submitted(&mut self) {
        let keys: Vec<String> = self.tracked.iter().filter(|(_, t)| t.task.is_some()).map(|(k, _)| k.clone()).collect();
        for key in keys {
            let t = self.tracked.remove(&key).expect("tracked");
            let _ = self.events.send(Event::Detached { stage: t.stage, index: t.index });
            self.work_step(t.work);
        }
    }

    /// One instance of work item `work` is settled; the item's slots free up with its last.
    fn work_step(&mut self, work: usize) {
        let w = self.works.get_mut(&work).expect("work of a tracked instance");
        w.left -= 1;
        if w.left == 0 {
            let weight = w.weight;
            self.works.remove(&work);
            let _ = self.events.send(Event::WorkDone { weight });
        }
    }

    /// Takes a work item: instances already finished by a node are ingested, instances in a
    /// live batch adopted, the rest wait for the next submission.
    fn accept(&mut self, w: Work) {
        let id = self.next_work;
        self.next_work += 1;
        self.works.insert(id, WorkState { weight: w.weight, left: w.items.len() });
        let mut fresh = Vec::new();
        for (index, job) in &w.items {
            let key = job.key.clone();
            let adopted = self
                .batches
                .iter()
                .find_map(|(b, batch)| batch.tasks.iter().position(|t| t.contains(&key)).map(|n| (b.clone(), n)));
            let _ = self.events.send(Event::Started { stage: w.stage, index: *index });
            self.tracked.insert(
                key.clone(),
                Tracked {
                    work: id,
                    stage: w.stage,
                    index: *index,
                    task: adopted.clone(),
                    attempts: 0,
                    resubmitted_stale: false,
                    stuck_since: None,
                },
            );
            if adopted.is_some() {
                continue;
            }
            // Written even when a result is there: if its objects are gone, it runs again.
            match write_job(&self.store, job) {
                Ok(_) if result_path(&self.store, &key).exists() => {}
                Ok(_) => fresh.push(key),
                Err(e) => self.finish(&key, Err(ExecFailure::Failed(e.to_string())), String::new(), 0.0, Map::new()),
            }
        }
        if !fresh.is_empty() {
            self.waiting.push_back(fresh);
        }
    }

    /// Submits the waiting instances as one job array.
    fn submit_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let units: Vec<Vec<String>> = self.waiting.drain(..).collect();
        let n_tasks = self.settings.tasks_for(units.len());
        let mut tasks: Vec<Vec<Vec<String>>> = vec![Vec::new(); n_tasks];
        for (i, unit) in units.into_iter().enumerate() {
            tasks[i % n_tasks].push(unit);
        }
        let batch = format!("{}-{}", now_stamp(), std::process::id());
        match self.write_and_submit(&batch, &tasks) {
            Ok(job_id) => {
                for (n, task) in tasks.iter().enumerate() {
                    for key in task.iter().flatten() {
                        if let Some(t) = self.tracked.get_mut(key) {
                            t.task = Some((batch.clone(), n));
                        }
                    }
                }
                let keys = tasks.iter().map(|t| t.iter().flatten().cloned().collect()).collect();
                self.batches.insert(batch, Batch { job_id, tasks: keys });
            }
            Err(e) => {
                for key in tasks.iter().flatten().flatten() {
                    self.finish(key, Err(ExecFailure::Failed(format!("sbatch: {e}"))), String::new(), 0.0, Map::new());
                }
            }
        }
    }

    fn write_and_submit(&self, batch: &str, tasks: &[Vec<Vec<String>>]) -> Result<String, SubmitError> {
        let dir = self.slurm_dir().join(batch);
        let io = |source: std::io::Error| SubmitError::Io { path: dir.clone(), source };
        std::fs::create_dir_all(dir.join("tasks")).map_err(io)?;
        std::fs::create_dir_all(dir.join("logs")).map_err(io)?;
        for (n, task) in tasks.iter().enumerate() {
            let text: String = task.iter().map(|group| group.join(" ") + "\n").collect();
            self.store.write_atomic(&dir.join("tasks").join(n.to_string()), text.as_bytes())?;
        }
        let cache = std::fs::canonicalize(self.store.root()).map_err(io)?;
        std::fs::write(dir.join("job.sh"), batch_script(batch, &self.exe, &cache, &dir)).map_err(io)?;
        let args = self.sbatch_args(batch, &dir, tasks.len()).map_err(io)?;
        let job_id = self.commands.sbatch(&args, &dir.join("job.sh"))?;
        self.store.write_atomic(&dir.join("job_id"), job_id.as_bytes())?;
        Ok(job_id)
    }

    /// The options of batch `batch` of `n_tasks` array tasks, its folder `dir`.
    fn sbatch_args(&self, batch: &str, dir: &std::path::Path, n_tasks: usize) -> Result<Vec<String>, std::io::Error> {
        let s = &self.settings;
        let array = match s.max_concurrent {
            Some(k) => format!("0-{}%{k}", n_tasks - 1),
            None => format!("0-{}", n_tasks - 1),
        };
        let mut args = vec![
            format!("--job-name={}{batch}", job_prefix(&self.cache_id)),
            format!("--array={array}"),
            format!("--output={}/logs/%a.log", dir.display()),
            format!("--chdir={}", std::env::current_dir()?.display()),
        ];
        for (flag, value) in [
            ("partition", &s.partition),
            ("account", &s.account),
            ("time", &s.time),
            ("mem", &s.mem),
            ("gres", &s.gres),
        ] {
            if let Some(v) = value {
                args.push(format!("--{flag}={v}"));
            }
        }
        if let Some(c) = s.cpus_per_task {
            args.push(format!("--cpus-per-task={c}"));
        }
        args.extend(s.sbatch_args.iter().cloned());
        Ok(args)
    }

    /// Ingests result files; every few seconds asks Slurm about tasks that ended without them.
    fn poll(&mut self) {
        let keys: Vec<String> = self.tracked.keys().cloned().collect();
        for key in &keys {
            self.ingest(key);
        }
        if self.tracked.is_empty() || self.last_squeue.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_squeue = Instant::now();
        let Ok(live) = self.commands.squeue(&job_prefix(&self.cache_id)) else { return };
        let mut ended: Vec<(String, String, usize)> = Vec::new();
        let mut pending: BTreeMap<String, std::collections::BTreeSet<(String, usize)>> = BTreeMap::new();
        let mut stuck: Vec<(String, String)> = Vec::new();
        let patience = self.settings.stuck_patience();
        for (key, t) in self.tracked.iter_mut() {
            let Some((batch, n)) = &t.task else { continue };
            let job_id = &self.batches[batch].job_id;
            match task_entry(&live, job_id, *n) {
                None => ended.push((key.clone(), batch.clone(), *n)),
                Some(q) => {
                    if q.state == "PENDING" {
                        pending.entry(q.reason.clone()).or_default().insert((job_id.clone(), *n));
                    }
                    if !q.is_stuck() {
                        t.stuck_since = None;
                        continue;
                    }
                    let since = *t.stuck_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= patience {
                        stuck.push((key.clone(), format!(
                            "slurm task {job_id}_{n} is {} ({}) for {} s or more: release it (`scontrol release {job_id}`), resume its node or cancel it (`scancel {job_id}`), then run again",
                            q.state.to_lowercase(), q.reason, patience.as_secs()
                        )));
                    }
                }
            }
        }
        self.note_pending(&pending);
        for (key, why) in stuck {
            let mut place = Map::new();
            if let Some((batch, n)) = self.tracked.get(&key).and_then(|t| t.task.clone()) {
                place.insert("slurm_job_id".into(), json!(self.batches[&batch].job_id));
                place.insert("slurm_array_index".into(), json!(n.to_string()));
            }
            self.finish(&key, Err(ExecFailure::Failed(why)), String::new(), 0.0, place);
        }
        for (key, batch, n) in ended {
            // The node may have written its result just before the task ended (or one whose
            // objects are gone, and the instance waits to be submitted again).
            if self.ingest(&key) || self.tracked.get(&key).is_none_or(|t| t.task.is_none()) {
                continue;
            }
            let job_id = self.batches[&batch].job_id.clone();
            let log = self.slurm_dir().join(&batch).join("logs").join(format!("{n}.log"));
            // Slurm forgets an array task cancelled before it started; one that started has a log.
            let state = self
                .commands
                .task_state(&job_id, n)
                .map(|s| TaskState::from_slurm(&s))
                .unwrap_or(if log.exists() { TaskState::Forgotten } else { TaskState::Cancelled });
            let tail = log_tail(&log);
            let retries = self.settings.retries.unwrap_or(0);
            let t = self.tracked.get_mut(&key).expect("tracked");
            if t.attempts < retries && state != TaskState::Cancelled {
                t.attempts += 1;
                t.task = None;
                self.waiting.push_back(vec![key]);
                continue;
            }
            let failure = if state == TaskState::Cancelled {
                ExecFailure::Failed(format!("slurm task {job_id}_{n} was cancelled{tail}"))
            } else {
                ExecFailure::Failed(format!("slurm task {job_id}_{n} ended ({state}) without a result{tail}"))
            };
            let mut place = Map::new();
            place.insert("slurm_job_id".into(), json!(job_id));
            place.insert("slurm_array_index".into(), json!(n.to_string()));
            place.insert("slurm_state".into(), json!(state.to_string()));
            self.finish(&key, Err(failure), String::new(), 0.0, place);
        }
    }

    /// Says why tasks wait, when that changes: `3 Slurm task(s) pending: Resources`.
    fn note_pending(&mut self, pending: &BTreeMap<String, std::collections::BTreeSet<(String, usize)>>) {
        let line = pending
            .iter()
            .map(|(reason, tasks)| {
                let reason = if reason.is_empty() { "no reason given" } else { reason };
                format!("{} Slurm task(s) pending: {reason}", tasks.len())
            })
            .collect::<Vec<_>>()
            .join("; ");
        if line != self.pending_note {
            if !line.is_empty() {
                let _ = self.events.send(Event::Note { word: "Waiting", message: line.clone() });
            }
            self.pending_note = line;
        }
    }

    /// Reports `key` if its node left a result; whether it did. A result whose objects are not
    /// all in the store (a `gc` while it waited, a lost disk) is not recorded: the file is
    /// dropped and the instance submitted again, once.
    fn ingest(&mut self, key: &str) -> bool {
        let path = result_path(&self.store, key);
        let Ok(bytes) = std::fs::read(&path) else { return false };
        let Ok(r) = serde_json::from_slice::<NodeResult>(&bytes) else { return false };
        if let Some(ok) = &r.ok {
            let mut bad = None;
            for (name, h) in &ok.outputs {
                match self.store.verify(h) {
                    Ok(()) => {}
                    Err(e @ (StoreError::Missing(_) | StoreError::Corrupt { .. })) => {
                        bad = Some((name.clone(), e));
                        break;
                    }
                    // A passing read error (NFS): keep the result and look again at the next poll.
                    Err(_) => return false,
                }
            }
            if let Some((name, e)) = bad {
                let _ = std::fs::remove_file(&path);
                let t = self.tracked.get_mut(key).expect("tracked");
                if t.resubmitted_stale {
                    let failure = format!("the node's result names output {name}, which the store lost again: {e}");
                    self.finish(key, Err(ExecFailure::Failed(failure)), r.started_at, r.seconds, r.place);
                    return true;
                }
                t.resubmitted_stale = true;
                t.task = None;
                let _ = self.events.send(Event::Note {
                    word: "Resubmit",
                    message: format!(
                        "key {}: its node's result names output {name}, but {e}; it runs again",
                        key.get(..12).unwrap_or(key)
                    ),
                });
                self.waiting.push_back(vec![key.to_owned()]);
                return false;
            }
        }
        let result = match (r.ok, r.error) {
            (Some(ok), _) => Ok(ok),
            (None, e) => {
                // A failure is recorded in provenance; a rerun must execute the instance again.
                let _ = std::fs::remove_file(result_path(&self.store, key));
                Err(ExecFailure::Failed(e.unwrap_or_else(|| "no result".into())))
            }
        };
        self.finish(key, result, r.started_at, r.seconds, r.place);
        true
    }

    fn finish(
        &mut self,
        key: &str,
        result: Result<ExecResult, ExecFailure>,
        started_at: String,
        seconds: f64,
        place: Map<String, Value>,
    ) {
        let Some(t) = self.tracked.remove(key) else { return };
        let _ =
            self.events.send(Event::Finished { stage: t.stage, index: t.index, result, started_at, seconds, place });
        self.work_step(t.work);
    }

    /// Ctrl-C: cancels this run's jobs and reports their instances cancelled.
    fn cancel_all(&mut self) {
        let ids: Vec<String> = self.batches.values().map(|b| b.job_id.clone()).collect();
        self.commands.scancel(&ids);
        self.waiting.clear();
        let keys: Vec<String> = self.tracked.keys().cloned().collect();
        for key in keys {
            self.finish(&key, Err(ExecFailure::Cancelled), String::new(), 0.0, Map::new());
        }
    }
}

/// Whether sbatch's message says it could not reach the controller (not a refusal of the job).
fn unreachable_controller(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["unable to contact", "socket timed out", "connection refused", "slurm_conf", "no such file"]
        .iter()
        .any(|w| m.contains(w))
}

/// The coordinator against a fake cluster: what it submits, retries, adopts and reports, without
/// a Slurm (the end-to-end tests run the same against a real one).
#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::engine::executor::events::{channel, Inbox};
    use crate::job::Job;

    /// A cluster that only answers: it records what `sbatch` and `scancel` were asked, and shows
    /// the tasks and final states a test sets.
    #[derive(Default)]
    struct Cluster {
        submitted: Mutex<Vec<Vec<String>>>,
        live: Mutex<super::super::commands::Queue>,
        states: Mutex<HashMap<String, String>>,
        cancelled: Mutex<Vec<String>>,
        refuse: Option<String>,
    }

    #[derive(Clone, Default)]
    struct FakeSlurm(Arc<Cluster>);

    impl SlurmCommands for FakeSlurm {
        fn sbatch(&self, args: &[String], _script: &Path) -> Result<String, CommandError> {
            if let Some(message) = &self.0.refuse {
                return Err(CommandError::Refused(message.clone()));
            }
            let mut submitted = self.0.submitted.lock().unwrap();
            submitted.push(args.to_vec());
            Ok((100 + submitted.len()).to_string())
        }
        fn test_only(&self, _args: &[String], _script: &Path) -> Result<(), CommandError> {
            match &self.0.refuse {
                Some(message) => Err(CommandError::Refused(message.clone())),
                None => Ok(()),
            }
        }
        fn squeue(&self, _name_prefix: &str) -> Result<super::super::commands::Queue, CommandError> {
            Ok(self.0.live.lock().unwrap().clone())
        }
        fn task_state(&self, job_id: &str, n: usize) -> Option<String> {
            self.0.states.lock().unwrap().get(&format!("{job_id}_{n}")).cloned()
        }
        fn scancel(&self, job_ids: &[String]) {
            self.0.cancelled.lock().unwrap().extend(job_ids.iter().cloned());
        }
    }

    impl FakeSlurm {
        fn sbatch_calls(&self) -> usize {
            self.0.submitted.lock().unwrap().len()
        }
        fn set_state(&self, task: &str, state: &str) {
            self.0.states.lock().unwrap().insert(task.into(), state.into());
        }
        /// Shows `task` in the queue as `state` for `reason`.
        fn queue(&self, task: &str, name: &str, state: &str, reason: &str) {
            let q = super::super::commands::Queued { name: name.into(), state: state.into(), reason: reason.into() };
            self.0.live.lock().unwrap().insert(task.into(), q);
        }
        fn run(&self, task: &str) {
            self.queue(task, "sgdnoise-x-b", "RUNNING", "None");
        }
    }

    fn coordinator(dir: &Path, slurm: &FakeSlurm, retries: Option<usize>) -> (Coordinator, Inbox) {
        let store = Store::open(dir).unwrap();
        std::fs::create_dir_all(dir.join("slurm/results")).unwrap();
        let (events, inbox) = channel();
        let settings = SlurmSettings { retries, ..Default::default() };
        let exe = PathBuf::from("/nonexistent/sgdnoise-torch");
        let c = Coordinator::new(settings, exe, store, events, false, Box::new(slurm.clone()));
        (c, inbox)
    }

    fn job(key: &str) -> Job {
        Job {
            key: key.into(),
            stage: "train".into(),
            instance: format!("train[{key}]"),
            kind: "train".into(),
            params: Default::default(),
            inputs: Vec::new(),
            threads: 1,
            device: "cpu".into(),
            partial: None,
            libtorch: None,
        }
    }

    fn work(keys: &[&str]) -> Work {
        Work { stage: 0, items: keys.iter().enumerate().map(|(i, k)| (i, job(k))).collect(), isolated: true, weight: 1 }
    }

    /// Polls as if Slurm had not been asked for a while.
    fn poll_now(c: &mut Coordinator) {
        c.last_squeue = Instant::now() - Duration::from_secs(60);
        c.poll();
    }

    /// The instances reported finished so far: (index, Ok or the failure's words, Slurm's state).
    fn finished(inbox: &Inbox) -> Vec<(usize, Result<(), String>, Option<String>)> {
        inbox
            .try_iter()
            .filter_map(|e| match e {
                Event::Finished { index, result, place, .. } => Some((
                    index,
                    result.map(|_| ()).map_err(|f| match f {
                        ExecFailure::Failed(m) => m,
                        ExecFailure::Cancelled => "cancelled".into(),
                    }),
                    place.get("slurm_state").and_then(Value::as_str).map(str::to_owned),
                )),
                _ => None,
            })
            .collect()
    }

    fn leave_result(store: &Store, key: &str) {
        let r = NodeResult {
            key: key.into(),
            ok: Some(ExecResult { outputs: BTreeMap::new(), metrics: json!({}) }),
            error: None,
            started_at: "2026-12-06T00:00:00Z".into(),
            seconds: 1.0,
            place: [("node".to_owned(), json!("n1"))].into_iter().collect(),
        };
        std::fs::write(result_path(store, key), serde_json::to_vec(&r).unwrap()).unwrap();
    }

    #[test]
    fn a_result_a_node_leaves_is_ingested_with_where_it_ran() {
        let dir = tempfile::tempdir().unwrap();
        let slurm = FakeSlurm::default();
        let (mut c, inbox) = coordinator(dir.path(), &slurm, None);
        c.accept(work(&["k1"]));
        c.submit_waiting();
        assert_eq!(slurm.sbatch_calls(), 1);
        slurm.run("101_0");
        poll_now(&mut c);
        assert!(finished(&inbox).is_empty(), "still running");
        leave_result(&c.store, "k1");
        poll_now(&mut c);
        assert_eq!(finished(&inbox), [(0, Ok(()), None)]);
        assert!(c.tracked.is_empty());
    }

    #[test]
    fn a_lost_task_is_resubmitted_then_fails_naming_slurms_state() {
        let dir = tempfile::tempdir().unwrap();
        let slurm = FakeSlurm::default();
        let (mut c, inbox) = coordinator(dir.path(), &slurm, Some(1));
        c.accept(work(&["k1"]));
        c.submit_waiting();
        slurm.set_state("101_0", "NODE_FAIL");
        poll_now(&mut c);
        assert!(finished(&inbox).is_empty(), "one retry left");
        c.submit_waiting();
        assert_eq!(slurm.sbatch_calls(), 2, "resubmitted");
        slurm.set_state("102_0", "NODE_FAIL");
        poll_now(&mut c);
        let f = finished(&inbox);
        assert_eq!(f.len(), 1);
        let (_, result, state) = &f[0];
        assert_eq!(result.as_ref().unwrap_err(), "slurm task 102_0 ended (NODE_FAIL) without a result");
        assert_eq!(state.as_deref(), Some("NODE_FAIL"));
    }

    #[test]
    fn a_time_limit_and_an_out_of_memory_kill_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let slurm = FakeSlurm::default();
        let (mut c, inbox) = coordinator(dir.path(), &slurm, None);
        // Two work items are two units, spread over two array tasks.
        c.accept(work(&["k1"]));
        c.accept(Work { items: vec![(1, job("k2"))], ..work(&[]) });
        c.submit_waiting();
        slurm.set_state("101_0", "TIMEOUT");
        slurm.set_state("101_1", "OUT_OF_MEMORY");
        poll_now(&mut c);
        let mut f = finished(&inbox);
        f.sort_by_key(|(i, ..)| *i);
        let states: Vec<Option<&str>> = f.iter().map(|(_, _, s)| s.as_deref()).collect();
        assert_eq!(states, [Some("TIMEOUT"), Some("OUT_OF_MEMORY")]);
        assert!(f[1].1.as_ref().unwrap_err().contains("ended (OUT_OF_MEMORY) without a result"), "{f:?}");
        assert_eq!(slurm.sbatch_calls(), 1, "no retries asked for");
    }

    #[test]
    fn a_cancelled_task_is_never_retried() {
        let dir = tempfile::tempdir().unwrap();
        let slurm = FakeSlurm::default();
        let (mut c, inbox) = coordinator(dir.path(), &slurm, Some(3));
        c.accept(work(&["k1"]));
        c.submit_waiting();
        // Slurm forgot it and it left no log: cancelled before it started.
        poll_now(&mut c);
        c.submit_waiting();
        let f = finished(&inbox);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].1.as_ref().unwrap_err(), "slurm task 101_0 was cancelled");
        assert_eq!(slurm.sbatch_calls(), 1);
    }

    #[test]
    fn a_restarted_coordinator_adopts_live_tasks_and_takes_results_already_there() {
        let dir = tempfile::tempdir().unwrap();
        let slurm = FakeSlurm::default();
        let (mut c, inbox) = coordinator(dir.path(), &slurm, None);
        // An earlier coordinator's batch: task 0 (k1) still runs, task 1 (k2) finished.
        let batch = dir.path().join("slurm/1-1");
        std::fs::create_dir_all(batch.join("tasks")).unwrap();
        std::fs::write(batch.join("job_id"), "55").unwrap();
        std::fs::write(batch.join("tasks/0"), "k1\n").unwrap();
        std::fs::write(batch.join("tasks/1"), "k2\n").unwrap();
        leave_result(&c.store, "k2");
        slurm.run("55_0");
        c.reunite();
        c.accept(work(&["k1", "k2", "k3"]));
        c.submit_waiting();
        let submitted = slurm.0.submitted.lock().unwrap().clone();
        assert_eq!(submitted.len(), 1, "one new batch");
        let new_batch = c.batches.keys().find(|b| b.as_str() != "1-1").unwrap().clone();
        let tasks = std::fs::read_to_string(dir.path().join("slurm").join(new_batch).join("tasks/0")).unwrap();
        assert_eq!(tasks, "k3\n", "only the instance nobody runs is submitted");
        slurm.run("101_0");
        poll_now(&mut c);
        assert_eq!(finished(&inbox), [(1, Ok(()), None)], "k2's result is taken");
        assert!(c.tracked.contains_key("k1"), "k1 is followed in the adopted task");
    }

    #[test]
    fn a_refused_submission_fails_each_instance_with_sbatchs_words() {
        let dir = tempfile::tempdir().unwrap();
        let slurm = FakeSlurm(Arc::new(Cluster {
            refuse: Some("invalid partition specified: gpu".into()),
            ..Default::default()
        }));
        let (mut c, inbox) = coordinator(dir.path(), &slurm, None);
        c.accept(work(&["k1", "k2"]));
        c.submit_waiting();
        let f = finished(&inbox);
        assert_eq!(f.len(), 2);
        assert!(
            f.iter().all(|(_, r, _)| r.as_ref().unwrap_err() == "sbatch: invalid partition specified: gpu"),
            "{f:?}"
        );
    }

    #[test]
    fn cancelling_cancels_this_runs_jobs_and_reports_each_instance() {
        let dir = tempfile::tempdir().unwrap();
        let slurm = FakeSlurm::default();
        let (mut c, inbox) = coordinator(dir.path(), &slurm, None);
        c.accept(work(&["k1", "k2"]));
        c.submit_waiting();
        c.cancel_all();
        assert_eq!(*slurm.0.cancelled.lock().unwrap(), ["101"]);
        let f = finished(&inbox);
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(|(_, r, _)| r.as_ref().unwrap_err() == "cancelled"));
    }

    /// The notes the coordinator sent so far.
    fn notes(inbox: &Inbox) -> Vec<String> {
        inbox
            .try_iter()
            .filter_map(|e| match e {
                Event::Note { word, message } => Some(format!("{word} {message}")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn pending_tasks_say_why_and_held_ones_stop_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let slurm = FakeSlurm::default();
        let (mut c, inbox) = coordinator(dir.path(), &slurm, Some(2));
        c.settings.stuck_timeout = Some(3600);
        c.accept(work(&["k1"]));
        c.submit_waiting();
        slurm.queue("101_[0]", "sgdnoise-x-b", "PENDING", "Resources");
        poll_now(&mut c);
        assert_eq!(notes(&inbox), ["Waiting 1 Slurm task(s) pending: Resources"]);
        poll_now(&mut c);
        assert!(notes(&inbox).is_empty(), "said once, until it changes");
        slurm.0.live.lock().unwrap().clear();
        slurm.queue("101_0", "sgdnoise-x-b", "PENDING", "launch failed requeued held");
        poll_now(&mut c);
        assert_eq!(notes(&inbox), ["Waiting 1 Slurm task(s) pending: launch failed requeued held"]);
        assert!(c.tracked.contains_key("k1"), "held, but not for long yet");
        c.tracked.get_mut("k1").unwrap().stuck_since = Some(Instant::now() - Duration::from_secs(4000));
        poll_now(&mut c);
        let f = finished(&inbox);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].1.as_ref().unwrap_err(),
            "slurm task 101_0 is pending (launch failed requeued held) for 3600 s or more: release it (`scontrol release 101`), resume its node or cancel it (`scancel 101`), then run again"
        );
        assert_eq!(slurm.sbatch_calls(), 1, "a held task is not resubmitted beside itself");
    }

    #[test]
    fn a_result_whose_objects_are_gone_runs_again_and_is_never_recorded_ok() {
        let dir = tempfile::tempdir().unwrap();
        let slurm = FakeSlurm::default();
        let (mut c, inbox) = coordinator(dir.path(), &slurm, None);
        let gone = "ab".repeat(32);
        let stale = |store: &Store| {
            let r = NodeResult {
                key: "k1".into(),
                ok: Some(ExecResult { outputs: [("record.json".to_owned(), gone.clone())].into(), metrics: json!({}) }),
                error: None,
                started_at: "2026-12-06T00:00:00Z".into(),
                seconds: 1.0,
                place: Map::new(),
            };
            std::fs::write(result_path(store, "k1"), serde_json::to_vec(&r).unwrap()).unwrap();
        };
        // A result left before a gc removed its object: the rerun finds it at once.
        stale(&c.store);
        c.accept(work(&["k1"]));
        c.submit_waiting();
        assert_eq!(slurm.sbatch_calls(), 0, "a result is there");
        poll_now(&mut c);
        assert!(notes(&inbox).iter().any(|n| n.starts_with("Resubmit key k1") && n.contains("it runs again")));
        assert!(c.tracked.contains_key("k1"), "not finished, not recorded");
        assert!(!result_path(&c.store, "k1").exists(), "the stale result is dropped");
        c.submit_waiting();
        assert_eq!(slurm.sbatch_calls(), 1, "submitted again");
        assert!(c.store.job_path("k1").exists(), "with its job file");
        // Lost a second time: a failure, not a loop.
        stale(&c.store);
        poll_now(&mut c);
        let f = finished(&inbox);
        assert_eq!(f.len(), 1);
        assert!(f[0].1.as_ref().unwrap_err().contains("which the store lost again"), "{f:?}");
    }

    #[test]
    fn a_batch_whose_job_id_was_never_written_is_found_by_name_and_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let slurm = FakeSlurm::default();
        let (mut c, _inbox) = coordinator(dir.path(), &slurm, None);
        // The coordinator died inside `sbatch`: the batch folder has tasks but no job_id.
        let batch = dir.path().join("slurm/7-7");
        std::fs::create_dir_all(batch.join("tasks")).unwrap();
        std::fs::write(batch.join("tasks/0"), "k1\n").unwrap();
        let name = format!("{}7-7", job_prefix(&c.cache_id));
        slurm.queue("77_0", &name, "RUNNING", "None");
        c.reunite();
        assert_eq!(std::fs::read_to_string(batch.join("job_id")).unwrap(), "77");
        c.accept(work(&["k1"]));
        c.submit_waiting();
        assert_eq!(slurm.sbatch_calls(), 0, "not submitted twice");
        assert_eq!(c.tracked["k1"].task, Some(("7-7".into(), 0)));
    }

    #[test]
    fn a_refused_test_submission_is_one_error_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let slurm = FakeSlurm(Arc::new(Cluster {
            refuse: Some("invalid partition specified: gpu".into()),
            ..Default::default()
        }));
        let (c, _inbox) = coordinator(dir.path(), &slurm, None);
        let e = c.test_submission().unwrap_err();
        assert_eq!(
            e.to_string(),
            "Slurm refuses these settings (sbatch --test-only): invalid partition specified: gpu"
        );
        assert_eq!(slurm.sbatch_calls(), 0);
    }
}
