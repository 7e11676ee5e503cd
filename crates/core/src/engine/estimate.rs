//! Compute estimates for `plan`: a cost model per (stage kind, architecture) fitted to this
//! cache's recorded executions, log-linear in the numeric parameters that vary among them:
//! ln seconds = β₀ + Σ βᵢ·ln xᵢ (χ, which can be 0, enters as itself). A group with too few
//! records for its parameters falls back to their mean; one with none is not counted.
//!
//! A model says nothing about a parameter its records never varied: an instance whose value of
//! such a parameter differs from the one recorded (d = 16 when only d = 128 ran) gets no
//! estimate, rather than the recorded value's cost. Along a parameter that did vary, the model
//! extrapolates its slope.

use std::collections::BTreeMap;

use serde_json::Value;

/// Parameters the model may use, when they vary among the records.
const FEATURES: &[&str] = &["P", "T", "dim", "chi", "alpha", "width", "depth", "batch", "test_size"];

/// The fitted model of one (kind, arch).
#[derive(Debug, Clone)]
pub struct Model {
    pub features: Vec<&'static str>,
    pub beta: Vec<f64>,
    pub records: usize,
    /// actual / predicted over the records: median and the 10% and 90% quantiles.
    pub ratio: (f64, f64, f64),
    /// Parameters every record has with one and the same value (as written, not logged).
    pub fixed: Vec<(&'static str, f64)>,
}

/// Why an instance has no estimate.
#[derive(Debug, Clone, PartialEq)]
pub enum Unestimated {
    /// No recorded run of its (kind, arch).
    NoRecords,
    /// Its `feature` is `value`, and every record of its group had `seen`.
    Unseen { feature: &'static str, value: f64, seen: f64 },
}

fn feature(params: &Value, name: &str) -> Option<f64> {
    let x = params.get(name)?.as_f64()?;
    match name {
        "chi" => Some(x),
        _ if x > 0.0 => Some(x.ln()),
        _ => None,
    }
}

/// (kind, architecture): `arch`, with the activation for nets (a GELU step costs more).
pub fn group_of(kind: &str, params: &Value) -> (String, String) {
    let text = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or("");
    let arch = match (text("arch"), text("act")) {
        (a, "") | (a @ "linear", _) => a.to_owned(),
        (a, act) => format!("{a} {act}"),
    };
    (kind.to_owned(), arch)
}

/// Least squares with a tiny ridge (features that barely vary stay finite).
fn solve(rows: &[Vec<f64>], y: &[f64]) -> Option<Vec<f64>> {
    let k = rows.first()?.len();
    let mut a = vec![vec![0.0; k + 1]; k];
    for (r, &yv) in rows.iter().zip(y) {
        for i in 0..k {
            for j in 0..k {
                a[i][j] += r[i] * r[j];
            }
            a[i][k] += r[i] * yv;
        }
    }
    for (i, row) in a.iter_mut().enumerate() {
        row[i] += 1e-9 * (1.0 + row[i].abs());
    }
    // Gaussian elimination with partial pivoting.
    for c in 0..k {
        let piv = (c..k).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        a.swap(c, piv);
        if a[c][c].abs() < 1e-300 {
            return None;
        }
        let pivot_row = a[c].clone();
        for (i, row) in a.iter_mut().enumerate() {
            if i != c {
                let f = row[c] / pivot_row[c];
                for (x, p) in row[c..].iter_mut().zip(&pivot_row[c..]) {
                    *x -= f * p;
                }
            }
        }
    }
    Some((0..k).map(|i| a[i][k] / a[i][i]).collect())
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Cost models fitted to `records` (kind, params JSON, seconds).
pub struct CostModels {
    models: BTreeMap<(String, String), Model>,
}

impl CostModels {
    pub fn fit(records: &[(String, String, f64)]) -> CostModels {
        let mut groups: BTreeMap<(String, String), Vec<(Value, f64)>> = BTreeMap::new();
        for (kind, params, secs) in records {
            let Ok(params) = serde_json::from_str::<Value>(params) else { continue };
            if *secs > 0.0 {
                groups.entry(group_of(kind, &params)).or_default().push((params, *secs));
            }
        }
        let mut models = BTreeMap::new();
        for (group, rows) in groups {
            let varying: Vec<&'static str> = FEATURES
                .iter()
                .copied()
                .filter(|f| {
                    let vals: Vec<f64> = rows.iter().filter_map(|(p, _)| feature(p, f)).collect();
                    vals.len() == rows.len() && vals.iter().any(|v| (v - vals[0]).abs() > 1e-12)
                })
                .collect();
            let fixed: Vec<(&'static str, f64)> = FEATURES
                .iter()
                .copied()
                .filter(|f| !varying.contains(f))
                .filter_map(|f| {
                    let vals: Vec<f64> = rows.iter().filter_map(|(p, _)| p.get(f)?.as_f64()).collect();
                    (vals.len() == rows.len()).then(|| (f, vals[0]))
                })
                .collect();
            let features: Vec<&'static str> = if rows.len() >= 2 * (varying.len() + 1) { varying } else { Vec::new() };
            let x: Vec<Vec<f64>> = rows
                .iter()
                .map(|(p, _)| {
                    std::iter::once(1.0).chain(features.iter().map(|f| feature(p, f).unwrap_or(0.0))).collect()
                })
                .collect();
            let y: Vec<f64> = rows.iter().map(|(_, s)| s.ln()).collect();
            let Some(beta) = solve(&x, &y) else { continue };
            let mut ratios: Vec<f64> = x
                .iter()
                .zip(&y)
                .map(|(r, yv)| (yv - r.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>()).exp())
                .collect();
            ratios.sort_by(f64::total_cmp);
            let ratio = (quantile(&ratios, 0.5), quantile(&ratios, 0.1), quantile(&ratios, 0.9));
            models.insert(group, Model { features, beta, records: rows.len(), ratio, fixed });
        }
        CostModels { models }
    }

    /// Predicted seconds of an instance of `kind` with `params`, if its group has a model that
    /// has seen its parameters.
    pub fn predict(&self, kind: &str, params: &Value) -> Result<f64, Unestimated> {
        let m = self.models.get(&group_of(kind, params)).ok_or(Unestimated::NoRecords)?;
        for &(f, seen) in &m.fixed {
            if let Some(value) = params.get(f).and_then(Value::as_f64) {
                if (value - seen).abs() > 1e-9 * seen.abs().max(1e-300) {
                    return Err(Unestimated::Unseen { feature: f, value, seen });
                }
            }
        }
        let mut z = m.beta[0];
        for (f, b) in m.features.iter().zip(&m.beta[1..]) {
            z += b * feature(params, f).ok_or(Unestimated::NoRecords)?;
        }
        Ok(z.exp())
    }

    pub fn models(&self) -> &BTreeMap<(String, String), Model> {
        &self.models
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recovers_a_planted_power_law_and_extrapolates_it() {
        // seconds = 0.01 · P^1.5 · T^-0.5, on P ≤ 4096; predicted at P = 16384.
        let mut records = Vec::new();
        for p in [256.0f64, 512.0, 1024.0, 2048.0, 4096.0] {
            for t in [0.01f64, 0.1, 1.0] {
                let params = json!({ "arch": "fc", "P": p, "T": t, "width": 128 });
                assert_eq!(group_of("train", &params).1, "fc");
                records.push(("train".to_owned(), params.to_string(), 0.01 * p.powf(1.5) / t.sqrt()));
            }
        }
        let models = CostModels::fit(&records);
        let m = &models.models()[&("train".to_owned(), "fc".to_owned())];
        assert_eq!(
            models.predict("train", &json!({ "arch": "fc", "act": "gelu", "P": 1, "T": 1 })),
            Err(Unestimated::NoRecords)
        );
        assert_eq!(m.features, ["P", "T"], "width does not vary, so it is not a feature");
        assert!((m.beta[1] - 1.5).abs() < 1e-6 && (m.beta[2] + 0.5).abs() < 1e-6, "{:?}", m.beta);
        let want = 0.01 * 16384f64.powf(1.5) / 0.1f64.sqrt();
        let got = models.predict("train", &json!({ "arch": "fc", "P": 16384, "T": 0.1, "width": 128 })).unwrap();
        assert!((got / want - 1.0).abs() < 1e-6, "{got} vs {want}");
        assert!((m.ratio.0 - 1.0).abs() < 1e-6);
        assert_eq!(models.predict("train", &json!({ "arch": "mnas", "P": 1, "T": 1 })), Err(Unestimated::NoRecords));
        // width never varied: a width the records never had has no estimate, the recorded one has.
        assert_eq!(
            models.predict("train", &json!({ "arch": "fc", "P": 1024, "T": 0.1, "width": 64 })),
            Err(Unestimated::Unseen { feature: "width", value: 64.0, seen: 128.0 })
        );
        assert!(models.predict("train", &json!({ "arch": "fc", "P": 1024, "T": 0.1, "width": 128 })).is_ok());
    }
}
