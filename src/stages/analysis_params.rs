//! Parameters shared by the analysis stages (fit, crossover, optimum): which runs they use, the
//! bootstrap, and the claim they test, so the report can put each result next to what the paper
//! or the theory says.

use serde_json::{Map, Value};

use super::params::{CheckError, DefaultValue, ParamDef, ParamType, Params};
use super::registry::{param_f64, param_i64, param_str};
use crate::analysis::table::Selection;

pub const SELECT: ParamDef =
    ParamDef::keyed("select", ParamType::Map, DefaultValue::None, "runs used: parameter → value (or list of values)");
pub const RANGE: ParamDef =
    ParamDef::keyed("range", ParamType::Map, DefaultValue::None, "fit range: variable → [low, high] (null for open)");
pub const STATUS: ParamDef =
    ParamDef::keyed("status", ParamType::Str, DefaultValue::Str("converged"), "runs used: converged or any");
pub const BOOTSTRAP: ParamDef =
    ParamDef::keyed("bootstrap", ParamType::Int, DefaultValue::Int(1000), "bootstrap resamples of seeds");
pub const CONFIDENCE: ParamDef =
    ParamDef::keyed("confidence", ParamType::Float, DefaultValue::Float(0.95), "confidence level of the intervals");
pub const SEED: ParamDef = ParamDef::keyed("seed", ParamType::Int, DefaultValue::Int(0), "seed of the bootstrap");
pub const CLAIM: ParamDef =
    ParamDef::keyed("claim", ParamType::Str, DefaultValue::None, "the claim, as the report states it");
pub const THEORY: ParamDef =
    ParamDef::keyed("theory", ParamType::Map, DefaultValue::None, "expected values: exponent → number");
pub const PAPER: ParamDef =
    ParamDef::keyed("paper", ParamType::Str, DefaultValue::None, "what the paper reports, as text for the report");

pub fn selection(p: &Params) -> Selection {
    let obj = |name: &str| p.get(name).and_then(Value::as_object).cloned().unwrap_or_default();
    Selection { select: obj("select"), range: obj("range"), converged_only: param_str(p, "status") != Some("any") }
}

pub struct Bootstrap {
    pub resamples: usize,
    pub confidence: f64,
    pub seed: u64,
}

pub fn bootstrap(p: &Params) -> Bootstrap {
    Bootstrap {
        resamples: param_i64(p, "bootstrap").unwrap_or(1000).max(0) as usize,
        confidence: param_f64(p, "confidence").unwrap_or(0.95),
        seed: param_i64(p, "seed").unwrap_or(0) as u64,
    }
}

/// Checks the shared parameters and that the stage `kind` reads runs (a collect or train stage
/// in `needs`); `(param, message)` on error.
pub fn check(kind: &str, p: &Params, upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
    if upstream.iter().all(|(k, _)| *k != "collect" && *k != "train") {
        return Err(CheckError::needs(format!("{kind} needs a collect or train stage")));
    }
    if !matches!(param_str(p, "status"), Some("converged" | "any")) {
        return Err(CheckError::param("status", "expected converged or any"));
    }
    let c = param_f64(p, "confidence").unwrap_or(0.0);
    if !(c > 0.0 && c < 1.0) {
        return Err(CheckError::param("confidence", format!("must be between 0 and 1, got {c}")));
    }
    if let Some(Value::Object(r)) = p.get("range") {
        for (k, v) in r {
            let ok = v.as_array().is_some_and(|a| a.len() == 2 && a.iter().all(|x| x.is_null() || x.is_number()));
            if !ok {
                return Err(CheckError::param("range", format!("{k}: expected [low, high] with numbers or null")));
            }
        }
    }
    if let Some(Value::Object(t)) = p.get("theory") {
        if let Some((k, _)) = t.iter().find(|(_, v)| !v.is_number()) {
            return Err(CheckError::param("theory", format!("{k}: expected a number")));
        }
    }
    Ok(())
}

/// The claim's text, theory values and paper statement, carried into the output for the report.
pub fn claim(p: &Params) -> Value {
    let mut m = Map::new();
    for name in ["claim", "theory", "paper", "select", "range"] {
        if let Some(v) = p.get(name).filter(|v| !v.is_null()) {
            m.insert(name.into(), v.clone());
        }
    }
    Value::Object(m)
}
