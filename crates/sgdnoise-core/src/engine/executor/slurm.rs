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

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::events::{Event, Executor, Outbox, Work};
use super::local::LocalPool;
use crate::engine::exec::{write_job, ExecFailure, ExecResult};
use crate::store::{Store, StoreError};

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
    fn tasks_for(&self, units: usize) -> usize {
        match self.pack {
            Some(pack) => units.div_ceil(pack.max(1)),
            None => units.min(self.max_tasks.unwrap_or(10).max(1)),
        }
    }
}

/// What a node leaves for the coordinator: `slurm/results/KEY.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeResult {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<ExecResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub started_at: String,
    pub seconds: f64,
    /// Where it ran: node, Slurm job id, array index, devices.
    pub place: Map<String, Value>,
}

/// The result file of `key`.
pub fn result_path(store: &Store, key: &str) -> PathBuf {
    store.root().join("slurm/results").join(format!("{key}.json"))
}

/// Where this node task runs, from Slurm's environment.
pub fn node_place() -> Map<String, Value> {
    let var = |name: &str| std::env::var(name).ok();
    let mut place = Map::new();
    place.insert("node".into(), json!(var("SLURMD_NODENAME").unwrap_or_else(crate::engine::clock::hostname)));
    place.insert("executor".into(), json!("slurm"));
    if let Some(id) = var("SLURM_ARRAY_JOB_ID").or_else(|| var("SLURM_JOB_ID")) {
        place.insert("slurm_job_id".into(), json!(id));
    }
    if let Some(i) = var("SLURM_ARRAY_TASK_ID") {
        place.insert("slurm_array_index".into(), json!(i));
    }
    if let Some(d) = var("CUDA_VISIBLE_DEVICES") {
        place.insert("cuda_visible_devices".into(), json!(d));
    }
    place
}

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
    #[error("cannot run sbatch: {0}")]
    Spawn(std::io::Error),
    /// sbatch's own message.
    #[error("{0}")]
    Refused(String),
}

/// `text` as one word for `sh`: inside single quotes, each `'` written as `'\''`, so no path
/// (an apostrophe, `$(…)`) is ever read as shell syntax.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
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
        let mut c = Coordinator {
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
        };
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

/// A short id of the cache folder, in job names, so two caches' jobs are told apart.
fn cache_id(root: &Path) -> String {
    let canonical = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    blake3::hash(canonical.to_string_lossy().as_bytes()).to_hex()[..8].to_owned()
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
}

impl Coordinator {
    fn slurm_dir(&self) -> PathBuf {
        self.store.root().join("slurm")
    }

    /// Finds the batches of an earlier coordinator of this cache that Slurm still runs or queues.
    fn reunite(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.slurm_dir()) else { return };
        let Ok(live) = live_tasks(&self.cache_id) else { return };
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
        let script = format!(
            "#!/bin/sh\n# sgdnoise batch {batch}: array task N executes the keys in tasks/N.\nexec {} exec --cache {} --task {}\"$SLURM_ARRAY_TASK_ID\"\n",
            shell_quote(&self.exe.display().to_string()),
            shell_quote(&cache.display().to_string()),
            shell_quote(&format!("{}/tasks/", dir.display()))
        );
        std::fs::write(dir.join("job.sh"), script).map_err(io)?;
        let s = &self.settings;
        let array = match s.max_concurrent {
            Some(k) => format!("0-{}%{k}", tasks.len() - 1),
            None => format!("0-{}", tasks.len() - 1),
        };
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable")
            .arg(format!("--job-name=sgdnoise-{}-{batch}", self.cache_id))
            .arg(format!("--array={array}"))
            .arg(format!("--output={}/logs/%a.log", dir.display()))
            .arg(format!("--chdir={}", std::env::current_dir().map_err(io)?.display()));
        for (flag, value) in [
            ("partition", &s.partition),
            ("account", &s.account),
            ("time", &s.time),
            ("mem", &s.mem),
            ("gres", &s.gres),
        ] {
            if let Some(v) = value {
                cmd.arg(format!("--{flag}={v}"));
            }
        }
        if let Some(c) = s.cpus_per_task {
            cmd.arg(format!("--cpus-per-task={c}"));
        }
        cmd.args(&s.sbatch_args).arg(dir.join("job.sh"));
        let out = cmd.output().map_err(SubmitError::Spawn)?;
        if !out.status.success() {
            return Err(SubmitError::Refused(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
        }
        let job_id = String::from_utf8_lossy(&out.stdout).trim().split(';').next().unwrap_or_default().to_owned();
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
        let Ok(live) = live_tasks(&self.cache_id) else { return };
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
            let state = task_state(&job_id, n).unwrap_or(if log.exists() {
                TaskState::Forgotten
            } else {
                TaskState::Cancelled
            });
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
        let w = self.works.get_mut(&t.work).expect("work of a tracked instance");
        w.left -= 1;
        if w.left == 0 {
            let weight = w.weight;
            self.works.remove(&t.work);
            let _ = self.events.send(Event::WorkDone { weight });
        }
    }

    /// Ctrl-C: cancels this run's jobs and reports their instances cancelled.
    fn cancel_all(&mut self) {
        let ids: Vec<String> = self.batches.values().map(|b| b.job_id.clone()).collect();
        if !ids.is_empty() {
            let _ = Command::new("scancel").args(&ids).output();
        }
        self.waiting.clear();
        let keys: Vec<String> = self.tracked.keys().cloned().collect();
        for key in keys {
            self.finish(&key, Err(ExecFailure::Cancelled), String::new(), 0.0, Map::new());
        }
    }
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
    let live = live_tasks(&cache_id(store.root())).ok()?;
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

/// The array tasks (`JOB_N`) of this cache's jobs that Slurm still queues or runs, found by job
/// name among the user's jobs.
fn live_tasks(cache_id: &str) -> Result<HashSet<String>, String> {
    let out = Command::new("squeue")
        .args(["-h", "-r", "--me", "-o", "%i %j"])
        .output()
        .map_err(|e| format!("cannot run squeue: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    let prefix = format!("sgdnoise-{cache_id}-");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, name)| name.starts_with(&prefix))
        .map(|(id, _)| id.to_owned())
        .collect())
}

/// Whether array task `n` of `job_id` is among the live ones (a pending array may still show
/// as `JOB_[a-b]`).
fn is_live(live: &HashSet<String>, job_id: &str, n: usize) -> bool {
    live.contains(&format!("{job_id}_{n}")) || live.iter().any(|id| id.starts_with(&format!("{job_id}_[")))
}

/// Slurm's final state of one array task (`scontrol`, no accounting needed); `None` when Slurm
/// no longer knows it.
fn task_state(job_id: &str, n: usize) -> Option<TaskState> {
    let out = Command::new("scontrol").args(["show", "job", "-o", &format!("{job_id}_{n}")]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().find_map(|f| f.strip_prefix("JobState=")).map(TaskState::from_slurm)
}

/// How an array task that left no result ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TaskState {
    /// Cancelled (`scancel`), or forgotten by Slurm before it started: never retried.
    Cancelled,
    /// It started (it has a log), and Slurm no longer knows it.
    Forgotten,
    /// Any other final state, as Slurm names it: TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, FAILED, ….
    Ended(String),
}

impl TaskState {
    fn from_slurm(state: &str) -> TaskState {
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

/// The last lines of a task's log, for a failure message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    format!("; log {}: {}", path.display(), lines[lines.len().saturating_sub(5)..].join(" | "))
}

/// A sortable batch name: seconds and nanoseconds since the epoch.
fn now_stamp() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}{:09}", d.as_secs(), d.subsec_nanos())
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

    /// Each quoted word, run through a real `sh`, comes back as written: no `$(…)` runs.
    #[test]
    fn quoted_paths_stay_words() {
        for text in ["/home/o'brien/cache", "/tmp/'$(touch pwned)'", "a b\tc", "''", "$HOME `id` \\ \"q\""] {
            let out = Command::new("sh").arg("-c").arg(format!("printf %s {}", shell_quote(text))).output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
        }
    }
}
