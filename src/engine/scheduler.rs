//! The dispatcher: one loop owns the state, the progress display and every provenance write;
//! a fixed pool of workers only executes jobs and sends events back. Instances start in a
//! deterministic order (stages in topological order with declaration order for ties, then sweep
//! order), each taking `weight` of the `jobs` worker slots. The first failure stops dispatching
//! (unless `keep_going`); Ctrl-C cancels the running jobs cleanly; a rerun resumes, since every
//! finished instance was recorded as it finished.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use super::clock::{hostname, now_rfc3339};
use super::exec::{execute_group_in_process, ChildWorker, ExecFailure, ExecResult};
use super::key::{output_hash, Partial};
use super::plan::{Done, PlannedInstance, Planner, Status};
use super::progress::Progress;
use crate::provenance::{Db, ExecutionRow};
use crate::stages::registry::{Input, Job};

/// How a run executes (none of it is keyed).
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub jobs: usize,
    /// `cpu`, `cuda`, `cuda:N`.
    pub device: String,
    pub keep_going: bool,
    /// libtorch intra-op threads per job.
    pub threads: usize,
    pub quiet: bool,
    /// The binary that runs isolated jobs (`sgdnoise exec`).
    pub exe: PathBuf,
    pub cache: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceOutcome {
    pub stage: String,
    pub id: String,
    pub key: Option<String>,
    /// `cached`, `executed`, `failed`, `cancelled`, `skipped`, `pending` (`--partial`).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct RunSummary {
    pub executed: usize,
    pub cached: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub skipped: usize,
    /// With `--partial`: instances left for a full run.
    pub pending: usize,
    pub wall_s: f64,
    pub instances: Vec<InstanceOutcome>,
}

/// Instances of one stage executed together (one, or a group of batched replicas).
struct Work {
    stage: usize,
    items: Vec<(usize, Job)>,
    isolated: bool,
}

/// A queued instance.
struct Queued {
    stage: usize,
    index: usize,
    job: Job,
    group: Option<String>,
}

enum Event {
    /// A work item's worker slots are free again.
    WorkDone {
        stage: usize,
    },
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
    },
}

/// Raised by the Ctrl-C handler.
pub static CANCEL: AtomicBool = AtomicBool::new(false);

/// Runs the pipeline: fresh instances are taken from the store, the others executed.
pub fn run(planner: &Planner, db: &mut Db, opts: &RunOptions) -> RunSummary {
    let started = Instant::now();
    let pipeline = planner.pipeline;
    let stages = &pipeline.stages;
    let total = pipeline.instance_count();
    let mut progress = Progress::new(opts.quiet, total);
    let means = db.mean_durations().unwrap_or_default();
    let expected = |si: usize| means.get(stages[si].kind.name()).copied().unwrap_or(0.0);

    let cancel = Arc::new(AtomicBool::new(false));
    let (work_tx, work_rx) = mpsc::channel::<Work>();
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (event_tx, event_rx) = mpsc::channel::<Event>();
    let workers: Vec<_> = (0..opts.jobs.max(1))
        .map(|_| {
            let rx = Arc::clone(&work_rx);
            let tx = event_tx.clone();
            let cancel = Arc::clone(&cancel);
            let opts = opts.clone();
            let store = planner.store.clone();
            let data = planner.env.data.clone();
            std::thread::spawn(move || worker(rx, tx, cancel, opts, store, data))
        })
        .collect();
    drop(event_tx);

    let n = stages.len();
    let mut outcomes: Vec<Vec<Option<InstanceOutcome>>> =
        stages.iter().map(|s| vec![None; s.instances.len()]).collect();
    let mut done: Vec<Vec<Option<Done>>> = stages.iter().map(|s| vec![None; s.instances.len()]).collect();
    let mut activated = vec![false; n];
    let mut blocked = vec![false; n];
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut free = opts.jobs.max(1);
    let mut running: usize = 0;
    let mut stopping = false;
    let mut cancelled = false;
    let mut key_inputs_of: Vec<Vec<Option<Value>>> = stages.iter().map(|s| vec![None; s.instances.len()]).collect();
    let mut keys: Vec<Vec<Option<String>>> = stages.iter().map(|s| vec![None; s.instances.len()]).collect();

    loop {
        // Activate every stage whose needs are complete, in topological order.
        let mut newly_fresh: Vec<(String, String, String, Value)> = Vec::new();
        for &si in &pipeline.order {
            if activated[si] || blocked[si] {
                continue;
            }
            if !planner.partial && stages[si].needs.iter().any(|&u| blocked[u]) {
                blocked[si] = true;
                for (i, inst) in stages[si].instances.iter().enumerate() {
                    outcomes[si][i] = Some(outcome(&stages[si].name, &inst.id, None, "skipped", None));
                }
                continue;
            }
            // Without `--partial` a stage waits for every upstream instance to be done; with it,
            // for each to be settled (done, pending or failed), and takes what is done.
            let settled = |u: usize, i: usize| done[u][i].is_some() || (planner.partial && outcomes[u][i].is_some());
            if !stages[si].needs.iter().all(|&u| (0..stages[u].instances.len()).all(|i| settled(u, i))) {
                continue;
            }
            activated[si] = true;
            let upstream: Vec<Done> =
                stages[si].needs.iter().flat_map(|&u| done[u].iter().flatten().cloned()).collect();
            let planned_upstream: usize = stages[si].needs.iter().map(|&u| stages[u].instances.len()).sum();
            let partial = (upstream.len() < planned_upstream)
                .then_some(Partial { done: upstream.len(), planned: planned_upstream });
            if partial.is_some_and(|p| p.done == 0) {
                for (i, inst) in stages[si].instances.iter().enumerate() {
                    outcomes[si][i] = Some(outcome(&stages[si].name, &inst.id, None, "pending", None));
                }
                continue;
            }
            let pairs: Vec<(&str, &str)> =
                upstream.iter().map(|d| (d.input.stage.as_str(), d.output_hash.as_str())).collect();
            let mut fresh = 0;
            for i in 0..stages[si].instances.len() {
                if let Some(message) = planner.missing_data(si, i) {
                    let id = &stages[si].instances[i].id;
                    if planner.partial {
                        outcomes[si][i] =
                            Some(outcome(&stages[si].name, id, None, "pending", Some(message.to_owned())));
                        continue;
                    }
                    progress.failed(id, message);
                    outcomes[si][i] = Some(outcome(&stages[si].name, id, None, "failed", Some(message.to_owned())));
                    blocked[si] = true;
                    stopping |= !opts.keep_going;
                    continue;
                }
                let (key, ki) = planner.key_for(si, i, &pairs, partial);
                let ki_json = serde_json::to_value(&ki).expect("key inputs serialise");
                let planned: PlannedInstance = planner.classify(si, i, &key, ki);
                if planned.status != Status::Fresh && planner.pending_if_not_fresh(si) {
                    let id = &stages[si].instances[i].id;
                    outcomes[si][i] = Some(outcome(&stages[si].name, id, Some(key), "pending", None));
                } else if planned.status == Status::Fresh {
                    fresh += 1;
                    done[si][i] = Some(planner.done_of(&planned));
                    outcomes[si][i] =
                        Some(outcome(&stages[si].name, &stages[si].instances[i].id, Some(key.clone()), "cached", None));
                    newly_fresh.push((stages[si].name.clone(), stages[si].instances[i].id.clone(), key, ki_json));
                } else {
                    let inst = &stages[si].instances[i];
                    let job = Job {
                        key,
                        stage: stages[si].name.clone(),
                        instance: inst.id.clone(),
                        kind: stages[si].kind.name().to_owned(),
                        params: inst.params.clone(),
                        inputs: upstream.iter().map(|d| d.input.clone()).collect(),
                        threads: opts.threads,
                        device: opts.device.clone(),
                        partial,
                    };
                    key_inputs_of[si][i] = Some(ki_json.clone());
                    keys[si][i] = Some(job.key.clone());
                    let group = (stages[si].replicas > 1).then(|| stages[si].kind.group_key(&inst.params)).flatten();
                    queue.push_back(Queued { stage: si, index: i, job, group });
                }
            }
            progress.fresh(&stages[si].name, fresh);
        }
        if !newly_fresh.is_empty() {
            let _ = db.touch_latest_many(&pipeline.name, &newly_fresh);
        }
        let remaining: f64 = queue.iter().map(|w| expected(w.stage)).sum();
        progress.set_remaining(remaining);

        // Dispatch in order while slots are free.
        if !stopping {
            while let Some(front) = queue.front() {
                let w = stages[front.stage].weight.min(opts.jobs.max(1));
                if w > free {
                    break;
                }
                free -= w;
                running += 1;
                // Consecutive compatible instances of a stage with `replicas: N` go together.
                let first = queue.pop_front().expect("front exists");
                let (stage, group) = (first.stage, first.group.clone());
                let mut items = vec![(first.index, first.job)];
                while group.is_some() && items.len() < stages[stage].replicas {
                    match queue.front() {
                        Some(q) if q.stage == stage && q.group == group => {
                            let q = queue.pop_front().expect("front exists");
                            items.push((q.index, q.job));
                        }
                        _ => break,
                    }
                }
                let work = Work { stage, items, isolated: stages[stage].kind.isolated() };
                if work_tx.send(work).is_err() {
                    break;
                }
            }
        }
        // Activation ran above and dispatch cannot be blocked when nothing runs (a weight is
        // capped at the pool size): with nothing running, nothing more can happen.
        if running == 0 {
            break;
        }

        if CANCEL.load(Ordering::SeqCst) && !cancel.load(Ordering::SeqCst) {
            cancel.store(true, Ordering::SeqCst);
            stopping = true;
            cancelled = true;
            progress.note("Cancelling", &format!("{running} running instance(s)"));
        }
        let event = match event_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match event {
            Event::WorkDone { stage } => {
                running -= 1;
                free += stages[stage].weight.min(opts.jobs.max(1));
            }
            Event::Started { stage, index } => progress.started(&stages[stage].instances[index].id),
            Event::Finished { stage, index, result, started_at, seconds } => {
                let s = &stages[stage];
                let inst = &s.instances[index];
                let key_hash = keys[stage][index].clone();
                let mut row = ExecutionRow {
                    key: key_hash.clone().unwrap_or_default(),
                    pipeline: pipeline.name.clone(),
                    stage: s.name.clone(),
                    instance: inst.id.clone(),
                    kind: s.kind.name().to_owned(),
                    kind_version: s.kind.version_of(&inst.params),
                    key_inputs: key_inputs_of[stage][index].clone().unwrap_or(Value::Null),
                    params: serde_json::to_value(&inst.params).expect("params serialise"),
                    inputs: json!(s
                        .needs
                        .iter()
                        .flat_map(|&u| done[u].iter().flatten().map(|d| json!({
                            "stage": d.input.stage, "instance": d.input.instance, "kind": d.input.kind,
                            "key": d.input.key, "output_hash": d.output_hash,
                        })))
                        .collect::<Vec<_>>()),
                    env: json!({
                        "sgdnoise_version": env!("CARGO_PKG_VERSION"),
                        "libtorch_version": if s.kind.uses_torch() { json!(planner.env.libtorch) } else { Value::Null },
                        "device": opts.device,
                        "threads": opts.threads,
                        "jobs": opts.jobs,
                        "pid": std::process::id(),
                    }),
                    host: hostname(),
                    started_at,
                    finished_at: Some(now_rfc3339()),
                    duration_s: Some(seconds),
                    ..Default::default()
                };
                match result {
                    Ok(res) => {
                        let oh = output_hash(&res.outputs);
                        row.outputs = Some(res.outputs.clone());
                        row.output_hash = Some(oh.clone());
                        row.metrics = res.metrics;
                        row.status = "ok".into();
                        match db.commit_success(&row) {
                            Ok(_) => {
                                done[stage][index] = Some(Done {
                                    input: Input {
                                        stage: s.name.clone(),
                                        kind: s.kind.name().to_owned(),
                                        instance: inst.id.clone(),
                                        key: row.key.clone(),
                                        params: inst.params.clone(),
                                        outputs: res.outputs,
                                    },
                                    output_hash: oh,
                                });
                                outcomes[stage][index] = Some(InstanceOutcome {
                                    duration_s: Some(seconds),
                                    ..outcome(&s.name, &inst.id, key_hash, "executed", None)
                                });
                                progress.finished(&inst.id, seconds, expected(stage));
                            }
                            Err(e) => {
                                let msg = format!("recording the result: {e}");
                                progress.failed(&inst.id, &msg);
                                outcomes[stage][index] =
                                    Some(outcome(&s.name, &inst.id, key_hash, "failed", Some(msg)));
                                blocked[stage] = true;
                                stopping |= !opts.keep_going;
                            }
                        }
                    }
                    Err(ExecFailure::Cancelled) => {
                        row.status = "cancelled".into();
                        let _ = db.record_failure(&row);
                        progress.cancelled(&inst.id);
                        outcomes[stage][index] = Some(outcome(&s.name, &inst.id, key_hash, "cancelled", None));
                        blocked[stage] = true;
                    }
                    Err(ExecFailure::Failed(msg)) => {
                        row.status = "failed".into();
                        row.error = Some(msg.clone());
                        let _ = db.record_failure(&row);
                        progress.failed(&inst.id, &msg);
                        outcomes[stage][index] = Some(outcome(&s.name, &inst.id, key_hash, "failed", Some(msg)));
                        blocked[stage] = true;
                        if !opts.keep_going {
                            stopping = true;
                        }
                    }
                }
            }
        }
    }
    cancel.store(true, Ordering::SeqCst);
    drop(work_tx);
    for w in workers {
        let _ = w.join();
    }
    progress.finish();
    let mut summary = RunSummary { wall_s: started.elapsed().as_secs_f64(), ..Default::default() };
    for &si in &pipeline.order {
        for (i, o) in outcomes[si].iter().enumerate() {
            let o = o.clone().unwrap_or_else(|| {
                outcome(
                    &stages[si].name,
                    &stages[si].instances[i].id,
                    None,
                    if cancelled { "cancelled" } else { "skipped" },
                    None,
                )
            });
            match o.status {
                "executed" => summary.executed += 1,
                "cached" => summary.cached += 1,
                "failed" => summary.failed += 1,
                "cancelled" => summary.cancelled += 1,
                "pending" => summary.pending += 1,
                _ => summary.skipped += 1,
            }
            summary.instances.push(o);
        }
    }
    summary
}

fn outcome(stage: &str, id: &str, key: Option<String>, status: &'static str, error: Option<String>) -> InstanceOutcome {
    InstanceOutcome { stage: stage.to_owned(), id: id.to_owned(), key, status, error, duration_s: None }
}

fn worker(
    rx: Arc<Mutex<Receiver<Work>>>,
    tx: Sender<Event>,
    cancel: Arc<AtomicBool>,
    opts: RunOptions,
    store: super::store::Store,
    data: crate::datasets::DataPaths,
) {
    let mut child: Option<ChildWorker> = None;
    loop {
        let work = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(w) => w,
                Err(_) => return,
            }
        };
        let started_at = now_rfc3339();
        let t0 = Instant::now();
        let stage = work.stage;
        let indices: Vec<usize> = work.items.iter().map(|(i, _)| *i).collect();
        let jobs: Vec<Job> = work.items.into_iter().map(|(_, j)| j).collect();
        let mut report = |k: usize, result: Result<ExecResult, ExecFailure>| {
            let _ = std::fs::remove_file(store.job_path(&jobs[k].key));
            let _ = tx.send(Event::Finished {
                stage,
                index: indices[k],
                result,
                started_at: started_at.clone(),
                seconds: t0.elapsed().as_secs_f64(),
            });
        };
        if cancel.load(Ordering::SeqCst) {
            for k in 0..jobs.len() {
                report(k, Err(ExecFailure::Cancelled));
            }
        } else {
            for &index in &indices {
                let _ = tx.send(Event::Started { stage, index });
            }
            if work.isolated {
                if child.is_none() {
                    child = ChildWorker::spawn(&opts.exe, &opts.cache).map_err(|e| eprintln!("{e}")).ok();
                }
                match child.as_mut() {
                    None => {
                        for k in 0..jobs.len() {
                            report(
                                k,
                                Err(ExecFailure::Failed(format!(
                                    "cannot start a worker process ({})",
                                    opts.exe.display()
                                ))),
                            );
                        }
                    }
                    Some(c) => {
                        if !c.run_group(&store, &jobs, &cancel, &mut report) {
                            child = None;
                        }
                    }
                }
            } else {
                execute_group_in_process(&store, &data, &jobs, &mut |k, r| {
                    report(k, r.map_err(|e| ExecFailure::Failed(e.to_string())))
                });
            }
        }
        let _ = tx.send(Event::WorkDone { stage });
    }
}
