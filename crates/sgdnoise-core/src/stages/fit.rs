//! `fit`: a power law over collected runs, e.g. `rel_dw ~ T^delta * P^gamma`, by least squares in
//! log space with a bootstrap over seeds, in a window chosen along each variable by the rule of
//! [`crate::analysis::window`] (or an explicit `range`). Records the local exponents, the windows,
//! the exponents' range over the admissible windows, the points, the runs used (by key) and those
//! excluded with why, so the report can draw it and `why` can trace the exponent to its runs.

use std::collections::BTreeMap;

use serde_json::json;

use super::analysis_params::{self as ap, analysis_params};
use super::collect::gather_rows;
use super::kind::{ExecContext, ExecOutput, StageError, StageKind};
use super::params::{typed, CheckError, Params, Schema, Typed};
use crate::analysis::observable::{check_column, Observable};
use crate::analysis::powerlaw::{fit, least_squares, Law, Point};
use crate::analysis::table::{num, row_key, seed, Row};
use crate::analysis::window::{choose_window, local_exponents, values_of, End, Window, WindowChoice, WindowRule};
use crate::job::Job;
use crate::outputs::{self, FitOutput, FitPoint, Profile, Stored};

pub struct Fit;

fn tolerance() -> f64 {
    WindowRule::TOLERANCE
}

analysis_params! {
    pub struct FitParams with_range_theory {
        /// The observable fitted: a column of the runs, or a product and ratio of columns
        /// (`w_perp / abs(w1)`).
        pub y: String,
        /// The law, e.g. `T^delta * P^gamma`.
        pub law: String,
        /// The end of a variable's range the claim is about: `high_T` or `low_T` (any variable
        /// of the law); the window rule then takes the window at that end.
        #[serde(default)]
        pub regime: Option<String>,
        /// τ of the window rule: how far local exponents may stray from their window's mean.
        #[serde(default = "tolerance", deserialize_with = "crate::stages::params::num::float")]
        pub tolerance: f64,
    }
}

static SCHEMA: Typed<FitParams> = Typed::new();

/// `regime: high_T` → (T, High).
fn regime(text: &str) -> Option<(&str, End)> {
    if let Some(v) = text.strip_prefix("high_") {
        Some((v, End::High))
    } else {
        text.strip_prefix("low_").map(|v| (v, End::Low))
    }
}

impl StageKind for Fit {
    fn name(&self) -> &'static str {
        "fit"
    }

    fn version(&self) -> u32 {
        // 6: windows chosen by the rule from local exponents along every variable; derived
        // observables; the systematic range over windows.
        6
    }

    fn params(&self) -> &'static dyn Schema {
        &SCHEMA
    }

    fn check(&self, params: &Params, upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        let p: FitParams = typed(params)?;
        let law = Law::parse(&p.law).map_err(|m| CheckError::param("law", m.to_string()))?;
        ap::check("fit", &p, upstream)?;
        Observable::checked(&p.y).map_err(|m| CheckError::param("y", m))?;
        for (v, _) in &law.terms {
            check_column(v).map_err(|m| CheckError::param("law", m))?;
        }
        if let Some(k) =
            p.theory.iter().flat_map(|t| t.keys()).find(|k| *k != "source" && !law.terms.iter().any(|(_, e)| e == *k))
        {
            return Err(CheckError::param("theory", format!("`{k}` is not an exponent of the law")));
        }
        // A variable the selection pins to one value cannot determine its exponent.
        if let Some((v, e)) = law.terms.iter().find(|(v, _)| {
            p.select
                .as_ref()
                .and_then(|s| s.get(v))
                .is_some_and(|w| !w.is_array() || w.as_array().is_some_and(|a| a.len() < 2))
        }) {
            return Err(CheckError::param(
                "law",
                format!("`select` gives `{v}` one value: the runs cannot determine `{e}`; drop `{v}^{e}` from the law"),
            ));
        }
        if let Some(r) = &p.regime {
            match regime(r) {
                Some((v, _)) if law.terms.iter().any(|(t, _)| t == v) => {}
                _ => {
                    let names: Vec<String> =
                        law.terms.iter().flat_map(|(v, _)| [format!("high_{v}"), format!("low_{v}")]).collect();
                    return Err(CheckError::param("regime", format!("`{r}`: expected one of {}", names.join(", "))));
                }
            }
        }
        if !(p.tolerance > 0.0 && p.tolerance.is_finite()) {
            return Err(CheckError::param("tolerance", "must be positive"));
        }
        Ok(())
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let p: FitParams = typed(&job.params)?;
        let law_text = p.law.as_str();
        let law = Law::parse(law_text).map_err(|e| StageError::Failed(e.to_string()))?;
        let observable = Observable::parse(&p.y).map_err(StageError::Failed)?;
        let y = p.y.clone();
        // Every selected run, whatever its status: the values where one failed are unreliable.
        let mut selection = ap::selection(&p);
        selection.converged_only = false;
        let mut selected = selection.apply(gather_rows(ctx, job)?);
        let rows = std::mem::take(&mut selected.rows);
        // The law's variables of every run that diverged or hit a limit.
        let failed: Vec<Vec<Option<f64>>> = rows
            .iter()
            .filter(|r| status(r) != "converged")
            .map(|r| law.terms.iter().map(|(v, _)| num(r, v)).collect())
            .collect();
        let mut kept = Vec::new();
        for row in rows {
            let st = status(&row);
            if p.status == ap::RunFilter::Converged && st != "converged" {
                selected.exclude(format!("status {st}"), &row);
                continue;
            }
            let yv = observable.eval(&row);
            let xs: Option<Vec<f64>> = law.terms.iter().map(|(v, _)| num(&row, v)).collect();
            match (yv, xs) {
                (Some(yv), Some(xs)) if yv > 0.0 && yv.is_finite() && xs.iter().all(|&x| x > 0.0) => {
                    kept.push((Point { x: xs, y: yv, cluster: seed(&row) }, row));
                }
                (None, _) | (_, None) => selected.exclude(format!("no {y} or variables"), &row),
                _ => selected.exclude(format!("non-positive {y}"), &row),
            }
        }
        let all: Vec<Point> = kept.iter().map(|(pt, _)| pt.clone()).collect();
        determined(&law, &all).map_err(|m| StageError::new(format!("fit of {y} ~ {law_text}: {m}")))?;
        let b = ap::AnalysisParams::bootstrap(&p);
        let rule = WindowRule { tolerance: p.tolerance, ..WindowRule::default() };
        let asked = p.regime.as_deref().and_then(regime);
        let given = p.range.as_ref().and_then(|r| match r {
            ap::Range::Explicit(m) => Some(m.clone()),
            ap::Range::Auto(_) => None,
        });
        let (profiles, cuts, choices) =
            windows(&law, &all, &failed, given.as_ref(), asked, &rule, b.resamples.min(200), b.seed);
        let mut table = Vec::new();
        let mut points = Vec::new();
        let mut used = Vec::new();
        for (pt, row) in &kept {
            match (0..cuts.len()).find(|&i| !cuts[i].admits(pt.x[i])) {
                Some(i) if cuts[i].window.is_some() => {
                    selected.exclude(format!("{} outside the fit window", law.terms[i].0), row)
                }
                Some(i) => selected.exclude(format!("{} next to a failed run", law.terms[i].0), row),
                None => {
                    table.push(FitPoint { x: pt.x.clone(), y: pt.y, seed: pt.cluster, key: row_key(row) });
                    points.push(pt.clone());
                    used.push(row_key(row));
                }
            }
        }
        determined(&law, &points)
            .map_err(|m| StageError::new(format!("fit of {y} ~ {law_text} in its window: {m}")))?;
        let result = fit(&law, &points, b.resamples, b.confidence, b.seed)
            .map_err(|m| StageError::new(format!("fit of {y} ~ {law_text}: {m}")))?;
        let (systematic, other_window) = systematic(&law, &all, &cuts, &choices);
        let output = FitOutput {
            y,
            law: law_text.to_owned(),
            variables: law.terms.iter().map(|(v, _)| v.clone()).collect(),
            fit: result,
            claim: ap::claim(&p),
            runs_used: used.len(),
            runs_excluded: selected.excluded,
            excluded_keys: selected.excluded_keys,
            points: table,
            profiles,
            systematic,
            other_window,
            used_keys: used,
            provisional: super::collect::coverage(ctx, job)?,
        };
        let mut out = ExecOutput { metrics: json!({ "runs_used": output.runs_used }), ..Default::default() };
        out.outputs.insert(FitOutput::FILE.into(), outputs::encode(&output));
        Ok(out)
    }
}

fn status(row: &Row) -> &str {
    row.get("status").and_then(serde_json::Value::as_str).unwrap_or("?")
}

/// What the rule keeps of one variable: its window, or, with none, every value but those dropped
/// next to failed runs.
#[derive(Debug, Clone, Default)]
struct Cut {
    window: Option<Window>,
    dropped: Vec<f64>,
}

impl Cut {
    fn admits(&self, x: f64) -> bool {
        match &self.window {
            Some(w) => w.holds(x),
            None => !self.dropped.iter().any(|d| (d - x).abs() <= 1e-9 * d.abs().max(x.abs())),
        }
    }
}

/// The points that every variable's cut admits.
fn inside(points: &[Point], cuts: &[Cut]) -> Vec<Point> {
    points.iter().filter(|pt| cuts.iter().zip(&pt.x).all(|(c, &x)| c.admits(x))).cloned().collect()
}

/// Exponent name → value.
type Exponents = BTreeMap<String, f64>;

/// A window choice along one variable: its index in the law and the rule's outcome.
type Choice = (usize, WindowChoice);

/// Along each variable in the law's order (except those an explicit `range` names): the local
/// exponents over the points still in, then the window, which the later variables see. `failed`
/// holds the law's variables of every run that diverged or hit a limit; their values count only
/// where that run lies inside the earlier variables' windows.
#[allow(clippy::too_many_arguments)]
fn windows(
    law: &Law,
    all: &[Point],
    failed: &[Vec<Option<f64>>],
    given: Option<&serde_json::Map<String, serde_json::Value>>,
    asked: Option<(&str, End)>,
    rule: &WindowRule,
    resamples: usize,
    seed: u64,
) -> (Vec<Profile>, Vec<Cut>, Vec<Choice>) {
    let mut profiles = Vec::new();
    let mut cuts: Vec<Cut> = vec![Cut::default(); law.terms.len()];
    let mut choices = Vec::new();
    for (i, (v, e)) in law.terms.iter().enumerate() {
        let points = inside(all, &cuts);
        let slopes = local_exponents(law, &points, i, resamples, seed);
        let window = given.is_none_or(|m| !m.contains_key(v)).then(|| {
            let bad: Vec<f64> = failed
                .iter()
                .filter(|x| cuts[..i].iter().zip(x.iter()).all(|(c, xj)| xj.is_none_or(|xj| c.admits(xj))))
                .filter_map(|x| x[i])
                .collect();
            let end = asked.filter(|(var, _)| var == v).map(|(_, end)| end);
            choose_window(&slopes, &values_of(&points, i), &bad, rule, end)
        });
        if let Some(choice) = &window {
            cuts[i] = Cut { window: choice.chosen.clone(), dropped: choice.dropped.clone() };
            choices.push((i, choice.clone()));
        }
        profiles.push(Profile { variable: v.clone(), exponent: e.clone(), slopes, window });
    }
    (profiles, cuts, choices)
}

/// The systematic range: each exponent over every admissible window of each variable that lies
/// inside the window chosen there (the regime the claim is about), the other variables' cuts
/// held; and, with two regimes, the exponents in the other window.
fn systematic(
    law: &Law,
    all: &[Point],
    cuts: &[Cut],
    choices: &[Choice],
) -> (BTreeMap<String, (f64, f64)>, Option<Exponents>) {
    let mut range: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut other_window = None;
    for (i, choice) in choices {
        let refit = |w: &Window| {
            let mut cs = cuts.to_vec();
            cs[*i] = Cut { window: Some(w.clone()), dropped: Vec::new() };
            let pts = inside(all, &cs);
            (pts.len() > law.terms.len()).then(|| least_squares(&pts)).flatten()
        };
        let Some(chosen) = &choice.chosen else { continue };
        for w in choice.admissible.iter().filter(|w| chosen.holds(w.low) && chosen.holds(w.high)) {
            if let Some(beta) = refit(w) {
                for (j, (_, e)) in law.terms.iter().enumerate() {
                    let r = range.entry(e.clone()).or_insert((beta[j + 1], beta[j + 1]));
                    *r = (r.0.min(beta[j + 1]), r.1.max(beta[j + 1]));
                }
            }
        }
        if let Some(beta) = choice.other.as_ref().and_then(refit) {
            other_window = Some(law.terms.iter().enumerate().map(|(j, (_, e))| (e.clone(), beta[j + 1])).collect());
        }
    }
    (range, other_window)
}

/// Refuses a law that `points` cannot determine: a variable with one value.
fn determined(law: &Law, points: &[Point]) -> Result<(), String> {
    for (i, (v, e)) in law.terms.iter().enumerate() {
        if !points.is_empty() && values_of(points, i).len() < 2 {
            return Err(format!(
                "`{v}` takes one value in the {} usable runs, so they cannot determine `{e}`; drop `{v}^{e}` from the law or select runs where it varies",
                points.len()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Rng, Stream};

    /// y = T^0.3 below T = 2^-9 and T^1 above (continuous), times P^0.5, 5 seeds, 1% noise.
    fn two_regimes() -> Vec<Point> {
        let mut rng = Rng::stream(7, Stream::TrainData);
        let mut pts = Vec::new();
        for seed in 0..5 {
            for k in -16..=0 {
                let t = 2f64.powi(k);
                let tb = 2f64.powi(-9);
                let law_t = if t <= tb { t.powf(0.3) } else { tb.powf(0.3) * (t / tb) };
                for p in [1024.0, 2048.0, 4096.0] {
                    let y = law_t * f64::powf(p, 0.5) * (0.01 * rng.normal()).exp();
                    pts.push(Point { x: vec![t, p], y, cluster: seed });
                }
            }
        }
        pts
    }

    #[test]
    fn the_high_t_regime_is_fitted_and_its_systematic_range_stays_inside_it() {
        let law = Law::parse("T^delta * P^gamma").unwrap();
        let all = two_regimes();
        let rule = WindowRule::default();
        let (_, cuts, choices) = windows(&law, &all, &[], None, Some(("T", End::High)), &rule, 100, 0);
        let w = cuts[0].window.clone().expect("a window along T");
        assert!(w.low >= 2f64.powi(-9) * 0.999 && (w.high - 1.0).abs() < 1e-12, "{w:?}");
        let (range, _) = systematic(&law, &all, &cuts, &choices);
        let (lo, hi) = range["delta"];
        assert!(lo > 0.9 && hi < 1.1, "the low-T windows (δ = 0.3) stay out: {lo}–{hi}");
        let beta = least_squares(&inside(&all, &cuts)).unwrap();
        assert!((beta[1] - 1.0).abs() < 0.02, "δ = {}", beta[1]);
        // Asked for no regime: two windows of similar length, both reported.
        let (_, _, choices) = windows(&law, &all, &[], None, None, &rule, 100, 0);
        assert_eq!(choices[0].1.verdict, crate::analysis::window::WindowVerdict::NoSinglePowerLaw);
    }

    #[test]
    fn a_failed_run_counts_only_inside_the_earlier_windows() {
        let law = Law::parse("T^delta * P^gamma").unwrap();
        let all = two_regimes();
        // A run that failed at the lowest T, at P = 2048: outside the high-T window, so P keeps
        // every value; inside it (T = 2^-2) it cuts the T window below 2^-2.
        let rule = WindowRule { min_slopes: 1, ..WindowRule::default() };
        let outside = [vec![Some(2f64.powi(-16)), Some(2048.0)]];
        let (_, cuts, _) = windows(&law, &all, &outside, None, Some(("T", End::High)), &rule, 50, 0);
        assert!(cuts[1].dropped.is_empty(), "{:?}", cuts[1]);
        let within = [vec![Some(2f64.powi(-2)), Some(2048.0)]];
        let (_, cuts, _) = windows(&law, &all, &within, None, Some(("T", End::High)), &rule, 50, 0);
        assert!(cuts[0].window.as_ref().is_some_and(|w| w.high < 2f64.powi(-2)), "{:?}", cuts[0]);
    }

    #[test]
    fn a_variable_named_in_an_explicit_range_gets_no_rule_window() {
        let law = Law::parse("T^delta * P^gamma").unwrap();
        let all = two_regimes();
        let given: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"T": [0.001, null]}"#).unwrap();
        let (profiles, _, choices) = windows(&law, &all, &[], Some(&given), None, &WindowRule::default(), 50, 0);
        assert!(profiles[0].window.is_none() && profiles[1].window.is_some());
        assert_eq!(choices.iter().map(|c| c.0).collect::<Vec<_>>(), vec![1]);
    }
}
