//! `collect`: the table of the runs of upstream train instances (parameters, observables,
//! status, key) as `runs.json` and `runs.csv`: the input of the analysis stages and of
//! `sgdnoise results`. Rows are sorted by parameters so the table does not depend on stage
//! names or execution order.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::outputs::{self, Coverage, RunRow, RunsTable, Stored, TrainRecord};
use super::params::{CheckError, Params, Schema, Typed};
use super::registry::{ExecContext, ExecOutput, Job, StageError, StageKind};

pub struct Collect;

/// `collect` takes no parameters.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
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
        let mut rows = Vec::new();
        for input in job.inputs.iter().filter(|i| i.kind == "train") {
            let record: TrainRecord = outputs::read(ctx.store, input)?;
            rows.push(RunRow { record, key: input.key.clone() });
        }
        let mut keyed: Vec<(String, RunRow)> = rows
            .into_iter()
            .map(|row| {
                let mut params = row.columns();
                params.retain(|k, _| !NESTED.contains(&k.as_str()));
                (crate::engine::key::canonical_json(&Value::Object(params)), row)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        let table = RunsTable(keyed.into_iter().map(|(_, row)| row).collect());
        let columns: Vec<Map<String, Value>> = table.0.iter().map(RunRow::columns).collect();
        let mut out = ExecOutput::default();
        out.outputs.insert("runs.csv".into(), to_csv(&columns).into_bytes());
        out.outputs.insert(RunsTable::FILE.into(), outputs::encode(&table));
        if let Some(p) = job.partial {
            let coverage = Coverage { runs_done: p.done, runs_planned: p.planned };
            out.outputs.insert(Coverage::FILE.into(), outputs::encode(&coverage));
        }
        out.metrics = serde_json::json!({ "runs": table.0.len() });
        Ok(out)
    }
}

/// The coverage of an analysis's runs: summed over its provisional collect inputs (and its own
/// partial train inputs); `None` when every planned run is in.
pub fn coverage(ctx: &ExecContext, job: &Job) -> Result<Option<Coverage>, StageError> {
    let mut total = Coverage { runs_done: 0, runs_planned: 0 };
    let mut partial = false;
    for input in job.inputs.iter().filter(|i| i.kind == "collect") {
        let Some(c) = outputs::read_optional::<Coverage>(ctx.store, input)? else { continue };
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

/// The runs behind an analysis stage, as named columns: the rows of its `collect` inputs and
/// the records of its `train` inputs (with their keys, so the analysis can list the runs it used).
pub fn gather_rows(ctx: &ExecContext, job: &Job) -> Result<Vec<Map<String, Value>>, StageError> {
    let mut rows = Vec::new();
    for input in &job.inputs {
        match input.kind.as_str() {
            "collect" => rows.extend(outputs::read::<RunsTable>(ctx.store, input)?.0.iter().map(RunRow::columns)),
            "train" => {
                let record: TrainRecord = outputs::read(ctx.store, input)?;
                rows.push(RunRow { record, key: input.key.clone() }.columns());
            }
            _ => {}
        }
    }
    Ok(rows)
}
