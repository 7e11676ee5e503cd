//! `optimum`: from an (α, T) grid, the optimal temperature T_opt(α) (minimum of the
//! seed-averaged test error, refined by a parabola in log T) and the exponent k of T_opt ~ α^k
//! over the feature regime α ≤ `alpha_max`, beside the prediction k = (D−1)/(D+1) for D hidden
//! layers (taken from the runs' `depth`).

use serde_json::{json, Value};

use super::analysis_params::{self as ap, BOOTSTRAP, CLAIM, CONFIDENCE, PAPER, SEED, SELECT, STATUS};
use super::collect::gather_rows;
use super::params::{CheckError, DefaultValue, ParamDef, ParamType, Params};
use super::registry::{param_f64, param_str, ExecContext, ExecOutput, Job, StageError, StageKind};
use crate::analysis::optimum::analyse;
use crate::analysis::table::num;

pub struct Optimum;

const PARAMS: &[ParamDef] = &[
    ParamDef::keyed("x", ParamType::Str, DefaultValue::Str("T"), "the temperature variable"),
    ParamDef::keyed("y", ParamType::Str, DefaultValue::Str("test_err"), "the error minimised"),
    ParamDef::keyed("group", ParamType::Str, DefaultValue::Str("alpha"), "one curve per value of this variable"),
    ParamDef::keyed("alpha_max", ParamType::Float, DefaultValue::Float(1.0), "largest group value in the fit of k"),
    SELECT,
    STATUS,
    BOOTSTRAP,
    CONFIDENCE,
    SEED,
    CLAIM,
    PAPER,
];

impl StageKind for Optimum {
    fn name(&self) -> &'static str {
        "optimum"
    }

    fn version(&self) -> u32 {
        2
    }

    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }

    fn check(&self, params: &Params, upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        ap::check("optimum", params, upstream)?;
        if param_f64(params, "alpha_max").is_none_or(|a| a <= 0.0) {
            return Err(CheckError::param("alpha_max", "must be positive"));
        }
        Ok(())
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let p = &job.params;
        let (x, y, group) = (
            param_str(p, "x").unwrap_or("T"),
            param_str(p, "y").unwrap_or("test_err"),
            param_str(p, "group").unwrap_or("alpha"),
        );
        let all_rows = gather_rows(ctx, job)?;
        // Diverged and unconverged runs are part of the diagram (as holes), not of the minimum.
        let grid: Vec<Value> = ap::selection(&Params::from_iter(p.get("select").map(|s| ("select".to_owned(), s.clone())).into_iter().chain([("status".to_owned(), json!("any"))])))
            .apply(all_rows.clone())
            .rows
            .iter()
            .map(|r| json!({ "group": num(r, group), "x": num(r, x), "y": num(r, y), "status": r.get("status"), "seed": r.get("seed") }))
            .collect();
        let selected = ap::selection(p).apply(all_rows);
        let rows = selected.rows;
        if rows.is_empty() {
            return Err(StageError::new("optimum: no runs selected"));
        }
        let b = ap::bootstrap(p);
        let alpha_max = param_f64(p, "alpha_max").unwrap_or(1.0);
        let mut grid_max: Vec<(f64, f64)> = Vec::new();
        for c in &grid {
            if let (Some(g), Some(t)) = (c["group"].as_f64(), c["x"].as_f64()) {
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
        let mut out_json = json!({
            "x": x, "y": y, "group": group, "alpha_max": alpha_max,
            "optimum": fit,
            "depth": depth,
            "theory_k": theory_k,
            "seeds": crate::analysis::table::seeds(&rows).len(),
            "grid": grid,
            "claim": ap::claim(p),
            "runs_used": rows.len(),
            "runs_excluded": selected.excluded,
            "used_keys": rows.iter().map(|r| r.get("key").cloned().unwrap_or(Value::Null)).collect::<Vec<_>>(),
        });
        super::collect::mark_provisional(ctx, job, &mut out_json)?;
        let mut out = ExecOutput { metrics: json!({ "runs_used": rows.len() }), ..Default::default() };
        out.outputs.insert("optimum.json".into(), serde_json::to_vec_pretty(&out_json).expect("serialise"));
        Ok(out)
    }
}
