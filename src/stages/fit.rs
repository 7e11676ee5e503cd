//! `fit`: a power law over collected runs, e.g. `rel_dw ~ T^delta * P^gamma`, by least squares in
//! log space with a bootstrap over seeds. Records which runs were used and which were excluded
//! and why, so `why` can trace an exponent back to its training runs.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::params::{DefaultValue, ParamDef, ParamType, Params};
use super::registry::{param_f64, param_i64, param_str, ExecContext, ExecOutput, Job, StageError, StageKind};
use crate::analysis::powerlaw::{fit, Law, Point};

pub struct Fit;

const PARAMS: &[ParamDef] = &[
    ParamDef::keyed("y", ParamType::Str, DefaultValue::Required, "the observable fitted (a column of the runs)"),
    ParamDef::keyed("law", ParamType::Str, DefaultValue::Required, "e.g. `T^delta * P^gamma`"),
    ParamDef::keyed("status", ParamType::Str, DefaultValue::Str("converged"), "runs used: converged or any"),
    ParamDef::keyed("bootstrap", ParamType::Int, DefaultValue::Int(1000), "bootstrap resamples of seeds"),
    ParamDef::keyed("confidence", ParamType::Float, DefaultValue::Float(0.95), "confidence level of the intervals"),
    ParamDef::keyed("seed", ParamType::Int, DefaultValue::Int(0), "seed of the bootstrap"),
];

impl StageKind for Fit {
    fn name(&self) -> &'static str {
        "fit"
    }

    fn version(&self) -> u32 {
        1
    }

    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }

    fn check(&self, params: &Params, upstream: &[(&str, &Params)]) -> Result<(), (String, String)> {
        Law::parse(param_str(params, "law").unwrap_or_default()).map_err(|m| ("law".to_owned(), m))?;
        if !matches!(param_str(params, "status"), Some("converged" | "any")) {
            return Err(("status".into(), "expected converged or any".into()));
        }
        let c = param_f64(params, "confidence").unwrap_or(0.0);
        if !(c > 0.0 && c < 1.0) {
            return Err(("confidence".into(), format!("must be between 0 and 1, got {c}")));
        }
        if upstream.iter().all(|(k, _)| *k != "collect" && *k != "train") {
            return Err(("needs".into(), "fit needs a collect or train stage".into()));
        }
        Ok(())
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let law = Law::parse(param_str(&job.params, "law").unwrap_or_default()).map_err(StageError)?;
        let y = param_str(&job.params, "y").unwrap_or_default().to_owned();
        let only_converged = param_str(&job.params, "status") == Some("converged");
        let mut rows: Vec<Map<String, Value>> = Vec::new();
        for input in &job.inputs {
            let (name, many) = match input.kind.as_str() {
                "collect" => ("runs.json", true),
                "train" => ("record.json", false),
                _ => continue,
            };
            let hash =
                input.outputs.get(name).ok_or_else(|| StageError(format!("input {} has no {name}", input.instance)))?;
            let bytes = ctx.store.get(hash).map_err(|e| StageError(e.to_string()))?;
            let parsed: Value =
                serde_json::from_slice(&bytes).map_err(|e| StageError(format!("object {hash}: {e}")))?;
            match (many, parsed) {
                (true, Value::Array(items)) => rows.extend(items.into_iter().filter_map(|v| v.as_object().cloned())),
                (false, Value::Object(mut o)) => {
                    o.insert("key".into(), json!(input.key));
                    rows.push(o)
                }
                _ => return Err(StageError(format!("object {hash}: unexpected shape"))),
            }
        }
        let mut points = Vec::new();
        let mut used = Vec::new();
        let mut excluded: BTreeMap<String, usize> = BTreeMap::new();
        for row in &rows {
            let status = row.get("status").and_then(Value::as_str).unwrap_or("?");
            if only_converged && status != "converged" {
                *excluded.entry(format!("status {status}")).or_default() += 1;
                continue;
            }
            let yv = row.get(&y).and_then(Value::as_f64);
            let xs: Option<Vec<f64>> = law.terms.iter().map(|(v, _)| row.get(v).and_then(Value::as_f64)).collect();
            match (yv, xs) {
                (Some(yv), Some(xs)) if yv > 0.0 && xs.iter().all(|&x| x > 0.0) => {
                    points.push(Point { x: xs, y: yv, cluster: row.get("seed").and_then(Value::as_i64).unwrap_or(0) });
                    used.push(row.get("key").cloned().unwrap_or(Value::Null));
                }
                (None, _) | (_, None) => *excluded.entry(format!("no {y} or variables")).or_default() += 1,
                _ => *excluded.entry("non-positive value".into()).or_default() += 1,
            }
        }
        let result = fit(
            &law,
            &points,
            param_i64(&job.params, "bootstrap").unwrap_or(1000).max(0) as usize,
            param_f64(&job.params, "confidence").unwrap_or(0.95),
            param_i64(&job.params, "seed").unwrap_or(0) as u64,
        )
        .map_err(|m| StageError(format!("fit of {y} ~ {}: {m}", param_str(&job.params, "law").unwrap_or_default())))?;
        let out_json = json!({
            "y": y,
            "law": param_str(&job.params, "law"),
            "fit": result,
            "runs_used": used.len(),
            "runs_excluded": excluded,
            "used_keys": used,
        });
        let mut out = ExecOutput::default();
        out.outputs.insert("fit.json".into(), serde_json::to_vec_pretty(&out_json).expect("serialise fit"));
        out.metrics = json!({ "runs_used": used.len() });
        Ok(out)
    }
}
