//! Compute estimates for `plan`: a cost model per (stage kind, cost group) fitted to this
//! cache's recorded executions, log-linear in the numeric parameters that vary among them:
//! ln seconds = β₀ + Σ βᵢ·ln xᵢ (χ, which can be 0, enters as itself). The kind names the groups:
//! train's are the architecture with its activation, and for the perceptron its χ, since a run's
//! cost at χ = 0 grows with P and 1/T far faster than at χ > 0, which one log-linear model cannot
//! follow (fitted together, the paper-cpu perceptron grid was priced at a seventh of its cost).
//!
//! An estimate is a mean, not a median: the model's exp(β·x) times the mean of exp(residual) over
//! its records (Duan's smearing estimate). A plan adds estimates up, and the costs of one grid
//! spread over orders of magnitude around the model: exp of the mean log undercounts such a sum
//! by the mean of exp(residual), 2× on that grid. A group with too few records for its parameters
//! falls back to their mean; one with none is not counted.
//!
//! A model says nothing about a parameter its records never varied: an instance whose value of
//! such a parameter differs from the one recorded (d = 16 when only d = 128 ran) gets no
//! estimate, rather than the recorded value's cost. Along a parameter that did vary, the model
//! extrapolates its slope. Nor does it say anything where two parameters, each within its
//! recorded range, were never recorded near each other (χ = 0 with d = 16 when χ = 0 ran only at
//! d = 128 and d = 16 only at χ = 1 and 3): the model has no interaction terms, and the cost there
//! can differ by orders of magnitude. "Near" is in the same or a neighbouring cell, cells being
//! factors of 2 (χ: steps of 1/2).

use std::collections::BTreeSet;

use std::collections::BTreeMap;

use serde_json::Value;

/// The parameters a kind's model may use, when they vary among the records: the kind says.
fn features_of(kind: &str) -> &'static [&'static str] {
    crate::stages::find(kind).map_or(&[], |k| k.cost_features())
}

/// The fitted model of one (kind, arch).
#[derive(Debug, Clone)]
pub struct Model {
    pub features: Vec<&'static str>,
    pub beta: Vec<f64>,
    pub records: usize,
    /// The mean of exp(residual) over the records: what turns exp(β·x) into a mean.
    pub smear: f64,
    /// actual / predicted over the records: median and the 10% and 90% quantiles.
    pub ratio: (f64, f64, f64),
    /// Parameters every record has with one and the same value (as written, not logged).
    pub fixed: Vec<(&'static str, f64)>,
    /// Per feature, the least and greatest value recorded (as the model takes it).
    range: Vec<(f64, f64)>,
    /// Per pair of features (i < j), the cells (value of i, value of j), in steps of
    /// [`cell_width`], that some record occupies.
    cells: BTreeSet<(usize, usize, i64, i64)>,
}

/// The width of a cell in a feature: a factor of 2 for logged parameters, 1/2 for χ.
fn cell_width(name: &str) -> f64 {
    if name == "chi" {
        0.5
    } else {
        std::f64::consts::LN_2
    }
}

fn cell(name: &str, x: f64) -> i64 {
    (x / cell_width(name)).round() as i64
}

/// Why an instance has no estimate.
#[derive(Debug, Clone, PartialEq)]
pub enum Unestimated {
    /// No recorded run of its (kind, arch).
    NoRecords,
    /// Its `feature` is `value`, and every record of its group had `seen`.
    Unseen { feature: &'static str, value: f64, seen: f64 },
    /// Its `a` and `b`, each within the recorded range, were never recorded near each other.
    UnseenTogether { a: &'static str, a_value: f64, b: &'static str, b_value: f64 },
}

fn feature(params: &Value, name: &str) -> Option<f64> {
    let x = params.get(name)?.as_f64()?;
    match name {
        "chi" => Some(x),
        _ if x > 0.0 => Some(x.ln()),
        _ => None,
    }
}

/// (kind, the kind's cost group): instances of one group share a model.
pub fn group_of(kind: &str, params: &Value) -> (String, String) {
    let group = crate::stages::find(kind).map(|k| k.cost_group(params)).unwrap_or_default();
    (kind.to_owned(), group)
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
            let all_features = features_of(&group.0);
            let varying: Vec<&'static str> = all_features
                .iter()
                .copied()
                .filter(|f| {
                    let vals: Vec<f64> = rows.iter().filter_map(|(p, _)| feature(p, f)).collect();
                    vals.len() == rows.len() && vals.iter().any(|v| (v - vals[0]).abs() > 1e-12)
                })
                .collect();
            let fixed: Vec<(&'static str, f64)> = all_features
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
            let residuals: Vec<f64> = x
                .iter()
                .zip(&y)
                .map(|(r, yv)| (yv - r.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>()).exp())
                .collect();
            let smear = residuals.iter().sum::<f64>() / residuals.len() as f64;
            let mut ratios: Vec<f64> = residuals.iter().map(|r| r / smear).collect();
            ratios.sort_by(f64::total_cmp);
            let ratio = (quantile(&ratios, 0.5), quantile(&ratios, 0.1), quantile(&ratios, 0.9));
            let range = (0..features.len())
                .map(|i| {
                    x.iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| (lo.min(r[i + 1]), hi.max(r[i + 1])))
                })
                .collect();
            let mut cells = BTreeSet::new();
            for r in &x {
                for i in 0..features.len() {
                    for j in i + 1..features.len() {
                        cells.insert((i, j, cell(features[i], r[i + 1]), cell(features[j], r[j + 1])));
                    }
                }
            }
            models.insert(group, Model { features, beta, records: rows.len(), smear, ratio, fixed, range, cells });
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
        let xs: Vec<f64> =
            m.features.iter().map(|f| feature(params, f).ok_or(Unestimated::NoRecords)).collect::<Result<_, _>>()?;
        let inside = |i: usize| xs[i] >= m.range[i].0 && xs[i] <= m.range[i].1;
        for i in 0..xs.len() {
            for j in i + 1..xs.len() {
                let (ci, cj) = (cell(m.features[i], xs[i]), cell(m.features[j], xs[j]));
                let near = (-1..=1).any(|a| (-1..=1).any(|b| m.cells.contains(&(i, j, ci + a, cj + b))));
                if inside(i) && inside(j) && !near {
                    let raw = |f: &str| params.get(f).and_then(Value::as_f64).unwrap_or(f64::NAN);
                    let (a, b) = (m.features[i], m.features[j]);
                    return Err(Unestimated::UnseenTogether { a, a_value: raw(a), b, b_value: raw(b) });
                }
            }
        }
        let z = m.beta[0] + xs.iter().zip(&m.beta[1..]).map(|(x, b)| b * x).sum::<f64>();
        Ok(z.exp() * m.smear)
    }

    /// Where a priced instance lies outside its model's records: the first feature whose value
    /// is beyond the recorded range, as `P = 32768 (recorded 1024–16384)`; `None` inside, or
    /// when the instance has no price. The fitted slope is then extrapolated, and `plan` shows
    /// its cost as a range.
    pub fn extrapolation(&self, kind: &str, params: &Value) -> Option<String> {
        let m = self.models.get(&group_of(kind, params))?;
        self.predict(kind, params).ok()?;
        m.features.iter().enumerate().find_map(|(i, f)| {
            let x = feature(params, f)?;
            let (lo, hi) = m.range[i];
            let slack = 1e-9 * lo.abs().max(hi.abs()).max(1.0);
            if x >= lo - slack && x <= hi + slack {
                return None;
            }
            let raw = |v: f64| if *f == "chi" { v } else { v.exp() };
            Some(format!("{f} = {} (recorded {}–{})", fmt_g(raw(x)), fmt_g(raw(lo)), fmt_g(raw(hi))))
        })
    }

    /// The actual/predicted 10% and 90% quantiles of the model that prices `kind` with `params`.
    pub fn spread(&self, kind: &str, params: &Value) -> Option<(f64, f64)> {
        self.models.get(&group_of(kind, params)).map(|m| (m.ratio.1, m.ratio.2))
    }

    pub fn models(&self) -> &BTreeMap<(String, String), Model> {
        &self.models
    }
}

/// A parameter value as people write it: integers plain, others with up to 4 significant digits.
fn fmt_g(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}").trim_end_matches('0').trim_end_matches('.').to_owned()
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
        // That price is an extrapolation, and says so; one inside the records is not.
        let beyond = json!({ "arch": "fc", "P": 16384, "T": 0.1, "width": 128 });
        assert_eq!(models.extrapolation("train", &beyond).as_deref(), Some("P = 16384 (recorded 256–4096)"));
        assert_eq!(models.extrapolation("train", &json!({ "arch": "fc", "P": 1024, "T": 0.1, "width": 128 })), None);
        assert_eq!(models.extrapolation("train", &json!({ "arch": "fc", "P": 1024, "T": 0.03, "width": 128 })), None);
        assert_eq!(
            models.extrapolation("train", &json!({ "arch": "fc", "P": 1024, "T": 0.001, "width": 128 })).as_deref(),
            Some("T = 0.001 (recorded 0.01–1)")
        );
        assert_eq!(models.predict("train", &json!({ "arch": "mnas", "P": 1, "T": 1 })), Err(Unestimated::NoRecords));
        // width never varied: a width the records never had has no estimate, the recorded one has.
        assert_eq!(
            models.predict("train", &json!({ "arch": "fc", "P": 1024, "T": 0.1, "width": 64 })),
            Err(Unestimated::Unseen { feature: "width", value: 64.0, seen: 128.0 })
        );
        assert!(models.predict("train", &json!({ "arch": "fc", "P": 1024, "T": 0.1, "width": 128 })).is_ok());
    }

    #[test]
    fn no_estimate_where_two_parameters_never_met() {
        // P = 16384 ran only at width 64, width 1024 only at P = 1024: P = 16384 at width 1024 is
        // inside both ranges, and unknown.
        let mut records = Vec::new();
        for (p, width) in [(1024.0, 64.0), (4096.0, 64.0), (16384.0, 64.0), (1024.0, 1024.0), (1024.0, 256.0)] {
            for t in [0.01f64, 0.1] {
                let params = json!({ "arch": "fc", "act": "relu", "P": p, "T": t, "width": width });
                records.push(("train".to_owned(), params.to_string(), 1e-6 * p * width / t));
            }
        }
        let models = CostModels::fit(&records);
        let at = |p: f64, width: f64| {
            models.predict("train", &json!({ "arch": "fc", "act": "relu", "P": p, "T": 0.1, "width": width }))
        };
        assert_eq!(
            at(16384.0, 1024.0),
            Err(Unestimated::UnseenTogether { a: "P", a_value: 16384.0, b: "width", b_value: 1024.0 })
        );
        assert_eq!(
            at(8192.0, 512.0),
            Err(Unestimated::UnseenTogether { a: "P", a_value: 8192.0, b: "width", b_value: 512.0 })
        );
        // Seen together, or near (within a factor of 2), or beyond a range (P extrapolates along
        // its slope): estimated.
        assert!(at(16384.0, 64.0).is_ok() && at(2048.0, 1024.0).is_ok());
        assert!(at(8192.0, 128.0).is_ok() && at(65536.0, 64.0).is_ok());
    }

    #[test]
    fn the_perceptron_is_priced_apart_at_each_chi() {
        // χ = 0 costs 100× χ = 1 and grows as P² where χ = 1 grows as P: one model of P and χ
        // could not follow both; one a χ recovers each. χ = 0 ran only at d = 128.
        let mut records = Vec::new();
        for (chi, dim) in [(0.0, 128.0), (1.0, 16.0), (1.0, 128.0)] {
            for p in [1024.0f64, 2048.0, 4096.0, 8192.0, 16384.0] {
                let params = json!({ "arch": "linear", "chi": chi, "dim": dim, "P": p });
                let secs = if chi == 0.0 { 1e-4 * p * p } else { 1e-2 * p };
                records.push(("train".to_owned(), params.to_string(), secs));
            }
        }
        let models = CostModels::fit(&records);
        let at = |chi: f64, dim: f64, p: f64| {
            models.predict("train", &json!({ "arch": "linear", "chi": chi, "dim": dim, "P": p }))
        };
        assert_eq!(group_of("train", &json!({ "arch": "linear", "chi": 0.0 })).1, "linear chi=0");
        for (chi, dim, p, want) in [(0.0, 128.0, 3000.0, 1e-4 * 3000.0 * 3000.0), (1.0, 64.0, 8192.0, 1e-2 * 8192.0)] {
            let got = at(chi, dim, p).unwrap();
            assert!((got / want - 1.0).abs() < 1e-6, "χ = {chi}: {got} vs {want}");
        }
        // χ = 0 never ran at d = 16, nor χ = 2 at all.
        assert_eq!(at(0.0, 16.0, 1024.0), Err(Unestimated::Unseen { feature: "dim", value: 16.0, seen: 128.0 }));
        assert_eq!(at(2.0, 128.0, 1024.0), Err(Unestimated::NoRecords));
    }

    #[test]
    fn an_estimate_is_the_mean_cost_so_that_sums_are_right() {
        // seconds = 0.01 · P^1.5 · e^ε with ε = ±1 at every P: the model recovers the power law,
        // and prices each P at its mean, 0.01 · P^1.5 · cosh 1, not at exp of the mean log.
        let mut records = Vec::new();
        let mut total = 0.0;
        for p in [256.0f64, 1024.0, 4096.0] {
            for eps in [-1.0f64, 1.0, -1.0, 1.0] {
                let secs = 0.01 * p.powf(1.5) * eps.exp();
                total += secs;
                records.push(("train".to_owned(), json!({ "arch": "fc", "P": p }).to_string(), secs));
            }
        }
        let models = CostModels::fit(&records);
        let m = &models.models()[&("train".to_owned(), "fc".to_owned())];
        assert!((m.beta[1] - 1.5).abs() < 1e-6 && (m.smear / 1f64.cosh() - 1.0).abs() < 1e-6, "{m:?}");
        let priced: f64 = records
            .iter()
            .map(|(_, params, _)| models.predict("train", &serde_json::from_str(params).unwrap()).unwrap())
            .sum();
        assert!((priced / total - 1.0).abs() < 1e-6, "{priced} vs {total}");
        let at_2048 = models.predict("train", &json!({ "arch": "fc", "P": 2048 })).unwrap();
        assert!((at_2048 / (0.01 * 2048f64.powf(1.5) * 1f64.cosh()) - 1.0).abs() < 1e-6);
        // actual / predicted: e^±1 / cosh 1 (median between the two).
        assert!(
            (m.ratio.1 - (-1f64).exp() / 1f64.cosh()).abs() < 1e-6
                && (m.ratio.2 - 1f64.exp() / 1f64.cosh()).abs() < 1e-6
        );
    }
}
