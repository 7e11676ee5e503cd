//! `crossover`: T_c(P) where the test error leaves its small-T plateau, and the exponent a of
//! T_c ~ P^−a, by a panel of estimators on one bootstrap over seeds
//! ([`crate::analysis::panel`]); δ and γ of ‖w−w0‖/‖w0‖ ~ T^δ P^γ fitted in the window (chosen by
//! the rule of [`crate::analysis::window`]) nearest T_c, so a is compared with γ/δ where the
//! scaling argument speaks; and the mechanism test, ‖w−w0‖/‖w0‖ at T_c against P.

use serde_json::{json, Value};

use crate::outputs::{self, CrossoverOutput, RunPoint, Stored};

use super::analysis_params::{self as ap, analysis_params, AnalysisParams};
use super::collect::gather_rows;
use super::kind::{ExecContext, ExecOutput, StageError, StageKind};
use super::params::{typed, CheckError, Params, Schema, Typed};
use crate::analysis::observable::check_column;
use crate::analysis::panel::{panel, PanelSpec};
use crate::analysis::powerlaw::{bootstrap, least_squares, Law, Point};
use crate::analysis::table::{interval, num, seed, seeds, Row, Selection};
use crate::analysis::window::{choose_window, local_exponents, restrict, values_of, Window, WindowRule};
use crate::job::Job;

pub struct Crossover;

fn size() -> String {
    "P".into()
}
fn three() -> usize {
    3
}
fn fractions() -> Vec<f64> {
    PanelSpec::default().fractions
}
fn rel_dw() -> String {
    "rel_dw".into()
}

analysis_params! {
    pub struct CrossoverParams {
        /// The temperature variable.
        #[serde(default = "crate::stages::analysis_params::temperature")]
        pub x: String,
        /// The observable that changes at T_c.
        #[serde(default = "crate::stages::analysis_params::test_err")]
        pub y: String,
        /// One curve per value of this variable.
        #[serde(default = "size")]
        pub group: String,
        /// Smallest temperatures forming the plateau.
        #[serde(default = "three", deserialize_with = "crate::stages::params::num::int")]
        pub plateau: usize,
        /// Departures from the plateau, one threshold estimator each.
        #[serde(default = "fractions")]
        pub fractions: Vec<f64>,
        /// Observable of the δ, γ fit (T^δ P^γ), the trained-model estimator and the mechanism test.
        #[serde(default = "rel_dw")]
        pub weights: String,
        /// Fit range of the δ, γ fit (default: the rule's window nearest T_c).
        #[serde(default)]
        pub weights_range: Option<serde_json::Map<String, Value>>,
    }
}

static SCHEMA: Typed<CrossoverParams> = Typed::new();

/// The window of the δ, γ fit: among the rule's admissible windows along T, the one nearest the
/// median T_c (distance 0 when it holds T_c, else from its nearer end in ln T; ties to the longer,
/// then the higher). `None` when there is none (then every T counts).
fn window_nearest(windows: &[Window], t_c: Option<f64>) -> Option<Window> {
    let t_c = t_c?.ln();
    let distance = |w: &Window| {
        let (lo, hi) = (w.low.ln(), w.high.ln());
        if t_c < lo {
            lo - t_c
        } else if t_c > hi {
            t_c - hi
        } else {
            0.0
        }
    };
    windows
        .iter()
        .min_by(|a, b| {
            distance(a).total_cmp(&distance(b)).then(b.slopes.cmp(&a.slopes)).then(b.high.total_cmp(&a.high))
        })
        .cloned()
}

impl StageKind for Crossover {
    fn name(&self) -> &'static str {
        "crossover"
    }

    fn version(&self) -> u32 {
        // 5: the panel of estimators, γ/δ in the window nearest T_c, the mechanism test.
        5
    }

    fn params(&self) -> &'static dyn Schema {
        &SCHEMA
    }

    fn check(&self, params: &Params, upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        let p: CrossoverParams = typed(params)?;
        ap::check("crossover", &p, upstream)?;
        if p.plateau < 1 {
            return Err(CheckError::param("plateau", "must be at least 1"));
        }
        if p.fractions.is_empty() || p.fractions.iter().any(|f| !(*f > 0.0 && *f < 1.0)) {
            return Err(CheckError::param("fractions", "a list of fractions between 0 and 1"));
        }
        for (name, v) in [("x", &p.x), ("y", &p.y), ("group", &p.group), ("weights", &p.weights)] {
            check_column(v).map_err(|m| CheckError::param(name, m))?;
        }
        Ok(())
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let p: CrossoverParams = typed(&job.params)?;
        let (x, y, group) = (p.x.as_str(), p.y.as_str(), p.group.as_str());
        let wname = p.weights.as_str();
        let mut selection = ap::selection(&p);
        selection.converged_only = false;
        let mut selected = selection.apply(gather_rows(ctx, job)?);
        let all_rows = std::mem::take(&mut selected.rows);
        let status = |r: &Row| r.get("status").and_then(Value::as_str).unwrap_or("?").to_owned();
        let bad_t: Vec<f64> = all_rows.iter().filter(|r| status(r) != "converged").filter_map(|r| num(r, x)).collect();
        let mut rows = Vec::new();
        for r in all_rows {
            let st = status(&r);
            if p.status == ap::RunFilter::Converged && st != "converged" {
                selected.exclude(format!("status {st}"), &r);
            } else {
                rows.push(r);
            }
        }
        if rows.is_empty() {
            return Err(StageError::new("crossover: no runs selected"));
        }
        let b = p.bootstrap();
        let spec = PanelSpec {
            x: x.into(),
            y: y.into(),
            group: group.into(),
            weights: wname.into(),
            plateau: p.plateau,
            fractions: p.fractions.clone(),
            ..PanelSpec::default()
        };
        let estimates = panel(&rows, &spec, b.resamples, b.confidence, b.seed);
        // δ, γ of the weights in the window nearest T_c (or the given range).
        let law = Law::parse(&format!("{x}^delta * {group}^gamma")).map_err(|e| StageError::Failed(e.to_string()))?;
        let points_of = |rows: &[Row]| -> Vec<Point> {
            rows.iter()
                .filter_map(|r| {
                    let (xv, gv, wv) = (num(r, x)?, num(r, group)?, num(r, wname)?);
                    (xv > 0.0 && gv > 0.0 && wv > 0.0).then(|| Point { x: vec![xv, gv], y: wv, cluster: seed(r) })
                })
                .collect()
        };
        let points = points_of(&rows);
        let (window, fitted): (Option<Window>, Vec<Point>) = match &p.weights_range {
            Some(range) => {
                let given = Selection { range: range.clone(), ..Default::default() };
                (None, points_of(&given.apply(rows.clone()).rows))
            }
            None => {
                let slopes = local_exponents(&law, &points, 0, b.resamples.min(200), b.seed);
                let choice = choose_window(&slopes, &values_of(&points, 0), &bad_t, &WindowRule::default(), None);
                let w = window_nearest(&choice.admissible, estimates.median_t_c);
                let pts = w.as_ref().map_or_else(|| points.clone(), |w| restrict(&points, 0, w));
                (w, pts)
            }
        };
        let beta = (fitted.len() > 2).then(|| least_squares(&fitted)).flatten();
        let ratio = beta.as_ref().filter(|b| b[1] != 0.0).map(|b| (b[1], b[2], b[2] / b[1]));
        let (_, draws) = bootstrap(&fitted, b.resamples, b.seed);
        let mut ratios: Vec<f64> = draws.iter().filter(|d| d[1] != 0.0).map(|d| d[2] / d[1]).collect();
        let ratio_ci = interval(&mut ratios, b.confidence);
        let all = seeds(&rows);
        let output = CrossoverOutput {
            x: x.to_owned(),
            y: y.to_owned(),
            group: group.to_owned(),
            plateau: p.plateau,
            panel: estimates,
            weights: wname.to_owned(),
            weights_window: window,
            delta: ratio.map(|r| r.0),
            gamma: ratio.map(|r| r.1),
            gamma_over_delta: ratio.map(|r| r.2),
            gamma_over_delta_ci: ratio_ci,
            seeds: all.len(),
            runs: rows.iter().map(|r| RunPoint::of(r, group, x, y)).collect(),
            used: ap::runs_used(&p, &rows, selected.excluded, selected.excluded_keys, ctx, job)?,
        };
        let mut out = ExecOutput { metrics: json!({ "runs_used": rows.len() }), ..Default::default() };
        out.outputs.insert(CrossoverOutput::FILE.into(), outputs::encode(&output));
        Ok(out)
    }
}
