//! The coordinator: the executor's thread that batches instances into job arrays, submits them,
//! ingests the result files nodes leave, asks Slurm what became of tasks that ended without
//! them (retrying lost ones), and reunites with the batches of an earlier coordinator.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::commands::{batch_script, is_live, job_prefix, CommandError, RealSlurm, SlurmCommands, TaskState};
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
enum SubmitError {
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sbatch(#[from] CommandError),
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
    ) -> Result<SlurmExecutor, std::io::Error> {
        std::fs::create_dir_all(store.root().join("slurm/results"))?;
        let (tx, rx) = mpsc::channel();
        let mut c = Coordinator::new(settings, exe, store, events, detach, Box::new(RealSlurm));
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
            let Ok(job_id) = std::fs::read_to_string(dir.join("job_id")) else { continue };
            let job_id = job_id.trim().to_owned();
            if !live.iter().any(|id| id.split('_').next() == Some(job_id.as_str())) {
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
                Tracked { work: id, stage: w.stage, index: *index, task: adopted.clone(), attempts: 0 },
            );
            if result_path(&self.store, &key).exists() || adopted.is_some() {
                continue;
            }
            match write_job(&self.store, job) {
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
        let s = &self.settings;
        let array = match s.max_concurrent {
            Some(k) => format!("0-{}%{k}", tasks.len() - 1),
            None => format!("0-{}", tasks.len() - 1),
        };
        let mut args = vec![
            format!("--job-name={}{batch}", job_prefix(&self.cache_id)),
            format!("--array={array}"),
            format!("--output={}/logs/%a.log", dir.display()),
            format!("--chdir={}", std::env::current_dir().map_err(io)?.display()),
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
        let job_id = self.commands.sbatch(&args, &dir.join("job.sh"))?;
        std::fs::write(dir.join("job_id"), &job_id).map_err(io)?;
        Ok(job_id)
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
        for (key, t) in &self.tracked {
            if let Some((batch, n)) = &t.task {
                let job_id = &self.batches[batch].job_id;
                if !is_live(&live, job_id, *n) {
                    ended.push((key.clone(), batch.clone(), *n));
                }
            }
        }
        for (key, batch, n) in ended {
            // The node may have written its result just before the task ended.
            if self.ingest(&key) {
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

    /// Reports `key` if its node left a result; whether it did.
    fn ingest(&mut self, key: &str) -> bool {
        let Ok(bytes) = std::fs::read(result_path(&self.store, key)) else { return false };
        let Ok(r) = serde_json::from_slice::<NodeResult>(&bytes) else { return false };
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

/// The coordinator against a fake cluster: what it submits, retries, adopts and reports, without
/// a Slurm (the end-to-end tests run the same against a real one).
#[cfg(test)]
mod tests {
    use std::collections::HashSet;
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
        live: Mutex<HashSet<String>>,
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
        fn squeue(&self, _name_prefix: &str) -> Result<HashSet<String>, CommandError> {
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
        slurm.0.live.lock().unwrap().insert("101_0".into());
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
        slurm.0.live.lock().unwrap().insert("55_0".into());
        c.reunite();
        c.accept(work(&["k1", "k2", "k3"]));
        c.submit_waiting();
        let submitted = slurm.0.submitted.lock().unwrap().clone();
        assert_eq!(submitted.len(), 1, "one new batch");
        let new_batch = c.batches.keys().find(|b| b.as_str() != "1-1").unwrap().clone();
        let tasks = std::fs::read_to_string(dir.path().join("slurm").join(new_batch).join("tasks/0")).unwrap();
        assert_eq!(tasks, "k3\n", "only the instance nobody runs is submitted");
        slurm.0.live.lock().unwrap().insert("101_0".into());
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
}
