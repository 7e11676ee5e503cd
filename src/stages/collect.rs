//! `collect`: the table of the runs of upstream train instances (parameters, observables,
//! status, key) as `runs.json` and `runs.csv`: the input of the analysis stages and of
//! `sgdnoise results`. Rows are sorted by parameters so the table does not depend on stage
//! names or execution order.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::params::{CheckError, Params, Schema, Typed};
use super::registry::{ExecContext, ExecOutput, Job, StageError, StageKind};

pub struct Collect;

/// `collect` takes no parameters.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectParams {}

static SCHEMA: Typed<CollectParams> = Typed::new();

/// Columns left out of the CSV (nested values).
const NESTED: &[&str] = &["layers", "trajectory", "data_sha256"];

impl StageKind for Collect {
    fn name(&self) -> &'static str {
        "collect"
    }

    fn version(&self) -> u32 {
        1
    }

    fn params(&self) -> &'static dyn Schema {
        &SCHEMA
    }

    fn check(&self, _params: &Params, upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        if upstream.iter().all(|(k, _)| *k != "train") {
            return Err(CheckError::needs("collect needs at least one train stage"));
        }
        Ok(())
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let mut rows: Vec<Map<String, Value>> = Vec::new();
        for input in job.inputs.iter().filter(|i| i.kind == "train") {
            let hash =
                input.outputs.get("record.json").ok_or_else(|| StageError::new("train input has no record.json"))?;
            let bytes = ctx.store.get(hash).map_err(|e| StageError(e.to_string()))?;
            let Value::Object(mut row) =
                serde_json::from_slice(&bytes).map_err(|e| StageError(format!("object {hash}: {e}")))?
            else {
                return Err(StageError(format!("object {hash}: not a JSON object")));
            };
            row.insert("key".into(), Value::String(input.key.clone()));
            rows.push(row);
        }
        rows.sort_by_key(|r| {
            let mut params = r.clone();
            params.retain(|k, _| !NESTED.contains(&k.as_str()));
            crate::engine::key::canonical_json(&Value::Object(params))
        });
        let mut out = ExecOutput::default();
        out.outputs.insert("runs.csv".into(), to_csv(&rows).into_bytes());
        out.outputs.insert("runs.json".into(), serde_json::to_vec_pretty(&rows).expect("serialise rows"));
        if let Some(p) = job.partial {
            let coverage = Coverage { runs_done: p.done, runs_planned: p.planned };
            out.outputs.insert(COVERAGE.into(), serde_json::to_vec_pretty(&coverage).expect("serialise coverage"));
        }
        out.metrics = serde_json::json!({ "runs": rows.len() });
        Ok(out)
    }
}

/// The output of a collect computed over part of its runs (`--partial`).
const COVERAGE: &str = "coverage.json";

/// How many of the planned runs a provisional table holds; analyses above it carry it on as
/// `provisional`, and the report marks their claims with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub runs_done: usize,
    pub runs_planned: usize,
}

/// The coverage of an analysis's runs: summed over its provisional collect inputs (and its own
/// partial train inputs); `None` when every planned run is in.
pub fn coverage(ctx: &ExecContext, job: &Job) -> Result<Option<Coverage>, StageError> {
    let mut total = Coverage { runs_done: 0, runs_planned: 0 };
    let mut partial = false;
    for input in job.inputs.iter().filter(|i| i.kind == "collect") {
        let Some(hash) = input.outputs.get(COVERAGE) else { continue };
        let bytes = ctx.store.get(hash).map_err(|e| StageError(e.to_string()))?;
        let c: Coverage = serde_json::from_slice(&bytes).map_err(|e| StageError(format!("object {hash}: {e}")))?;
        partial = true;
        total.runs_done += c.runs_done;
        total.runs_planned += c.runs_planned;
    }
    if let Some(p) = job.partial.filter(|_| job.inputs.iter().any(|i| i.kind == "train")) {
        partial = true;
        total.runs_done += p.done;
        total.runs_planned += p.planned;
    }
    Ok(partial.then_some(total))
}

/// Adds `provisional` to an analysis output computed over part of its runs.
pub fn mark_provisional(ctx: &ExecContext, job: &Job, out: &mut Value) -> Result<(), StageError> {
    if let (Some(c), Value::Object(map)) = (coverage(ctx, job)?, out) {
        map.insert("provisional".into(), serde_json::to_value(c).expect("serialise coverage"));
    }
    Ok(())
}

/// The rows as CSV: the union of scalar columns, in first-seen order.
pub fn to_csv(rows: &[Map<String, Value>]) -> String {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        for (k, v) in row {
            if !NESTED.contains(&k.as_str()) && !v.is_array() && !v.is_object() && !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let mut out = columns.join(",");
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = columns.iter().map(|c| csv_cell(row.get(c))).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn csv_cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.contains([',', '"', '\n']) => format!("\"{}\"", s.replace('"', "\"\"")),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The runs behind an analysis stage: the rows of its `collect` inputs and the records of its
/// `train` inputs (with their keys, so the analysis can list the runs it used).
pub fn gather_rows(ctx: &ExecContext, job: &Job) -> Result<Vec<Map<String, Value>>, StageError> {
    let mut rows = Vec::new();
    for input in &job.inputs {
        let (name, many) = match input.kind.as_str() {
            "collect" => ("runs.json", true),
            "train" => ("record.json", false),
            _ => continue,
        };
        let hash =
            input.outputs.get(name).ok_or_else(|| StageError(format!("input {} has no {name}", input.instance)))?;
        let bytes = ctx.store.get(hash).map_err(|e| StageError(e.to_string()))?;
        let parsed: Value = serde_json::from_slice(&bytes).map_err(|e| StageError(format!("object {hash}: {e}")))?;
        match (many, parsed) {
            (true, Value::Array(items)) => rows.extend(items.into_iter().filter_map(|v| v.as_object().cloned())),
            (false, Value::Object(mut o)) => {
                o.insert("key".into(), Value::String(input.key.clone()));
                rows.push(o)
            }
            _ => return Err(StageError(format!("object {hash}: unexpected shape"))),
        }
    }
    Ok(rows)
}
