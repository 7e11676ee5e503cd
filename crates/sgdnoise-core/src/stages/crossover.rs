//! `crossover`: T_c(P) where the test error leaves its small-T plateau, the exponent a of
//! T_c ~ P^−a, and, on the same bootstrap resamples of seeds, δ and γ of
//! ‖w−w0‖/‖w0‖ ~ T^δ P^γ, so that a and γ/δ (the paper's scaling argument says they agree) are
//! compared with a paired interval.

use serde_json::{json, Value};

use crate::outputs::{self, Criterion, CrossoverOutput, RunPoint, Stored};

use super::analysis_params::{self as ap, analysis_params, AnalysisParams};
use super::collect::gather_rows;
use super::kind::{ExecContext, ExecOutput, StageError, StageKind};
use super::params::{typed, CheckError, Params, Schema, Typed};
use crate::analysis::crossover::{analyse, Method};
use crate::analysis::powerlaw::{least_squares, Point};
use crate::analysis::table::{interval, num, seed, seeds, Row, Selection};
use crate::job::Job;
use crate::rng::{Rng, Stream};

pub struct Crossover;

fn size() -> String {
    "P".into()
}
fn collapse() -> Method {
    Method::Collapse
}
fn three() -> usize {
    3
}
fn tenth() -> f64 {
    0.1
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
        /// collapse or threshold.
        #[serde(default = "collapse")]
        pub method: Method,
        /// Smallest temperatures forming the plateau.
        #[serde(default = "three", deserialize_with = "crate::stages::params::num::int")]
        pub plateau: usize,
        /// Relative departure from the plateau.
        #[serde(default = "tenth", deserialize_with = "crate::stages::params::num::float")]
        pub threshold: f64,
        /// Observable of the δ, γ fit (T^δ P^γ).
        #[serde(default = "rel_dw")]
        pub weights: String,
        /// Fit range of the δ, γ fit.
        #[serde(default)]
        pub weights_range: Option<serde_json::Map<String, Value>>,
    }
}

static SCHEMA: Typed<CrossoverParams> = Typed::new();

/// δ, γ of `w ~ x^δ g^γ` over `rows` restricted to `seeds` (with multiplicity).
fn weights_fit(rows: &[Row], x: &str, g: &str, w: &str, seeds_: &[i64]) -> Option<(f64, f64)> {
    let mut pts = Vec::new();
    for s in seeds_ {
        for r in rows.iter().filter(|r| seed(r) == *s) {
            if let (Some(xv), Some(gv), Some(wv)) = (num(r, x), num(r, g), num(r, w)) {
                if xv > 0.0 && gv > 0.0 && wv > 0.0 {
                    pts.push(Point { x: vec![xv, gv], y: wv, cluster: *s });
                }
            }
        }
    }
    least_squares(&pts).map(|b| (b[1], b[2]))
}

impl StageKind for Crossover {
    fn name(&self) -> &'static str {
        "crossover"
    }

    fn version(&self) -> u32 {
        // 4: the keys of the runs left out, by reason.
        4
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
        if p.threshold <= 0.0 {
            return Err(CheckError::param("threshold", "must be positive"));
        }
        Ok(())
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let p: CrossoverParams = typed(&job.params)?;
        let (x, y, group) = (p.x.as_str(), p.y.as_str(), p.group.as_str());
        let wname = p.weights.as_str();
        let selected = ap::selection(&p).apply(gather_rows(ctx, job)?);
        let rows = selected.rows;
        if rows.is_empty() {
            return Err(StageError::new("crossover: no runs selected"));
        }
        let b = p.bootstrap();
        let (method, plateau, threshold) = (p.method, p.plateau, p.threshold);
        let crossover_of = |rows: &[Row], resamples: usize, seed: u64| {
            analyse(rows, method, x, y, group, plateau, threshold, resamples, b.confidence, seed)
        };
        let c = crossover_of(&rows, b.resamples, b.seed);
        // δ, γ and a on the same seed resamples: a paired interval for a − γ/δ.
        let wsel = Selection {
            select: Default::default(),
            range: p.weights_range.clone().unwrap_or_default(),
            converged_only: true,
        };
        let wrows = wsel.apply(rows.clone()).rows;
        let all = seeds(&rows);
        let ratio = weights_fit(&wrows, x, group, wname, &all).map(|(d, g)| (d, g, g / d));
        let mut rng = Rng::stream(b.seed, Stream::Batches);
        let (mut diffs, mut ratios) = (Vec::new(), Vec::new());
        if all.len() >= 2 {
            for _ in 0..b.resamples {
                let sample: Vec<i64> = (0..all.len()).map(|_| all[rng.below(all.len() as u64) as usize]).collect();
                // Resample with multiplicity for both quantities.
                let mut rs: Vec<Row> = Vec::new();
                for (i, s) in sample.iter().enumerate() {
                    for r in rows.iter().filter(|r| seed(r) == *s) {
                        let mut r = r.clone();
                        r.insert("seed".into(), json!(i as i64));
                        rs.push(r);
                    }
                }
                let c_b = crossover_of(&rs, 0, 0);
                let ws: Vec<Row> = wsel.apply(rs.clone()).rows;
                let renumbered: Vec<i64> = (0..sample.len() as i64).collect();
                if let (Some(a_b), Some((d, g))) = (c_b.a, weights_fit(&ws, x, group, wname, &renumbered)) {
                    ratios.push(g / d);
                    diffs.push(a_b - g / d);
                }
            }
        }
        let ratio_ci = interval(&mut ratios, b.confidence);
        let diff_ci = interval(&mut diffs, b.confidence);
        let output = CrossoverOutput {
            x: x.to_owned(),
            y: y.to_owned(),
            group: group.to_owned(),
            criterion: Criterion { plateau, threshold },
            crossover: c,
            weights: wname.to_owned(),
            delta: ratio.map(|r| r.0),
            gamma: ratio.map(|r| r.1),
            gamma_over_delta: ratio.map(|r| r.2),
            gamma_over_delta_ci: ratio_ci,
            a_minus_gamma_over_delta_ci: diff_ci,
            paired_resamples: diffs.len(),
            seeds: all.len(),
            runs: rows.iter().map(|r| RunPoint::of(r, group, x, y)).collect(),
            used: ap::runs_used(&p, &rows, selected.excluded, selected.excluded_keys, ctx, job)?,
        };
        let mut out = ExecOutput { metrics: json!({ "runs_used": rows.len() }), ..Default::default() };
        out.outputs.insert(CrossoverOutput::FILE.into(), outputs::encode(&output));
        Ok(out)
    }
}
