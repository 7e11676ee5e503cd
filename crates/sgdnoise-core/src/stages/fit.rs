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
use crate::analysis::window::{choose_window, local_exponents, restrict, values_of, End, Window, WindowRule};
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
        let bad: Vec<Vec<f64>> = law
            .terms
            .iter()
            .map(|(v, _)| rows.iter().filter(|r| status(r) != "converged").filter_map(|r| num(r, v)).collect())
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
        for (i, (v, e)) in law.terms.iter().enumerate() {
            let distinct = values_of(&kept.iter().map(|(pt, _)| pt.clone()).collect::<Vec<_>>(), i).len();
            if distinct < 2 && !kept.is_empty() {
                return Err(StageError::new(format!(
                    "fit of {y} ~ {law_text}: `{v}` takes one value in the {} usable runs, so they cannot determine `{e}`; drop `{v}^{e}` from the law or select runs where it varies",
                    kept.len()
                )));
            }
        }
        let b = ap::AnalysisParams::bootstrap(&p);
        let rule = WindowRule { tolerance: p.tolerance, ..WindowRule::default() };
        let asked = p.regime.as_deref().and_then(regime);
        let auto = !matches!(p.range, Some(ap::Range::Explicit(_)));
        // Along each variable in the law's order: local exponents over the points still in, then
        // (auto) the window, which the later variables see.
        let mut profiles = Vec::new();
        let mut windows: Vec<Option<Window>> = vec![None; law.terms.len()];
        let mut choices = Vec::new();
        for (i, (v, e)) in law.terms.iter().enumerate() {
            let points: Vec<Point> = inside(&kept, &windows).map(|(pt, _)| pt.clone()).collect();
            let slopes = local_exponents(&law, &points, i, b.resamples.min(200), b.seed);
            let window = auto.then(|| {
                let end = asked.filter(|(var, _)| var == v).map(|(_, end)| end);
                choose_window(&slopes, &values_of(&points, i), &bad[i], &rule, end)
            });
            if let Some(choice) = &window {
                windows[i] = choice.chosen.clone();
                choices.push((i, choice.clone()));
            }
            profiles.push(Profile { variable: v.clone(), exponent: e.clone(), slopes, window });
        }
        let mut table = Vec::new();
        let mut points = Vec::new();
        let mut used = Vec::new();
        for (pt, row) in &kept {
            match outside(pt, &windows, &law) {
                Some(v) => selected.exclude(format!("{v} outside the fit window"), row),
                None => {
                    table.push(FitPoint { x: pt.x.clone(), y: pt.y, seed: pt.cluster, key: row_key(row) });
                    points.push(pt.clone());
                    used.push(row_key(row));
                }
            }
        }
        let result = fit(&law, &points, b.resamples, b.confidence, b.seed)
            .map_err(|m| StageError::new(format!("fit of {y} ~ {law_text}: {m}")))?;
        // The systematic range: each exponent over every admissible window of each variable,
        // the other variables' windows held.
        let mut systematic: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        let mut other_window = None;
        for (i, choice) in &choices {
            let refit = |w: &Window| {
                let mut ws = windows.clone();
                ws[*i] = Some(w.clone());
                let pts: Vec<Point> = inside(&kept, &ws).map(|(pt, _)| pt.clone()).collect();
                (pts.len() > law.terms.len()).then(|| least_squares(&pts)).flatten()
            };
            for w in &choice.admissible {
                for (j, (_, e)) in law.terms.iter().enumerate() {
                    if let Some(beta) = refit(w) {
                        let r = systematic.entry(e.clone()).or_insert((beta[j + 1], beta[j + 1]));
                        *r = (r.0.min(beta[j + 1]), r.1.max(beta[j + 1]));
                    }
                }
            }
            if let Some(beta) = choice.other.as_ref().and_then(refit) {
                other_window = Some(law.terms.iter().enumerate().map(|(j, (_, e))| (e.clone(), beta[j + 1])).collect());
            }
        }
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

/// The points (with their rows) inside every chosen window.
fn inside<'a>(kept: &'a [(Point, Row)], windows: &'a [Option<Window>]) -> impl Iterator<Item = &'a (Point, Row)> + 'a {
    kept.iter()
        .filter(move |(pt, _)| windows.iter().enumerate().all(|(i, w)| w.as_ref().is_none_or(|w| holds(w, pt.x[i]))))
}

/// The first variable whose chosen window leaves `pt` out.
fn outside<'a>(pt: &Point, windows: &[Option<Window>], law: &'a Law) -> Option<&'a str> {
    windows.iter().enumerate().find_map(|(i, w)| {
        let w = w.as_ref()?;
        (!holds(w, pt.x[i])).then_some(law.terms[i].0.as_str())
    })
}

/// Whether the window holds `x` (its ends included, as [`restrict`] has them).
fn holds(w: &Window, x: f64) -> bool {
    !restrict(&[Point { x: vec![x], y: 1.0, cluster: 0 }], 0, w).is_empty()
}
