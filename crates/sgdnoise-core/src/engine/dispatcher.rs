//! The dispatcher: one state machine owns every instance's state, the progress display and every
//! provenance write; an [`Executor`] (the local worker pool, or Slurm) only executes and sends
//! [`Event`]s back on one channel, which is the only thing the loop waits on. Instances start in
//! a deterministic order (stages in topological order with declaration order for ties, then sweep
//! order), each taking `weight` of the executor's slots. The first failure stops dispatching
//! (unless `keep_going`); an interrupt cancels what runs; a provenance write that fails stops the
//! run with an error. A rerun resumes, since every finished instance was recorded as it finished.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::clock::{hostname, now_rfc3339};
use super::exec::{ExecFailure, ExecResult};
use super::executor::{Event, Executor, Inbox, Work};
use super::key::output_hash;
use super::plan::{Done, PlannedInstance, Planner, Status};
use super::progress::Progress;
use crate::job::Partial;
use crate::job::{Input, Job};
use crate::provenance::{db::DbError, Db, ExecutionRow};

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
    /// The revision the coordinator was built from, recorded with every execution.
    pub source: crate::host::Source,
}

/// How one instance ended in a run (`run --json` writes the lowercase name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Cached,
    Executed,
    Failed,
    Cancelled,
    Skipped,
    /// Left for later: `--partial`, or a detached Slurm batch still running.
    Pending,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceOutcome {
    pub stage: String,
    pub id: String,
    pub key: Option<String>,
    pub status: Outcome,
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

/// A run that could not go on: its record of what happened would be incomplete.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("recording {what} in provenance: {source}")]
    Provenance {
        what: String,
        #[source]
        source: DbError,
    },
}

/// Why dispatching stopped; the later reasons are the stronger ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopReason {
    /// An instance failed (running ones finish; nothing new starts).
    Failure,
    /// The user interrupted: running instances are cancelled.
    Interrupt,
}

/// An instance ready to execute, with what its provenance record needs.
#[derive(Debug, Clone)]
struct Planned {
    job: Job,
    key_inputs: Value,
    /// Instances of a stage with `replicas: N` and equal groups run together.
    group: Option<String>,
}

/// Where one instance is.
#[derive(Debug, Clone)]
enum State {
    /// Its stage waits for upstream instances.
    Waiting,
    Queued(Box<Planned>),
    Running(Box<Planned>),
    Cached {
        key: String,
        done: Box<Done>,
    },
    Executed {
        done: Box<Done>,
        seconds: f64,
    },
    Failed {
        key: Option<String>,
        error: String,
    },
    Cancelled {
        key: Option<String>,
    },
    /// Not run: something upstream failed.
    Skipped,
    /// `--partial`: left for a full run.
    Pending {
        key: Option<String>,
        why: Option<String>,
    },
}

impl State {
    fn done(&self) -> Option<&Done> {
        match self {
            State::Cached { done, .. } | State::Executed { done, .. } => Some(done),
            _ => None,
        }
    }

    /// No longer waiting, queued or running.
    fn settled(&self) -> bool {
        !matches!(self, State::Waiting | State::Queued(_) | State::Running(_))
    }
}

/// The state machine of one run.
pub(crate) struct Dispatcher<'a> {
    planner: &'a Planner<'a>,
    opts: &'a RunOptions,
    states: Vec<Vec<State>>,
    activated: Vec<bool>,
    blocked: Vec<bool>,
    queue: VecDeque<(usize, usize)>,
    slots: usize,
    free: usize,
    /// Work items handed out and not yet done.
    in_flight: usize,
    /// Keys of the instances running now: a second instance with the same key (two stages with
    /// the same parameters) waits until the first has finished, as with one worker, instead of
    /// racing it for the key's job file.
    running_keys: std::collections::HashMap<String, usize>,
    stop: Option<StopReason>,
    /// Some instance was left running on the cluster (`--detach`).
    detached: bool,
    progress: Progress,
    expected: std::collections::HashMap<String, f64>,
}

impl<'a> Dispatcher<'a> {
    pub(crate) fn new(planner: &'a Planner<'a>, db: &Db, opts: &'a RunOptions, slots: usize) -> Self {
        let stages = &planner.pipeline.stages;
        Dispatcher {
            planner,
            opts,
            states: stages.iter().map(|s| vec![State::Waiting; s.instances.len()]).collect(),
            activated: vec![false; stages.len()],
            blocked: vec![false; stages.len()],
            queue: VecDeque::new(),
            slots: slots.max(1),
            free: slots.max(1),
            in_flight: 0,
            running_keys: Default::default(),
            stop: None,
            detached: false,
            progress: Progress::new(opts.quiet, planner.pipeline.instance_count()),
            expected: db.mean_durations().unwrap_or_default(),
        }
    }

    fn expected(&self, stage: usize) -> f64 {
        self.expected.get(self.planner.pipeline.stages[stage].kind.name()).copied().unwrap_or(0.0)
    }

    fn stop_for(&mut self, reason: StopReason) {
        self.stop = self.stop.max(Some(reason));
    }

    /// Activates every stage whose needs are settled, in topological order: its fresh instances
    /// are taken from the store, the others queued.
    pub(crate) fn activate(&mut self, db: &mut Db) -> Result<(), DispatchError> {
        let planner = self.planner;
        let pipeline = planner.pipeline;
        let stages = &pipeline.stages;
        let mut newly_fresh: Vec<(String, String, String, Value)> = Vec::new();
        for &si in &pipeline.order {
            if self.activated[si] || self.blocked[si] {
                continue;
            }
            if !planner.partial && stages[si].needs.iter().any(|&u| self.blocked[u]) {
                self.blocked[si] = true;
                self.states[si].iter_mut().for_each(|s| *s = State::Skipped);
                continue;
            }
            // Without `--partial` a stage waits for every upstream instance to be done; with it,
            // for each to be settled (done, pending or failed), and takes what is done.
            let ready = |s: &State| s.done().is_some() || (planner.partial && s.settled());
            if !stages[si].needs.iter().all(|&u| self.states[u].iter().all(ready)) {
                continue;
            }
            self.activated[si] = true;
            let upstream: Vec<Done> =
                stages[si].needs.iter().flat_map(|&u| self.states[u].iter().filter_map(State::done).cloned()).collect();
            let planned_upstream: usize = stages[si].needs.iter().map(|&u| stages[u].instances.len()).sum();
            let partial = (upstream.len() < planned_upstream)
                .then_some(Partial { done: upstream.len(), planned: planned_upstream });
            if partial.is_some_and(|p| p.done == 0) {
                self.states[si].iter_mut().for_each(|s| *s = State::Pending { key: None, why: None });
                continue;
            }
            let pairs: Vec<(&str, &str)> =
                upstream.iter().map(|d| (d.input.stage.as_str(), d.output_hash.as_str())).collect();
            let mut fresh = 0;
            for i in 0..stages[si].instances.len() {
                let inst = &stages[si].instances[i];
                if let Some(message) = planner.missing_data(si, i) {
                    if planner.partial {
                        self.states[si][i] = State::Pending { key: None, why: Some(message.to_owned()) };
                        continue;
                    }
                    self.progress.failed(&inst.id, message);
                    self.states[si][i] = State::Failed { key: None, error: message.to_owned() };
                    self.blocked[si] = true;
                    if !self.opts.keep_going {
                        self.stop_for(StopReason::Failure);
                    }
                    continue;
                }
                let (key, ki) = planner.key_for(si, i, &pairs, partial);
                let key_inputs = serde_json::to_value(&ki).expect("key inputs serialise");
                let planned: PlannedInstance = planner.classify(si, i, &key, &ki);
                if planned.status != Status::Fresh && planner.pending_if_not_fresh(si) {
                    self.states[si][i] = State::Pending { key: Some(key), why: None };
                } else if planned.status == Status::Fresh {
                    fresh += 1;
                    let done = Box::new(planner.done_of(&planned));
                    // A run reused from other limits is recorded under its own key: `why` of
                    // the instance finds that record.
                    let recorded = planned.reuse.as_ref().map_or_else(|| key.clone(), |r| r.from_key.clone());
                    newly_fresh.push((stages[si].name.clone(), inst.id.clone(), recorded, key_inputs));
                    self.states[si][i] = State::Cached { key, done };
                } else {
                    let job = Job {
                        key,
                        stage: stages[si].name.clone(),
                        instance: inst.id.clone(),
                        kind: stages[si].kind.name().to_owned(),
                        params: inst.params.clone(),
                        inputs: upstream.iter().map(|d| d.input.clone()).collect(),
                        threads: self.opts.threads,
                        device: self.opts.device.clone(),
                        partial,
                        libtorch: stages[si].kind.uses_torch().then(|| planner.env.libtorch.clone()),
                    };
                    let group = (stages[si].replicas > 1).then(|| stages[si].kind.group_key(&inst.params)).flatten();
                    self.states[si][i] = State::Queued(Box::new(Planned { job, key_inputs, group }));
                    self.queue.push_back((si, i));
                }
            }
            self.progress.fresh(&stages[si].name, fresh);
        }
        if !newly_fresh.is_empty() {
            db.touch_latest_many(&pipeline.name, &newly_fresh)
                .map_err(|source| DispatchError::Provenance { what: "cached instances".into(), source })?;
        }
        let remaining: f64 = self.queue.iter().map(|&(s, _)| self.expected(s)).sum();
        self.progress.set_remaining(remaining);
        Ok(())
    }

    /// The next work item to hand out, while slots are free and nothing stopped dispatching.
    pub(crate) fn next_work(&mut self) -> Option<Work> {
        if self.stop.is_some() {
            return None;
        }
        let stages = &self.planner.pipeline.stages;
        let &(stage, index) = self.queue.front()?;
        let weight = stages[stage].weight.min(self.slots);
        if weight > self.free {
            return None;
        }
        if self.planned(stage, index).is_some_and(|p| self.running_keys.contains_key(&p.job.key)) {
            return None;
        }
        self.queue.pop_front();
        let mut items = vec![(index, self.run(stage, index))];
        // Consecutive compatible instances of a stage with `replicas: N` go together.
        let group = self.planned(stage, index).and_then(|p| p.group.clone());
        while group.is_some() && items.len() < stages[stage].replicas {
            match self.queue.front() {
                Some(&(s, i)) if s == stage && self.planned(s, i).and_then(|p| p.group.clone()) == group => {
                    self.queue.pop_front();
                    items.push((i, self.run(s, i)));
                }
                _ => break,
            }
        }
        self.free -= weight;
        self.in_flight += 1;
        Some(Work { stage, items, isolated: stages[stage].kind.isolated(), weight })
    }

    fn planned(&self, stage: usize, index: usize) -> Option<&Planned> {
        match &self.states[stage][index] {
            State::Queued(p) | State::Running(p) => Some(p),
            _ => None,
        }
    }

    /// Moves a queued instance to running and returns its job.
    fn run(&mut self, stage: usize, index: usize) -> Job {
        let state = std::mem::replace(&mut self.states[stage][index], State::Waiting);
        let State::Queued(p) = state else { unreachable!("only queued instances are dispatched") };
        let job = p.job.clone();
        *self.running_keys.entry(job.key.clone()).or_default() += 1;
        self.states[stage][index] = State::Running(p);
        job
    }

    /// Nothing runs and nothing more can start.
    pub(crate) fn idle(&self) -> bool {
        self.in_flight == 0
    }

    #[cfg(test)]
    pub(crate) fn stopped_by(&self) -> Option<StopReason> {
        self.stop
    }

    /// Applies one event. An interrupt returns `true` the first time: the caller cancels the
    /// executor.
    pub(crate) fn handle(&mut self, event: Event, db: &mut Db) -> Result<bool, DispatchError> {
        match event {
            Event::Interrupt => {
                let first = self.stop != Some(StopReason::Interrupt);
                if first {
                    self.stop_for(StopReason::Interrupt);
                    let running = self.states.iter().flatten().filter(|s| matches!(s, State::Running(_))).count();
                    self.progress.note("Cancelling", &format!("{running} running instance(s)"));
                }
                return Ok(first);
            }
            Event::WorkDone { weight } => {
                self.in_flight -= 1;
                self.free += weight;
            }
            Event::Note { word, message } => self.progress.note(word, &message),
            Event::Started { stage, index } => {
                self.progress.started(&self.planner.pipeline.stages[stage].instances[index].id)
            }
            Event::Detached { stage, index } => {
                let key = self.planned(stage, index).map(|p| p.job.key.clone());
                let why = Some("submitted to Slurm and left running (--detach): run again to collect it".to_owned());
                self.states[stage][index] = State::Pending { key, why };
                self.detached = true;
            }
            Event::Finished { stage, index, result, started_at, seconds, place } => {
                self.finished(stage, index, result, started_at, seconds, place, db)?
            }
        }
        Ok(false)
    }

    #[allow(clippy::too_many_arguments)]
    fn finished(
        &mut self,
        stage: usize,
        index: usize,
        result: Result<ExecResult, ExecFailure>,
        started_at: String,
        seconds: f64,
        place: Map<String, Value>,
        db: &mut Db,
    ) -> Result<(), DispatchError> {
        let planner = self.planner;
        let s = &planner.pipeline.stages[stage];
        let inst = &s.instances[index];
        let Some(planned) = self.planned(stage, index).cloned() else { return Ok(()) };
        let key = planned.job.key.clone();
        if let Some(n) = self.running_keys.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.running_keys.remove(&key);
            }
        }
        let mut env = json!({
            "sgdnoise_version": env!("CARGO_PKG_VERSION"),
            "source_commit": self.opts.source.commit,
            "source_dirty": self.opts.source.dirty,
            "libtorch_version": if s.kind.uses_torch() { json!(planner.env.libtorch) } else { Value::Null },
            "device": self.opts.device,
            "threads": self.opts.threads,
            "jobs": self.opts.jobs,
            "pid": std::process::id(),
        });
        let host = match place.get("node").and_then(Value::as_str) {
            Some(node) => node.to_owned(),
            None => hostname(),
        };
        env.as_object_mut().expect("env is an object").extend(place);
        let mut row = ExecutionRow {
            key: key.clone(),
            pipeline: planner.pipeline.name.clone(),
            stage: s.name.clone(),
            instance: inst.id.clone(),
            kind: s.kind.name().to_owned(),
            kind_version: s.kind.version_of(&inst.params),
            key_inputs: planned.key_inputs.clone(),
            params: serde_json::to_value(&inst.params).expect("params serialise"),
            inputs: json!(planned
                .job
                .inputs
                .iter()
                .map(|i| json!({
                    "stage": i.stage, "instance": i.instance, "kind": i.kind,
                    "key": i.key, "output_hash": output_hash(&i.outputs),
                }))
                .collect::<Vec<_>>()),
            env,
            host,
            started_at,
            finished_at: Some(now_rfc3339()),
            duration_s: Some(seconds),
            ..Default::default()
        };
        let record = |what: &str, source| DispatchError::Provenance { what: format!("{what} {}", inst.id), source };
        // Nothing is recorded "ok" whose objects the store does not hold: no phantom executions.
        let result = result.and_then(|res| match res.outputs.iter().find(|(_, h)| !planner.store.contains(h)) {
            None => Ok(res),
            Some((name, h)) => Err(ExecFailure::Failed(format!(
                "output {name} (object {}) is not in the store after it ran: nothing recorded, run again",
                h.get(..12).unwrap_or(h)
            ))),
        });
        match result {
            Ok(res) => {
                let oh = output_hash(&res.outputs);
                row.outputs = Some(res.outputs.clone());
                row.output_hash = Some(oh.clone());
                row.metrics = res.metrics;
                row.status = "ok".into();
                db.commit_success(&row).map_err(|e| record("the result of", e))?;
                let done = Done {
                    input: Input {
                        stage: s.name.clone(),
                        kind: s.kind.name().to_owned(),
                        instance: inst.id.clone(),
                        key,
                        params: inst.params.clone(),
                        outputs: res.outputs,
                    },
                    output_hash: oh,
                };
                self.states[stage][index] = State::Executed { done: Box::new(done), seconds };
                let expected = self.expected(stage);
                self.progress.finished(&inst.id, seconds, expected);
            }
            Err(ExecFailure::Cancelled) => {
                row.status = "cancelled".into();
                db.record_failure(&row).map_err(|e| record("the cancellation of", e))?;
                self.progress.cancelled(&inst.id);
                self.states[stage][index] = State::Cancelled { key: Some(key) };
                self.blocked[stage] = true;
            }
            Err(ExecFailure::Failed(msg)) => {
                row.status = "failed".into();
                row.error = Some(msg.clone());
                db.record_failure(&row).map_err(|e| record("the failure of", e))?;
                self.progress.failed(&inst.id, &msg);
                self.states[stage][index] = State::Failed { key: Some(key), error: msg };
                self.blocked[stage] = true;
                if !self.opts.keep_going {
                    self.stop_for(StopReason::Failure);
                }
            }
        }
        Ok(())
    }

    /// Every instance's outcome, in the pipeline's order.
    pub(crate) fn summary(mut self, wall_s: f64) -> RunSummary {
        self.progress.finish();
        let stages = &self.planner.pipeline.stages;
        let interrupted = self.stop == Some(StopReason::Interrupt);
        let mut summary = RunSummary { wall_s, ..Default::default() };
        for &si in &self.planner.pipeline.order {
            for (i, state) in self.states[si].iter().enumerate() {
                let o = |key: Option<String>, status, error: Option<String>| InstanceOutcome {
                    stage: stages[si].name.clone(),
                    id: stages[si].instances[i].id.clone(),
                    key,
                    status,
                    error,
                    duration_s: None,
                };
                let outcome = match state {
                    State::Cached { key, .. } => o(Some(key.clone()), Outcome::Cached, None),
                    State::Executed { done, seconds } => InstanceOutcome {
                        duration_s: Some(*seconds),
                        ..o(Some(done.input.key.clone()), Outcome::Executed, None)
                    },
                    State::Failed { key, error } => o(key.clone(), Outcome::Failed, Some(error.clone())),
                    State::Cancelled { key } => o(key.clone(), Outcome::Cancelled, None),
                    State::Pending { key, why } => o(key.clone(), Outcome::Pending, why.clone()),
                    State::Skipped => o(None, Outcome::Skipped, None),
                    State::Waiting | State::Queued(_) | State::Running(_) => o(
                        None,
                        match (interrupted, self.detached) {
                            (true, _) => Outcome::Cancelled,
                            (false, true) => Outcome::Pending,
                            (false, false) => Outcome::Skipped,
                        },
                        None,
                    ),
                };
                match outcome.status {
                    Outcome::Executed => summary.executed += 1,
                    Outcome::Cached => summary.cached += 1,
                    Outcome::Failed => summary.failed += 1,
                    Outcome::Cancelled => summary.cancelled += 1,
                    Outcome::Pending => summary.pending += 1,
                    Outcome::Skipped => summary.skipped += 1,
                }
                summary.instances.push(outcome);
            }
        }
        summary
    }
}

/// Runs the pipeline on `executor`: fresh instances are taken from the store, the others
/// executed. `inbox` receives the executor's events and the interrupt.
pub fn run(
    planner: &Planner,
    db: &mut Db,
    opts: &RunOptions,
    mut executor: Box<dyn Executor>,
    inbox: Inbox,
) -> Result<RunSummary, DispatchError> {
    let started = Instant::now();
    let mut d = Dispatcher::new(planner, db, opts, executor.slots());
    let result = (|| {
        loop {
            d.activate(db)?;
            while let Some(work) = d.next_work() {
                executor.submit(work);
            }
            // A weight is capped at the slot count, so with nothing in flight nothing is blocked:
            // nothing more can happen.
            if d.idle() {
                return Ok(());
            }
            let Ok(event) = inbox.recv() else { return Ok(()) };
            if d.handle(event, db)? {
                executor.cancel();
            }
        }
    })();
    if result.is_err() {
        executor.cancel();
    }
    executor.shutdown();
    result?;
    Ok(d.summary(started.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    //! Transitions driven by synthetic events: no executor, no training; a real store and
    //! provenance database in a temporary folder.

    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::datasets::DataPaths;
    use crate::engine::plan::PlanEnv;
    use crate::pipeline::Pipeline;
    use crate::store::Store;

    const PIPELINE: &str = "name: t
stages:
  train:
    kind: train
    params: { data: depleted, chi: 1, dim: 4, arch: linear, alpha: 2, batch: 2, test_size: 16 }
    sweep: { grid: { P: [8, 16], T: [0.5] } }
  runs: { kind: collect, needs: [train] }
";

    struct Fixture {
        _dir: tempfile::TempDir,
        pipeline: Pipeline,
        store: Store,
        db: Db,
        opts: RunOptions,
    }

    fn fixture(keep_going: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = crate::pipeline::spec::parse(Path::new("t.yaml"), PIPELINE).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let db = Db::open(&dir.path().join("provenance.sqlite")).unwrap();
        let opts = RunOptions {
            jobs: 2,
            device: "cpu".into(),
            keep_going,
            threads: 1,
            quiet: true,
            exe: "sgdnoise".into(),
            cache: dir.path().to_owned(),
            source: crate::host::Source::unknown(),
        };
        Fixture { _dir: dir, pipeline, store, db, opts }
    }

    fn env() -> PlanEnv {
        PlanEnv { libtorch: "test".into(), device_class: "cpu".into(), data: DataPaths::from_root(Path::new("data")) }
    }

    /// A success whose one output, `content`, is in the store.
    fn ok(store: &Store, content: &str) -> Result<ExecResult, ExecFailure> {
        let hash = store.put(content.as_bytes()).unwrap();
        Ok(ExecResult { outputs: BTreeMap::from([("record.json".to_owned(), hash)]), metrics: json!({}) })
    }

    fn finished(stage: usize, index: usize, result: Result<ExecResult, ExecFailure>) -> Event {
        Event::Finished { stage, index, result, started_at: "now".into(), seconds: 0.5, place: Map::new() }
    }

    #[test]
    fn a_success_whose_objects_are_not_in_the_store_is_recorded_failed_not_ok() {
        let mut f = fixture(true);
        let planner = Planner::new(&f.pipeline, &f.db, &f.store, env()).unwrap();
        let mut d = Dispatcher::new(&planner, &f.db, &f.opts, 2);
        d.activate(&mut f.db).unwrap();
        d.next_work().unwrap();
        let phantom = Ok(ExecResult {
            outputs: BTreeMap::from([("record.json".to_owned(), "e".repeat(64))]),
            metrics: json!({}),
        });
        d.handle(finished(0, 0, phantom), &mut f.db).unwrap();
        assert!(f.db.records().unwrap().is_empty(), "no record of outputs that are not there");
        let s = d.summary(1.0);
        assert_eq!((s.executed, s.failed), (0, 1));
    }

    #[test]
    fn finished_runs_activate_the_collect_and_are_recorded() {
        let mut f = fixture(false);
        let planner = Planner::new(&f.pipeline, &f.db, &f.store, env()).unwrap();
        let mut d = Dispatcher::new(&planner, &f.db, &f.opts, 2);
        d.activate(&mut f.db).unwrap();
        let (a, b) = (d.next_work().unwrap(), d.next_work().unwrap());
        assert!(d.next_work().is_none(), "two slots, two runs; the collect waits");
        assert_eq!((a.stage, a.items[0].0, b.items[0].0, a.isolated), (0, 0, 1, true));
        for (index, hash) in [(0, "a"), (1, "b")] {
            assert!(!d.handle(finished(0, index, ok(&f.store, hash)), &mut f.db).unwrap());
            d.handle(Event::WorkDone { weight: 1 }, &mut f.db).unwrap();
        }
        assert!(d.idle());
        d.activate(&mut f.db).unwrap();
        let collect = d.next_work().expect("the collect runs once both runs are done");
        assert_eq!((collect.stage, collect.isolated), (1, false));
        assert_eq!(collect.items[0].1.inputs.len(), 2);
        assert_eq!(f.db.records().unwrap().len(), 2, "each run recorded as it finished");
        d.handle(finished(1, 0, ok(&f.store, "c")), &mut f.db).unwrap();
        d.handle(Event::WorkDone { weight: 1 }, &mut f.db).unwrap();
        let s = d.summary(1.0);
        assert_eq!((s.executed, s.failed, s.skipped), (3, 0, 0));
    }

    #[test]
    fn a_failure_stops_dispatch_and_skips_what_needs_it() {
        let mut f = fixture(false);
        let planner = Planner::new(&f.pipeline, &f.db, &f.store, env()).unwrap();
        let mut d = Dispatcher::new(&planner, &f.db, &f.opts, 1);
        d.activate(&mut f.db).unwrap();
        d.next_work().unwrap();
        d.handle(finished(0, 0, Err(ExecFailure::Failed("diverged badly".into()))), &mut f.db).unwrap();
        d.handle(Event::WorkDone { weight: 1 }, &mut f.db).unwrap();
        assert_eq!(d.stopped_by(), Some(StopReason::Failure));
        assert!(d.next_work().is_none(), "nothing new starts after a failure");
        d.activate(&mut f.db).unwrap();
        let s = d.summary(1.0);
        let status: Vec<_> = s.instances.iter().map(|o| (o.id.as_str(), o.status)).collect();
        assert_eq!(
            status,
            [
                ("train[P=8,T=0.5]", Outcome::Failed),
                ("train[P=16,T=0.5]", Outcome::Skipped),
                ("runs", Outcome::Skipped)
            ]
        );
        assert_eq!(s.instances[0].error.as_deref(), Some("diverged badly"));
    }

    #[test]
    fn an_interrupt_is_stronger_than_a_failure_and_cancels_once() {
        let mut f = fixture(true);
        let planner = Planner::new(&f.pipeline, &f.db, &f.store, env()).unwrap();
        let mut d = Dispatcher::new(&planner, &f.db, &f.opts, 1);
        d.activate(&mut f.db).unwrap();
        d.next_work().unwrap();
        assert!(d.handle(Event::Interrupt, &mut f.db).unwrap(), "the first interrupt cancels the executor");
        assert!(!d.handle(Event::Interrupt, &mut f.db).unwrap(), "a second one does nothing more");
        d.handle(finished(0, 0, Err(ExecFailure::Cancelled)), &mut f.db).unwrap();
        d.handle(Event::WorkDone { weight: 1 }, &mut f.db).unwrap();
        assert_eq!(d.stopped_by(), Some(StopReason::Interrupt));
        assert!(StopReason::Interrupt > StopReason::Failure);
        let s = d.summary(1.0);
        assert_eq!((s.cancelled, s.executed), (3, 0), "the run, the queued run and the collect");
    }

    #[test]
    fn a_provenance_write_that_fails_stops_the_run_with_an_error() {
        let mut f = fixture(false);
        let planner = Planner::new(&f.pipeline, &f.db, &f.store, env()).unwrap();
        let mut d = Dispatcher::new(&planner, &f.db, &f.opts, 1);
        d.activate(&mut f.db).unwrap();
        d.next_work().unwrap();
        // Another connection drops the table the result goes to.
        let other = rusqlite::Connection::open(f.opts.cache.join("provenance.sqlite")).unwrap();
        other.execute_batch("DROP TABLE records").unwrap();
        let err = d.handle(finished(0, 0, ok(&f.store, "a")), &mut f.db).unwrap_err();
        assert!(err.to_string().starts_with("recording the result of train[P=8,T=0.5] in provenance: "), "{err}");
    }
}
