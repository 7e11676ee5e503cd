//! The rows analysis stages work on: runs gathered from `collect` tables (or single `train`
//! records), filtered by parameter values, ranges and status, each excluded run counted with
//! its reason so a report can say what was left out and why.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One run: its parameters and observables.
pub type Row = Map<String, Value>;

/// Which runs an analysis uses.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Parameter → required value (numbers compared as numbers).
    pub select: Map<String, Value>,
    /// Variable → [low, high], inclusive; either may be null.
    pub range: Map<String, Value>,
    /// Only converged runs.
    pub converged_only: bool,
}

/// Rows kept and the count excluded per reason.
#[derive(Debug, Clone, Default)]
pub struct Selected {
    pub rows: Vec<Row>,
    pub excluded: BTreeMap<String, usize>,
    /// Reason → the keys of the runs left out for it (what `why` marks).
    pub excluded_keys: BTreeMap<String, Vec<String>>,
}

impl Selected {
    /// Leaves `row` out for `reason`.
    pub fn exclude(&mut self, reason: String, row: &Row) {
        *self.excluded.entry(reason.clone()).or_default() += 1;
        self.excluded_keys.entry(reason).or_default().push(row_key(row));
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
        _ => a == b,
    }
}

impl Selection {
    pub fn apply(&self, rows: Vec<Row>) -> Selected {
        let mut out = Selected::default();
        'rows: for row in rows {
            for (k, want) in &self.select {
                let ok = match want {
                    Value::Array(options) => options.iter().any(|o| row.get(k).is_some_and(|v| same(v, o))),
                    w => row.get(k).is_some_and(|v| same(v, w)),
                };
                if !ok {
                    // Rows of other experiments are not "excluded", just not selected.
                    continue 'rows;
                }
            }
            for (k, bounds) in &self.range {
                let v = row.get(k).and_then(Value::as_f64);
                let lo = bounds.get(0).and_then(Value::as_f64);
                let hi = bounds.get(1).and_then(Value::as_f64);
                let inside = v.is_some_and(|v| lo.is_none_or(|l| v >= l) && hi.is_none_or(|h| v <= h));
                if !inside {
                    out.exclude(format!("{k} outside the fit range"), &row);
                    continue 'rows;
                }
            }
            if self.converged_only {
                let status = row.get("status").and_then(Value::as_str).unwrap_or("?");
                if status != "converged" {
                    out.exclude(format!("status {status}"), &row);
                    continue;
                }
            }
            out.rows.push(row);
        }
        out
    }
}

pub fn num(row: &Row, key: &str) -> Option<f64> {
    row.get(key).and_then(Value::as_f64)
}

/// The key of the instance that made a run.
pub fn row_key(row: &Row) -> String {
    row.get("key").and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Seed of a run (its bootstrap cluster).
pub fn seed(row: &Row) -> i64 {
    row.get("seed").and_then(Value::as_i64).unwrap_or(0)
}

/// Mean of `y` per (group, x) over runs, from the runs whose seed is in `seeds` (with
/// multiplicity, for bootstrap resamples). Returns group → sorted [(x, mean y, n)].
pub fn means(rows: &[Row], group: &str, x: &str, y: &str, seeds: &[i64]) -> BTreeMap<OrdF64, Vec<(f64, f64, usize)>> {
    let mut weight: BTreeMap<i64, usize> = BTreeMap::new();
    for s in seeds {
        *weight.entry(*s).or_default() += 1;
    }
    let mut acc: BTreeMap<OrdF64, BTreeMap<OrdF64, (f64, usize)>> = BTreeMap::new();
    for r in rows {
        let (Some(g), Some(xv), Some(yv)) = (num(r, group), num(r, x), num(r, y)) else { continue };
        let w = weight.get(&seed(r)).copied().unwrap_or(0);
        if w == 0 || !yv.is_finite() {
            continue;
        }
        let e = acc.entry(OrdF64(g)).or_default().entry(OrdF64(xv)).or_insert((0.0, 0));
        e.0 += yv * w as f64;
        e.1 += w;
    }
    acc.into_iter().map(|(g, m)| (g, m.into_iter().map(|(x, (s, n))| (x.0, s / n as f64, n)).collect())).collect()
}

/// The distinct seeds of the rows, sorted.
pub fn seeds(rows: &[Row]) -> Vec<i64> {
    let mut s: Vec<i64> = rows.iter().map(seed).collect();
    s.sort_unstable();
    s.dedup();
    s
}

/// f64 with a total order, for map keys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrdF64(pub f64);

impl Eq for OrdF64 {}

impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Percentile interval of bootstrap draws.
pub fn interval(draws: &mut [f64], confidence: f64) -> (f64, f64) {
    draws.sort_by(f64::total_cmp);
    if draws.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let q = |p: f64| {
        let pos = p * (draws.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        draws[lo] + (draws[hi] - draws[lo]) * (pos - lo as f64)
    };
    let a = (1.0 - confidence) / 2.0;
    (q(a), q(1.0 - a))
}
