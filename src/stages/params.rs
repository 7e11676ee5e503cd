//! Typed stage parameters: each stage kind declares its parameters (type, default, whether the
//! value enters the cache key), and user values are checked and normalised against them so that
//! `T: 1` and `T: 1.0` give the same key.

use std::collections::BTreeMap;

use serde_json::Value;

/// Resolved parameters of one instance, sorted by name.
pub type Params = BTreeMap<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    Int,
    Float,
    Str,
    Bool,
    /// A list of strings.
    Strs,
    /// A mapping (JSON object), e.g. parameter filters.
    Map,
}

impl ParamType {
    fn name(self) -> &'static str {
        match self {
            ParamType::Int => "an integer",
            ParamType::Float => "a number",
            ParamType::Str => "a string",
            ParamType::Bool => "true or false",
            ParamType::Strs => "a list of strings",
            ParamType::Map => "a mapping",
        }
    }
}

/// What happens when a parameter is not given.
#[derive(Debug, Clone, Copy)]
pub enum DefaultValue {
    Required,
    /// Absent: the parameter is null.
    None,
    Int(i64),
    Float(f64),
    Str(&'static str),
    Bool(bool),
}

#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    pub name: &'static str,
    pub ty: ParamType,
    pub default: DefaultValue,
    /// Semantic (in the cache key) or execution-only (recorded, not keyed).
    pub keyed: bool,
    pub doc: &'static str,
}

impl ParamDef {
    pub const fn keyed(name: &'static str, ty: ParamType, default: DefaultValue, doc: &'static str) -> Self {
        ParamDef { name, ty, default, keyed: true, doc }
    }

    pub const fn exec(name: &'static str, ty: ParamType, default: DefaultValue, doc: &'static str) -> Self {
        ParamDef { name, ty, default, keyed: false, doc }
    }

    fn default_value(&self) -> Option<Value> {
        match self.default {
            DefaultValue::Required => None,
            DefaultValue::None => Some(Value::Null),
            DefaultValue::Int(i) => Some(Value::from(i)),
            DefaultValue::Float(f) => Some(float(f)),
            DefaultValue::Str(s) => Some(Value::from(s)),
            DefaultValue::Bool(b) => Some(Value::from(b)),
        }
    }
}

fn float(f: f64) -> Value {
    serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
}

/// Parses `2^-6` (a power of two) or a plain number.
pub fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    if let Some(exp) = t.strip_prefix("2^") {
        let e: f64 = exp.trim().parse().ok()?;
        let v = 2f64.powf(e);
        return v.is_finite().then_some(v);
    }
    let v: f64 = t.parse().ok()?;
    v.is_finite().then_some(v)
}

/// A value of the wrong type for its parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {got}")]
pub struct ValueError {
    pub expected: &'static str,
    pub got: String,
}

/// What is wrong with one parameter of an instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamErrorKind {
    #[error("unknown parameter (known: {})", .known.join(", "))]
    Unknown { known: Vec<&'static str> },
    #[error("required parameter is missing")]
    Missing,
    #[error(transparent)]
    Value(#[from] ValueError),
}

/// A parameter error, with the parameter it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParamError {
    pub param: String,
    pub kind: ParamErrorKind,
}

/// Where a stage kind's check found a problem: one parameter, the `needs` list, or the stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamAt {
    Param(String),
    Needs,
    Stage,
}

/// A kind's check failed: where, and why (in words for the located message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CheckError {
    pub at: ParamAt,
    pub message: String,
}

impl CheckError {
    pub fn param(name: &str, message: impl Into<String>) -> Self {
        CheckError { at: ParamAt::Param(name.to_owned()), message: message.into() }
    }

    pub fn needs(message: impl Into<String>) -> Self {
        CheckError { at: ParamAt::Needs, message: message.into() }
    }
}

/// Checks `value` against `def` and normalises it (integers stay integers, numbers become
/// floats, `2^k` strings become numbers).
pub fn coerce(def: &ParamDef, value: &Value) -> Result<Value, ValueError> {
    if value.is_null() && matches!(def.default, DefaultValue::None) {
        return Ok(Value::Null);
    }
    let wrong = || ValueError { expected: def.ty.name(), got: describe(value) };
    match def.ty {
        ParamType::Int => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::from(f as i64)),
                _ => Err(wrong()),
            },
            Value::String(s) => match parse_number(s) {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::from(f as i64)),
                _ => Err(wrong()),
            },
            _ => Err(wrong()),
        },
        ParamType::Float => match value {
            Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).map(float).ok_or_else(wrong),
            Value::String(s) => parse_number(s).map(float).ok_or_else(wrong),
            _ => Err(wrong()),
        },
        ParamType::Str => match value {
            Value::String(_) => Ok(value.clone()),
            _ => Err(wrong()),
        },
        ParamType::Bool => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => Err(wrong()),
        },
        ParamType::Map => match value {
            Value::Object(_) => Ok(value.clone()),
            _ => Err(wrong()),
        },
        ParamType::Strs => match value {
            Value::Array(items) if items.iter().all(Value::is_string) => Ok(value.clone()),
            Value::String(s) => Ok(Value::Array(vec![Value::String(s.clone())])),
            _ => Err(wrong()),
        },
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::String(s) => format!("`{s}`"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// Resolves the user's values against the declared parameters: unknown names and bad values
/// are errors naming the parameter; missing ones take their defaults.
pub fn resolve(defs: &[ParamDef], given: &Params) -> Result<Params, ParamError> {
    for name in given.keys() {
        if !defs.iter().any(|d| d.name == name) {
            let known = defs.iter().map(|d| d.name).collect();
            return Err(ParamError { param: name.clone(), kind: ParamErrorKind::Unknown { known } });
        }
    }
    let error = |def: &ParamDef, kind| ParamError { param: def.name.to_owned(), kind };
    let mut out = Params::new();
    for def in defs {
        let value = match given.get(def.name) {
            Some(v) => coerce(def, v).map_err(|e| error(def, e.into()))?,
            None => def.default_value().ok_or_else(|| error(def, ParamErrorKind::Missing))?,
        };
        out.insert(def.name.to_owned(), value);
    }
    Ok(out)
}

/// The keyed subset of resolved parameters.
pub fn keyed(defs: &[ParamDef], params: &Params) -> Params {
    defs.iter().filter(|d| d.keyed).filter_map(|d| params.get(d.name).map(|v| (d.name.to_owned(), v.clone()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEFS: [ParamDef; 3] = [
        ParamDef::keyed("T", ParamType::Float, DefaultValue::Required, ""),
        ParamDef::keyed("P", ParamType::Int, DefaultValue::Int(16), ""),
        ParamDef::exec("threads", ParamType::Int, DefaultValue::None, ""),
    ];

    #[test]
    fn normalises_numbers_and_applies_defaults() {
        let a = resolve(&DEFS, &[("T".to_owned(), json!(1))].into_iter().collect()).unwrap();
        let b = resolve(&DEFS, &[("T".to_owned(), json!(1.0))].into_iter().collect()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a["P"], json!(16));
        let c = resolve(&DEFS, &[("T".to_owned(), json!("2^-6"))].into_iter().collect()).unwrap();
        assert_eq!(c["T"], json!(0.015625));
        assert_eq!(keyed(&DEFS, &c).len(), 2);
    }

    #[test]
    fn rejects_bad_values_naming_the_parameter() {
        let bad = |v: Value| {
            let e =
                resolve(&DEFS, &[("P".to_owned(), v), ("T".to_owned(), json!(1))].into_iter().collect()).unwrap_err();
            (e.param.clone(), e.to_string())
        };
        assert_eq!(bad(json!(1.5)), ("P".into(), "expected an integer, got `1.5`".into()));
        assert_eq!(bad(json!("many")), ("P".into(), "expected an integer, got `many`".into()));
        let missing = resolve(&DEFS, &Params::new()).unwrap_err();
        assert_eq!(missing, ParamError { param: "T".into(), kind: ParamErrorKind::Missing });
        let unknown = resolve(&DEFS, &[("X".to_owned(), json!(1))].into_iter().collect()).unwrap_err();
        assert_eq!(unknown.to_string(), "unknown parameter (known: T, P, threads)");
    }
}
