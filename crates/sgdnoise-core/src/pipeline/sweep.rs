//! Sweeps: a stage expanded over a grid (product), a zip (axes in lockstep) or an explicit list,
//! in a stable order (axes in file order, the first outermost), each point with a stable id.
//!
//! Axis values are a YAML list or a compact range, both ends inclusive like the paper's
//! "T = 2^−13…2^2": `"2^-13..2^2"` (powers of two, exponent step 1, or `by 0.5`), `"0..4"`
//! (integers, step 1 or `by k`). `..` and `…` are both accepted.

use serde_json::Value;

use crate::stages::params::parse_number;

/// An ordered axis: name and values.
pub type Axis = (String, Vec<Value>);

use super::limits::MAX_INSTANCES;

/// A sweep axis or combination that cannot be expanded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SweepError {
    #[error("`{0}` is not a power of two like 2^-3")]
    NotPowerOfTwo(String),
    #[error("`{0}` is not an integer")]
    NotInteger(String),
    #[error("step `{0}` is not a number")]
    BadStep(String),
    #[error("step must be positive")]
    StepNotPositive,
    #[error("empty range: {low} is above {high}")]
    EmptyRange { low: String, high: String },
    #[error("{0} values is too many (MAX_INSTANCES is {MAX_INSTANCES})")]
    TooManyValues(usize),
    #[error("axis values must be scalars")]
    NotScalar,
    #[error("an axis is a list or a range, not a mapping")]
    MappingAxis,
    #[error("empty sweep axis")]
    EmptyAxis,
    #[error("the grid has more than the {0} points the pipeline may still have (MAX_INSTANCES is {MAX_INSTANCES} over all stages)")]
    GridTooLarge(usize),
    #[error("zip axes differ in length: {first} has {first_len}, {other} has {other_len}")]
    ZipLengths { first: String, first_len: usize, other: String, other_len: usize },
}

/// Expands a compact range or returns `None` when `text` is not a range.
pub fn parse_range(text: &str) -> Option<Result<Vec<Value>, SweepError>> {
    let t = text.trim();
    let (range, step) = match t.split_once(" by ") {
        Some((r, s)) => (r.trim(), Some(s.trim())),
        None => (t, None),
    };
    let (a, b) = range.split_once("..").or_else(|| range.split_once('…'))?;
    let (a, b) = (a.trim(), b.trim());
    Some(expand(a, b, step))
}

fn expand(a: &str, b: &str, step: Option<&str>) -> Result<Vec<Value>, SweepError> {
    let powers = a.starts_with("2^") || b.starts_with("2^");
    if powers {
        let exp = |s: &str| -> Result<f64, SweepError> {
            s.strip_prefix("2^")
                .and_then(|e| e.trim().parse::<f64>().ok())
                .ok_or_else(|| SweepError::NotPowerOfTwo(s.to_owned()))
        };
        let (ea, eb) = (exp(a)?, exp(b)?);
        let step: f64 = match step {
            None => 1.0,
            Some(s) => s.parse().map_err(|_| SweepError::BadStep(s.to_owned()))?,
        };
        if step.is_nan() || step <= 0.0 {
            return Err(SweepError::StepNotPositive);
        }
        if ea > eb {
            return Err(SweepError::EmptyRange { low: format!("2^{ea}"), high: format!("2^{eb}") });
        }
        let n = ((eb - ea) / step + 1e-9).floor();
        if n.is_nan() || n >= MAX_INSTANCES as f64 {
            return Err(SweepError::TooManyValues(if n.is_finite() {
                (n as usize).saturating_add(1)
            } else {
                usize::MAX
            }));
        }
        let n = n as usize + 1;
        return Ok((0..n).map(|i| Value::from(2f64.powf(ea + step * i as f64))).collect());
    }
    let int =
        |s: &str| -> Result<i64, SweepError> { s.parse::<i64>().map_err(|_| SweepError::NotInteger(s.to_owned())) };
    let (ia, ib) = (int(a)?, int(b)?);
    let step = match step {
        None => 1,
        Some(s) => int(s)?,
    };
    if step <= 0 {
        return Err(SweepError::StepNotPositive);
    }
    if ia > ib {
        return Err(SweepError::EmptyRange { low: ia.to_string(), high: ib.to_string() });
    }
    let n = ib.checked_sub(ia).map_or(u64::MAX, |d| (d / step) as u64).saturating_add(1);
    if n > MAX_INSTANCES as u64 {
        return Err(SweepError::TooManyValues(usize::try_from(n).unwrap_or(usize::MAX)));
    }
    let n = n as usize;
    Ok((0..n).map(|i| Value::from(ia + step * i as i64)).collect())
}

/// A single scalar value as written: numbers stay numbers, `2^k` becomes a number.
pub fn scalar(v: &Value) -> Value {
    match v {
        Value::String(s) if s.trim().starts_with("2^") => parse_number(s).map(Value::from).unwrap_or_else(|| v.clone()),
        other => other.clone(),
    }
}

/// The values of one axis from its YAML form; errors are messages for the axis.
pub fn axis_values(v: &Value) -> Result<Vec<Value>, SweepError> {
    let values = match v {
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::Array(_) | Value::Object(_) => return Err(SweepError::NotScalar),
                    Value::String(s) => match parse_range(s) {
                        Some(r) => out.extend(r?),
                        None => out.push(scalar(item)),
                    },
                    _ => out.push(item.clone()),
                }
            }
            out
        }
        Value::String(s) => match parse_range(s) {
            Some(r) => r?,
            None => vec![scalar(v)],
        },
        Value::Object(_) => return Err(SweepError::MappingAxis),
        Value::Null => return Err(SweepError::EmptyAxis),
        other => vec![other.clone()],
    };
    if values.is_empty() {
        return Err(SweepError::EmptyAxis);
    }
    Ok(values)
}

/// Product of axes, first axis outermost; refused before anything is allocated when it has more
/// than `limit` points.
pub fn grid(axes: &[Axis], limit: usize) -> Result<Vec<Vec<(String, Value)>>, SweepError> {
    let total = axes.iter().try_fold(1usize, |acc, (_, v)| acc.checked_mul(v.len()).filter(|&n| n <= limit));
    let total = total.ok_or(SweepError::GridTooLarge(limit))?;
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; axes.len()];
    for _ in 0..total {
        out.push(axes.iter().zip(&idx).map(|((n, v), &i)| (n.clone(), v[i].clone())).collect());
        for d in (0..axes.len()).rev() {
            idx[d] += 1;
            if idx[d] < axes[d].1.len() {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(out)
}

/// Axes in lockstep; all must have the same length.
pub fn zip(axes: &[Axis]) -> Result<Vec<Vec<(String, Value)>>, SweepError> {
    let Some(first) = axes.first() else { return Ok(vec![Vec::new()]) };
    for (name, values) in axes {
        if values.len() != first.1.len() {
            return Err(SweepError::ZipLengths {
                first: first.0.clone(),
                first_len: first.1.len(),
                other: name.clone(),
                other_len: values.len(),
            });
        }
    }
    Ok((0..first.1.len()).map(|i| axes.iter().map(|(n, v)| (n.clone(), v[i].clone())).collect()).collect())
}

/// `train[P=256,T=0.25,seed=0]`: the stage name and the swept values in axis order.
pub fn instance_id(stage: &str, point: &[(String, Value)]) -> String {
    if point.is_empty() {
        return stage.to_owned();
    }
    let parts: Vec<String> = point
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    format!("{stage}[{}]", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ranges() {
        assert_eq!(axis_values(&json!("0..4")).unwrap(), vec![json!(0), json!(1), json!(2), json!(3), json!(4)]);
        assert_eq!(axis_values(&json!("2^-2..2^1")).unwrap(), vec![json!(0.25), json!(0.5), json!(1.0), json!(2.0)]);
        assert_eq!(axis_values(&json!("1024…4096 by 1024")).unwrap().len(), 4);
        assert_eq!(axis_values(&json!("2^0..2^1 by 0.5")).unwrap().len(), 3);
        assert_eq!(axis_values(&json!([1, "2^3", "5..6"])).unwrap(), vec![json!(1), json!(8.0), json!(5), json!(6)]);
        assert_eq!(axis_values(&json!([])).unwrap_err(), SweepError::EmptyAxis);
        assert_eq!(axis_values(&json!("4..1")).unwrap_err().to_string(), "empty range: 4 is above 1");
        assert_eq!(axis_values(&json!("a..b")).unwrap_err().to_string(), "`a` is not an integer");
        assert_eq!(axis_values(&json!("0..99999999")).unwrap_err(), SweepError::TooManyValues(100_000_000));
    }

    #[test]
    fn grid_order_and_ids() {
        let axes = vec![("P".to_owned(), vec![json!(1), json!(2)]), ("seed".to_owned(), vec![json!(0), json!(1)])];
        let pts = grid(&axes, MAX_INSTANCES).unwrap();
        let ids: Vec<String> = pts.iter().map(|p| instance_id("train", p)).collect();
        assert_eq!(ids, vec!["train[P=1,seed=0]", "train[P=1,seed=1]", "train[P=2,seed=0]", "train[P=2,seed=1]"]);
        assert!(zip(&[("a".into(), vec![json!(1)]), ("b".into(), vec![json!(1), json!(2)])]).is_err());
    }
}
