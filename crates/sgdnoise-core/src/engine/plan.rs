//! Planning: compute each instance's key from its parameters and its upstream outputs, compare it
//! with the records, and say for each instance whether it is fresh or will run, and why.
//!
//! A key needs the upstream output hashes, so it is known only once every instance of the needed
//! stages is done: `plan` (a dry run) reports downstream instances of a stage that will run as
//! "upstream X will run"; `run` computes their keys when the upstream stage completes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use super::key::{KeyInputs, StageKey, TorchKey, KEY_SALT};
use super::reason::{explain, RerunReason};
use crate::datasets::DataPaths;
use crate::job::Input;
use crate::job::Partial;
use crate::pipeline::Pipeline;
use crate::provenance::{Db, RecordRow};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("stage {stage}: {message}")]
    Stage { stage: String, message: String },
    #[error(transparent)]
    Db(#[from] crate::provenance::db::DbError),
}

/// What the key depends on beyond the pipeline.
#[derive(Debug, Clone)]
pub struct PlanEnv {
    /// libtorch version with its build tag.
    pub libtorch: String,
    /// `cpu` or `cuda`.
    pub device_class: String,
    pub data: DataPaths,
}

/// A finished (or fresh) upstream instance.
#[derive(Debug, Clone)]
pub struct Done {
    pub input: Input,
    pub output_hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Fresh,
    Run,
    /// With `--partial`: not executed now (a training run not done yet, or an aggregate with
    /// nothing done upstream).
    Pending,
}

/// A training instance fresh by another key's record: the same run under other step or wall
/// limits, which ended (converged or diverged) before reaching the new ones, so they cannot
/// change it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reuse {
    pub from_key: String,
    pub why: String,
}

/// Recorded keys with their wall seconds, by the hash of their key without its limits.
type LimitFreeIndex = HashMap<String, Vec<(String, Option<f64>)>>;

/// The hash of a key (as serialised) with the parameters that only bound it taken out: two keys
/// with the same one are the same computation under other limits.
fn limit_free(key: &Value, limits: &[&str]) -> String {
    let mut key = key.clone();
    if let Some(params) = key.get_mut("params").and_then(Value::as_object_mut) {
        for limit in limits {
            params.remove(*limit);
        }
    }
    blake3::hash(crate::canonical::canonical_json(&key).as_bytes()).to_hex().to_string()
}

#[derive(Debug, Clone)]
pub struct PlannedInstance {
    pub stage: usize,
    pub index: usize,
    pub key: Option<String>,
    pub status: Status,
    pub reasons: Vec<RerunReason>,
    pub record: Option<RecordRow>,
    /// For an instance that will run to rebuild outputs it had (a kind rebuilt exactly from its
    /// key, whose outputs were left out of a bundle): the output hash it is expected to give
    /// again, so that what is downstream is keyed now. `run` keys them by what it does give.
    pub expected: Option<String>,
    /// A fresh training instance that takes the record of the same run under other limits.
    pub reuse: Option<Reuse>,
}

/// Records and the latest keys, loaded once.
pub struct Planner<'a> {
    pub pipeline: &'a Pipeline,
    pub store: &'a Store,
    pub env: PlanEnv,
    records: HashMap<String, RecordRow>,
    latest: crate::provenance::db::LatestMap,
    failures: HashMap<String, String>,
    /// Records of kinds with limits: (kind, key, key inputs, wall seconds), read once.
    limited: Vec<(&'static dyn crate::stages::StageKind, String, String, Option<f64>)>,
    /// The same by their limit-free key hash: built at the first instance that looks for one,
    /// so a plan with every instance recorded parses no key inputs.
    by_limit_free: std::sync::OnceLock<LimitFreeIndex>,
    /// Output hashes of rebuildable instances that ran (here or where a bundle came from) and
    /// have no record here.
    expected: HashMap<String, String>,
    file_hashes: HashMap<String, String>,
    /// Instances whose raw files are missing or unreadable, with the message.
    missing: HashMap<(usize, usize), String>,
    /// Objects already rehashed by this planner: `Some(problem)` when missing or corrupt.
    checked: std::sync::Mutex<HashMap<String, Option<Problem>>>,
    /// `--partial`: training runs that are not fresh are left pending and aggregates are computed
    /// over what is done, keyed as provisional.
    pub partial: bool,
}

impl<'a> Planner<'a> {
    pub fn new(pipeline: &'a Pipeline, db: &Db, store: &'a Store, env: PlanEnv) -> Result<Self, PlanError> {
        let mut planner = Planner {
            pipeline,
            store,
            env,
            records: db.records()?,
            latest: db.latest(&pipeline.name)?,
            failures: db.failures()?,
            limited: {
                let mut rows = Vec::new();
                for &kind in crate::stages::all().iter().filter(|k| !k.limits().is_empty()) {
                    for (key, inputs, wall) in db.recorded_of(kind.name())? {
                        rows.push((kind, key, inputs, wall));
                    }
                }
                rows
            },
            by_limit_free: std::sync::OnceLock::new(),
            expected: {
                let kinds: Vec<&str> =
                    crate::stages::all().iter().filter(|k| k.rederivable()).map(|k| k.name()).collect();
                db.unrecorded_outputs(&kinds)?
            },
            file_hashes: HashMap::new(),
            missing: HashMap::new(),
            checked: Default::default(),
            partial: false,
        };
        planner.hash_external_files(db)?;
        Ok(planner)
    }

    /// Hashes the raw files instances read (cached by size and mtime in the database).
    fn hash_external_files(&mut self, db: &Db) -> Result<(), PlanError> {
        for (si, stage) in self.pipeline.stages.iter().enumerate() {
            for (ii, inst) in stage.instances.iter().enumerate() {
                let files = match stage.kind.external_files(&inst.params, &self.env.data) {
                    Ok(f) => f,
                    Err(e) => {
                        self.missing.insert((si, ii), e.to_string());
                        continue;
                    }
                };
                for f in files {
                    let key = f.display().to_string();
                    if self.file_hashes.contains_key(&key) {
                        continue;
                    }
                    match file_sha256(db, &f) {
                        Ok(sha) => {
                            self.file_hashes.insert(key, sha);
                        }
                        Err(e) => {
                            self.missing.insert((si, ii), e.to_string());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Why instance `index` of `stage` cannot run here (its raw data is missing), if it cannot.
    pub fn missing_data(&self, stage: usize, index: usize) -> Option<&str> {
        self.missing.get(&(stage, index)).map(String::as_str)
    }

    /// Whether `--partial` leaves this instance pending when it is not fresh: training runs are
    /// the expensive part; everything else is computed over what is done.
    pub fn pending_if_not_fresh(&self, stage: usize) -> bool {
        self.partial && self.pipeline.stages[stage].kind.pending_when_partial()
    }

    /// The key of instance `index` of `stage`; `upstream` holds (stage name, output hash) of
    /// every instance of the stages it needs that is done, and `partial` says how many were
    /// planned when that is not all of them.
    pub fn key_for(
        &self,
        stage: usize,
        index: usize,
        upstream: &[(&str, &str)],
        partial: Option<Partial>,
    ) -> (String, KeyInputs) {
        let s = &self.pipeline.stages[stage];
        let inst = &s.instances[index];
        let mut inputs: Vec<String> = upstream.iter().map(|(_, h)| (*h).to_owned()).collect();
        inputs.sort_unstable();
        inputs.dedup();
        let input_stages: BTreeMap<String, String> =
            upstream.iter().map(|(st, h)| ((*h).to_owned(), (*st).to_owned())).collect();
        let mut external = Vec::new();
        let mut external_paths = BTreeMap::new();
        for f in s.kind.external_files(&inst.params, &self.env.data).unwrap_or_default() {
            let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let sha = self.file_hashes.get(&f.display().to_string()).cloned().unwrap_or_default();
            external_paths.insert(name.clone(), f.display().to_string());
            external.push((name, sha));
        }
        external.sort();
        let key = StageKey {
            salt: KEY_SALT.to_owned(),
            kind: s.kind.name().to_owned(),
            kind_version: s.kind.version_of(&inst.params),
            params: inst.params.clone(),
            inputs,
            external,
            torch: s
                .kind
                .uses_torch()
                .then(|| TorchKey { libtorch: self.env.libtorch.clone(), device_class: self.env.device_class.clone() }),
            determinism: BTreeMap::new(),
            partial,
        };
        let hash = key.hash();
        (hash, KeyInputs { key, input_stages, external_paths })
    }

    /// Fresh or run, with reasons.
    pub fn classify(&self, stage: usize, index: usize, key: &str, key_inputs: &KeyInputs) -> PlannedInstance {
        let s = &self.pipeline.stages[stage];
        let id = &s.instances[index].id;
        let mut planned = PlannedInstance {
            stage,
            index,
            key: Some(key.to_owned()),
            status: Status::Run,
            reasons: Vec::new(),
            record: None,
            expected: None,
            reuse: None,
        };
        if s.kind.rederivable() {
            planned.expected = self.records.get(key).map(|r| r.output_hash.clone()).or(self.expected.get(key).cloned());
        }
        if let Some(rec) = self.records.get(key) {
            // Every object is rehashed: a fresh instance is one whose outputs can be read back.
            match rec.outputs.iter().find_map(|(name, h)| self.output_problem(name, h)) {
                None => {
                    planned.status = Status::Fresh;
                    planned.record = Some(rec.clone());
                }
                Some(reason) => planned.reasons.push(reason),
            }
        } else if let Some((rec, reuse)) = self.reusable(s.kind, key_inputs) {
            planned.status = Status::Fresh;
            planned.record = Some(rec);
            planned.reuse = Some(reuse);
        } else if let Some(err) = self.failures.get(key) {
            planned.reasons.push(RerunReason::PreviousFailed { error: first_line(err) });
        } else if let Some(hash) = &planned.expected {
            planned.reasons.push(RerunReason::Rebuild { output_hash: hash.clone() });
        } else {
            match self.latest.get(&(s.name.clone(), id.clone())) {
                Some((_, old)) => match serde_json::from_str::<KeyInputs>(old) {
                    Ok(old) => planned.reasons = explain(&old, key_inputs),
                    Err(_) => planned.reasons.push(RerunReason::KeyFormatChanged),
                },
                None => planned.reasons.push(RerunReason::NewInstance),
            }
        }
        planned
    }

    /// The record of the same computation under other limits, when it ended before the limits
    /// of `key_inputs` ([`crate::stages::StageKind::ended_within`]): no limit it never reached
    /// changes it, so its record is this instance's.
    fn reusable(&self, kind: &dyn crate::stages::StageKind, key_inputs: &KeyInputs) -> Option<(RecordRow, Reuse)> {
        if kind.limits().is_empty() {
            return None;
        }
        let key = serde_json::to_value(&key_inputs.key).ok()?;
        let index = self.by_limit_free.get_or_init(|| {
            let mut map = LimitFreeIndex::new();
            for (kind, key, inputs, wall) in &self.limited {
                if let Ok(inputs) = serde_json::from_str::<Value>(inputs) {
                    map.entry(limit_free(&inputs["key"], kind.limits())).or_default().push((key.clone(), *wall));
                }
            }
            map
        });
        let candidates = index.get(&limit_free(&key, kind.limits()))?;
        candidates.iter().find_map(|(from_key, wall)| {
            let rec = self.records.get(from_key)?;
            let why = kind.ended_within(&rec.outputs, self.store, &key["params"], *wall)?;
            let why = format!("{why} (key {})", &from_key[..12.min(from_key.len())]);
            Some((rec.clone(), Reuse { from_key: from_key.clone(), why }))
        })
    }

    /// A dry run of the whole pipeline.
    pub fn plan(&self) -> Vec<Vec<PlannedInstance>> {
        let stages = &self.pipeline.stages;
        let mut out: Vec<Vec<PlannedInstance>> = stages.iter().map(|_| Vec::new()).collect();
        let unknown = |si: usize, i: usize, reason: RerunReason, status: Status| PlannedInstance {
            stage: si,
            index: i,
            key: None,
            status,
            reasons: vec![reason],
            record: None,
            expected: None,
            reuse: None,
        };
        for &si in &self.pipeline.order {
            let stage = &stages[si];
            // An upstream instance that will run makes this key unknowable; with `--partial`
            // pending ones are left out and the key says so.
            let will_run =
                stage.needs.iter().find(|&&n| out[n].iter().any(|p| self.will_run(p))).map(|&n| stages[n].name.clone());
            if let Some(up) = will_run {
                out[si] = (0..stage.instances.len())
                    .map(|i| unknown(si, i, RerunReason::UpstreamWillRun { stage: up.clone() }, Status::Run))
                    .collect();
                continue;
            }
            let planned_upstream: usize = stage.needs.iter().map(|&n| out[n].len()).sum();
            let upstream: Vec<(&str, &str)> = stage
                .needs
                .iter()
                .flat_map(|&n| {
                    let name = stages[n].name.as_str();
                    out[n].iter().filter_map(move |p| match (&p.record, &p.expected) {
                        (Some(r), _) => Some((name, r.output_hash.as_str())),
                        (None, Some(h)) => Some((name, h.as_str())),
                        (None, None) => None,
                    })
                })
                .collect();
            let partial = (upstream.len() < planned_upstream)
                .then_some(Partial { done: upstream.len(), planned: planned_upstream });
            if partial.is_some_and(|p| p.done == 0) {
                out[si] =
                    (0..stage.instances.len()).map(|i| unknown(si, i, RerunReason::Pending, Status::Pending)).collect();
                continue;
            }
            let planned: Vec<PlannedInstance> = (0..stage.instances.len())
                .map(|i| match self.missing_data(si, i) {
                    Some(message) => {
                        let status = if self.partial { Status::Pending } else { Status::Run };
                        unknown(si, i, RerunReason::MissingData { message: message.to_owned() }, status)
                    }
                    None => {
                        let (key, ki) = self.key_for(si, i, &upstream, partial);
                        let mut p = self.classify(si, i, &key, &ki);
                        if p.status == Status::Run && self.pending_if_not_fresh(si) {
                            p.status = Status::Pending;
                            p.reasons = vec![RerunReason::Pending];
                        }
                        p
                    }
                })
                .collect();
            out[si] = planned;
        }
        out
    }

    /// Whether `p` will execute in a run, so that what needs it cannot be keyed before. With
    /// `--partial` an instance that failed before with the same key counts as settled, not done:
    /// it would fail again, and the aggregates above it are computed without it.
    fn will_run(&self, p: &PlannedInstance) -> bool {
        p.status == Status::Run
            && p.expected.is_none()
            && !(self.partial && matches!(p.reasons.first(), Some(RerunReason::PreviousFailed { .. })))
    }

    /// The downstream view of a fresh instance.
    pub fn done_of(&self, p: &PlannedInstance) -> Done {
        let s = &self.pipeline.stages[p.stage];
        let inst = &s.instances[p.index];
        let rec = p.record.as_ref().expect("fresh instances have a record");
        Done {
            input: Input {
                stage: s.name.clone(),
                kind: s.kind.name().to_owned(),
                instance: inst.id.clone(),
                key: rec.key.clone(),
                params: inst.params.clone(),
                outputs: rec.outputs.clone(),
            },
            output_hash: rec.output_hash.clone(),
        }
    }

    /// The plan as `plan --json` prints it.
    pub fn to_json(&self, plan: &[Vec<PlannedInstance>]) -> Value {
        let mut items = Vec::new();
        for &si in &self.pipeline.order {
            let s = &self.pipeline.stages[si];
            for p in &plan[si] {
                let inst = &s.instances[p.index];
                let mut item = json!({
                    "stage": s.name,
                    "kind": s.kind.name(),
                    "id": inst.id,
                    "params": inst.params,
                    "status": p.status,
                    "key": p.key,
                    "reasons": p.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
                });
                if let Some(reuse) = &p.reuse {
                    item["reused_from"] = json!(reuse.from_key);
                    item["reuse"] = json!(reuse.why);
                }
                items.push(item);
            }
        }
        Value::Array(items)
    }
}

#[derive(Debug, Clone)]
enum Problem {
    Missing,
    Corrupt,
    Unreadable(String),
}

impl Planner<'_> {
    /// Why output `name` (object `hash`) of a record cannot be used, if it cannot. Each object
    /// is rehashed once per plan.
    fn output_problem(&self, name: &str, hash: &str) -> Option<RerunReason> {
        use crate::store::StoreError;
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        let problem = checked
            .entry(hash.to_owned())
            .or_insert_with(|| match self.store.verify(hash) {
                Ok(()) => None,
                Err(StoreError::Missing(_)) => Some(Problem::Missing),
                Err(StoreError::Corrupt { .. }) => Some(Problem::Corrupt),
                Err(e) => Some(Problem::Unreadable(e.to_string())),
            })
            .clone();
        let (output, hash) = (name.to_owned(), hash.to_owned());
        problem.map(|p| match p {
            Problem::Missing => RerunReason::OutputMissing { output, hash },
            Problem::Corrupt => RerunReason::OutputCorrupt { output, hash },
            Problem::Unreadable(message) => RerunReason::OutputUnreadable { output, hash, message },
        })
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(200).collect()
}

/// sha256 of a file, cached in the database by path, size and mtime.
pub fn file_sha256(db: &Db, path: &Path) -> Result<String, crate::datasets::DataError> {
    use std::os::unix::fs::MetadataExt;
    let meta =
        std::fs::metadata(path).map_err(|source| crate::datasets::DataError::Io { path: path.to_owned(), source })?;
    let (size, mtime) = (meta.len() as i64, meta.mtime() * 1_000_000_000 + meta.mtime_nsec());
    let key = path.display().to_string();
    if let Some(sha) = db.cached_file_hash(&key, size, mtime) {
        return Ok(sha);
    }
    let sha = crate::datasets::sources::sha256_file(path)?;
    db.store_file_hash(&key, size, mtime, &sha);
    Ok(sha)
}
