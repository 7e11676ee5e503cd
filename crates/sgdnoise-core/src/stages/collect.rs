//! `collect`: the table of the runs of upstream train instances (parameters, observables,
//! status, key) as `runs.json` and `runs.csv`: the input of the analysis stages and of
//! `sgdnoise results`. Rows are sorted by parameters so the table does not depend on stage
//! names or execution order.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::kind::{ExecContext, ExecOutput, StageError, StageKind};
use super::params::{CheckError, Params, Schema, Typed};
use crate::job::Job;
use crate::outputs::{self, Coverage, RunRow, RunsTable, Stored, TrainRecord};

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
                (crate::canonical::canonical_json(&Value::Object(params)), row)
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

/// The rows as CSV (the `csv` crate: a field is quoted only when it must be, the header's too):
/// the union of scalar columns, in first-seen order. Its bytes are a stored output, so they
/// stay what they always were: an empty table is one empty line.
pub fn to_csv(rows: &[Map<String, Value>]) -> String {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        for (k, v) in row {
            if !NESTED.contains(&k.as_str()) && !v.is_array() && !v.is_object() && !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    if columns.is_empty() {
        return "\n".repeat(rows.len() + 1);
    }
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    w.write_record(&columns).expect("writing to memory");
    for row in rows {
        w.write_record(columns.iter().map(|c| csv_cell(row.get(c)))).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 in, UTF-8 out")
}

fn csv_cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn csv_quotes_only_what_it_must_header_included() {
        let rows =
            [row(json!({"a,b": 1, "s": "plain", "n": null})), row(json!({"s": "say \"hi\", then go", "x": 0.5}))];
        assert_eq!(to_csv(&rows), "\"a,b\",s,n,x\n1,plain,,\n,\"say \"\"hi\"\", then go\",,0.5\n");
        assert_eq!(to_csv(&[]), "\n");
    }
}
