//! `optimum`: from an (α, T) grid, the optimal temperature T_opt(α) (minimum of the
//! seed-averaged test error, refined by a parabola in log T) and the exponent k of T_opt ~ α^k
//! over the feature regime α ≤ `alpha_max`, beside the prediction k = (D−1)/(D+1) for D hidden
//! layers (taken from the runs' `depth`).

use serde_json::{json, Value};

use crate::outputs::{self, OptimumOutput, RunPoint, Stored};

use super::analysis_params::{self as ap, analysis_params, AnalysisParams};
use super::collect::gather_rows;
use super::kind::{ExecContext, ExecOutput, StageError, StageKind};
use super::params::{typed, CheckError, Params, Schema, Typed};
use crate::analysis::optimum::analyse;
use crate::analysis::table::Selection;
use crate::job::Job;

pub struct Optimum;

fn alpha() -> String {
    "alpha".into()
}
fn one() -> f64 {
    1.0
}

analysis_params! {
    pub struct OptimumParams {
        /// The temperature variable.
        #[serde(default = "crate::stages::analysis_params::temperature")]
        pub x: String,
        /// The error minimised.
        #[serde(default = "crate::stages::analysis_params::test_err")]
        pub y: String,
        /// One curve per value of this variable.
        #[serde(default = "alpha")]
        pub group: String,
        /// Largest group value in the fit of k.
        #[serde(default = "one", deserialize_with = "crate::stages::params::num::float")]
        pub alpha_max: f64,
    }
}

static SCHEMA: Typed<OptimumParams> = Typed::new();

impl StageKind for Optimum {
    fn name(&self) -> &'static str {
        "optimum"
    }

    fn version(&self) -> u32 {
        // 4: the keys of the runs left out, by reason.
        4
    }

    fn params(&self) -> &'static dyn Schema {
        &SCHEMA
    }

    fn check(&self, params: &Params, upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        let p: OptimumParams = typed(params)?;
        ap::check("optimum", &p, upstream)?;
        if p.alpha_max <= 0.0 {
            return Err(CheckError::param("alpha_max", "must be positive"));
        }
        Ok(())
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let p: OptimumParams = typed(&job.params)?;
        let (x, y, group) = (p.x.as_str(), p.y.as_str(), p.group.as_str());
        let all_rows = gather_rows(ctx, job)?;
        // Diverged and unconverged runs are part of the diagram (as holes), not of the minimum.
        let every_run = Selection {
            select: p.select.clone().unwrap_or_default(),
            range: Default::default(),
            converged_only: false,
        };
        let grid: Vec<RunPoint> =
            every_run.apply(all_rows.clone()).rows.iter().map(|r| RunPoint::of(r, group, x, y)).collect();
        let selected = ap::selection(&p).apply(all_rows);
        let rows = selected.rows;
        if rows.is_empty() {
            return Err(StageError::new("optimum: no runs selected"));
        }
        let b = p.bootstrap();
        let alpha_max = p.alpha_max;
        let mut grid_max: Vec<(f64, f64)> = Vec::new();
        for c in &grid {
            if let (Some(g), Some(t)) = (c.group, c.x) {
                match grid_max.iter_mut().find(|(h, _)| *h == g) {
                    Some(e) => e.1 = e.1.max(t),
                    None => grid_max.push((g, t)),
                }
            }
        }
        let max_of = |g: f64| grid_max.iter().find(|(h, _)| *h == g).map(|e| e.1).unwrap_or(f64::NEG_INFINITY);
        let fit = analyse(&rows, &max_of, x, y, group, alpha_max, b.resamples, b.confidence, b.seed);
        let depths: Vec<i64> = rows.iter().filter_map(|r| r.get("depth").and_then(Value::as_i64)).collect();
        let depth = depths.first().copied().filter(|d| depths.iter().all(|x| x == d));
        let theory_k = depth.map(|d| (d as f64 - 1.0) / (d as f64 + 1.0));
        let output = OptimumOutput {
            x: x.to_owned(),
            y: y.to_owned(),
            group: group.to_owned(),
            alpha_max,
            optimum: fit,
            depth,
            theory_k,
            seeds: crate::analysis::table::seeds(&rows).len(),
            grid,
            used: ap::runs_used(&p, &rows, selected.excluded, selected.excluded_keys, ctx, job)?,
        };
        let mut out = ExecOutput { metrics: json!({ "runs_used": rows.len() }), ..Default::default() };
        out.outputs.insert(OptimumOutput::FILE.into(), outputs::encode(&output));
        Ok(out)
    }
}
