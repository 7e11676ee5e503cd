//! `why`: the provenance chain of a stage instance, an output object or an exponent: every
//! execution upstream of it, with keys, parameters, seeds, code and libtorch versions.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;
use serde_json::Value;

use super::db::{Db, DbError, ExecutionRow};

#[derive(Debug, thiserror::Error)]
pub enum WhyError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("nothing recorded matches `{0}` (give a key, an object or output hash, a prefix of one of at least 6 characters, an instance id like `train[P=256,seed=0]`, or a report item id like `fit:2d074aefac77`)")]
    NotFound(String),
    #[error("`{target}` is ambiguous: it matches {count} records; give more characters")]
    Ambiguous { target: String, count: usize },
}

/// One execution in the chain, with its distance from the target.
#[derive(Debug, Clone, Serialize)]
pub struct ChainItem {
    pub depth: usize,
    pub stage: String,
    pub instance: String,
    pub kind: String,
    pub kind_version: u32,
    pub key: String,
    pub params: Value,
    pub outputs: BTreeMap<String, String>,
    pub sgdnoise_version: Value,
    /// The source revision the coordinator was built from: `0123456789ab`, `…-dirty`, or
    /// `unknown` (older records, a build outside git).
    pub source: String,
    pub libtorch_version: Value,
    pub host: String,
    pub finished_at: Option<String>,
    pub duration_s: Option<f64>,
    pub inputs: Vec<String>,
    pub external: Value,
    /// Set when the execution was imported from a bundle: which, when and where.
    pub origin: Option<Value>,
}

/// Resolves a target to exactly one record key.
pub fn resolve(db: &Db, target: &str) -> Result<String, WhyError> {
    let target = target.trim();
    // A report item id `fit:KEY` or `report:KEY#item` carries its key.
    let core = target.split_once(':').map(|(_, k)| k).unwrap_or(target);
    let core = core.split('#').next().unwrap_or(core);
    if core.contains('[') || !core.chars().all(|c| c.is_ascii_hexdigit()) {
        let keys: BTreeSet<String> = db.key_of_instance(target)?.into_iter().map(|(_, k)| k).collect();
        return match keys.len() {
            0 => Err(WhyError::NotFound(target.to_owned())),
            1 => Ok(keys.into_iter().next().unwrap()),
            n => Err(WhyError::Ambiguous { target: target.to_owned(), count: n }),
        };
    }
    if core.len() < 6 {
        return Err(WhyError::NotFound(target.to_owned()));
    }
    let keys = db.find_keys(&core.to_lowercase())?;
    match keys.len() {
        0 => Err(WhyError::NotFound(target.to_owned())),
        1 => Ok(keys.into_iter().next().unwrap()),
        n => Err(WhyError::Ambiguous { target: target.to_owned(), count: n }),
    }
}

/// The executions behind `key`, breadth-first from it.
pub fn chain(db: &Db, key: &str) -> Result<Vec<ChainItem>, WhyError> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([(key.to_owned(), 0usize)]);
    while let Some((k, depth)) = queue.pop_front() {
        if !seen.insert(k.clone()) {
            continue;
        }
        let Some(row) = db.execution_for_key(&k)? else { continue };
        let inputs: Vec<String> = row
            .inputs
            .as_array()
            .map(|a| a.iter().filter_map(|i| i.get("key").and_then(Value::as_str).map(str::to_owned)).collect())
            .unwrap_or_default();
        for i in &inputs {
            queue.push_back((i.clone(), depth + 1));
        }
        out.push(item(row, depth, inputs));
    }
    Ok(out)
}

fn item(row: ExecutionRow, depth: usize, inputs: Vec<String>) -> ChainItem {
    ChainItem {
        depth,
        stage: row.stage,
        instance: row.instance,
        kind: row.kind,
        kind_version: row.kind_version,
        key: row.key,
        params: row.params,
        outputs: row.outputs.unwrap_or_default(),
        sgdnoise_version: row.env.get("sgdnoise_version").cloned().unwrap_or(Value::Null),
        source: source_of(&row.env),
        libtorch_version: row.env.get("libtorch_version").cloned().unwrap_or(Value::Null),
        host: row.host,
        finished_at: row.finished_at,
        duration_s: row.duration_s,
        inputs,
        external: row.key_inputs.pointer("/key/external").cloned().unwrap_or(Value::Null),
        origin: row.origin,
    }
}

/// The revision an execution's environment names (`0123456789ab`, `…-dirty`, `unknown`).
fn source_of(env: &Value) -> String {
    crate::host::Source {
        commit: env.get("source_commit").and_then(Value::as_str).unwrap_or("unknown").to_owned(),
        dirty: env.get("source_dirty").and_then(Value::as_bool),
    }
    .short()
}

pub(crate) fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// What the audited analysis did with a training run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    Used,
    LeftOut(String),
    /// Another experiment in the same table (other parameters than the analysis selects).
    NotSelected,
}

/// Human-readable rendering: the target, then `head` (lines about the target: the value it
/// audits), then each upstream stage kind grouped, training instances one per line with seed,
/// key and libtorch version, and what `mark` says of them: used and left-out runs are listed,
/// those not selected counted.
pub fn render(items: &[ChainItem], head: &str, mark: &dyn Fn(&str) -> Option<Mark>) -> String {
    let mut out = String::new();
    let Some(top) = items.first() else { return out };
    out.push_str(&format!(
        "{} ({} v{}) key {}\n  ran {} on {} with sgdnoise {} (source {}), libtorch {}\n",
        top.instance,
        top.kind,
        top.kind_version,
        top.key,
        top.finished_at.as_deref().unwrap_or("?"),
        top.host,
        top.sgdnoise_version.as_str().unwrap_or("?"),
        top.source,
        top.libtorch_version.as_str().unwrap_or("-"),
    ));
    if let Some(o) = &top.origin {
        let field = |f: &str| o.get(f).and_then(Value::as_str).unwrap_or("?").to_owned();
        let from = match field("bundle").as_str() {
            "remote" => format!("the remote {}", field("path")),
            bundle => format!("bundle {} ({})", short(bundle), field("path")),
        };
        out.push_str(&format!("  imported {} on {} from {from}\n", field("imported_at"), field("imported_on")));
    }
    for (name, hash) in &top.outputs {
        out.push_str(&format!("  output {name} = {hash}\n"));
    }
    out.push_str(head);
    let mut by_depth: BTreeMap<usize, Vec<&ChainItem>> = BTreeMap::new();
    for it in &items[1..] {
        by_depth.entry(it.depth).or_default().push(it);
    }
    for (depth, group) in by_depth {
        let mut kinds: BTreeMap<&str, Vec<&ChainItem>> = BTreeMap::new();
        for it in group {
            kinds.entry(it.kind.as_str()).or_default().push(it);
        }
        for (kind, list) in kinds {
            let indent = "  ".repeat(depth);
            out.push_str(&format!(
                "{indent}← {} {kind} instance{}\n",
                list.len(),
                if list.len() == 1 { "" } else { "s" }
            ));
            let mut not_selected = 0;
            for it in list {
                let marked = match (it.kind == "train").then(|| mark(&it.key)).flatten() {
                    Some(Mark::NotSelected) => {
                        not_selected += 1;
                        continue;
                    }
                    Some(Mark::Used) => Some(": used".to_owned()),
                    Some(Mark::LeftOut(reason)) => Some(format!(": left out, {reason}")),
                    None => None,
                };
                let seed = it.params.get("seed").map(|s| format!(" seed {s}")).unwrap_or_default();
                out.push_str(&format!(
                    "{indent}    {} key {}{seed} sgdnoise {} (source {}) libtorch {}{}\n",
                    it.instance,
                    short(&it.key),
                    it.sgdnoise_version.as_str().unwrap_or("?"),
                    it.source,
                    it.libtorch_version.as_str().unwrap_or("-"),
                    marked.unwrap_or_default(),
                ));
                if let Some(files) = it.external.as_array().filter(|a| !a.is_empty()) {
                    for f in files {
                        if let (Some(name), Some(sha)) =
                            (f.get(0).and_then(Value::as_str), f.get(1).and_then(Value::as_str))
                        {
                            out.push_str(&format!("{indent}      raw file {name} sha256 {sha}\n"));
                        }
                    }
                }
            }
            if not_selected > 0 {
                out.push_str(&format!(
                    "{indent}    and {not_selected} not selected by the analysis (other parameters in the same table)\n"
                ));
            }
        }
    }
    out
}
