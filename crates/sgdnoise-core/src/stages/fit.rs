//! `fit`: a power law over collected runs, e.g. `rel_dw ~ T^delta * P^gamma`, by least squares in
//! log space with a bootstrap over seeds. Records the points, the runs used (by key) and those
//! excluded with why, so the report can draw it and `why` can trace the exponent to its runs.

use serde_json::json;

use super::analysis_params::{self as ap, analysis_params};
use super::collect::gather_rows;
use super::kind::{ExecContext, ExecOutput, StageError, StageKind};
use super::params::{typed, CheckError, Params, Schema, Typed};
use crate::analysis::powerlaw::{fit, Law, Point};
use crate::analysis::table::{num, row_key, seed};
use crate::job::Job;
use crate::outputs::{self, FitOutput, FitPoint, LocalSlope, Stored};

pub struct Fit;

analysis_params! {
    pub struct FitParams with_range_theory {
        /// The observable fitted (a column of the runs).
        pub y: String,
        /// The law, e.g. `T^delta * P^gamma`.
        pub law: String,
        /// Also fit between successive values of this variable.
        #[serde(default)]
        pub local: Option<String>,
    }
}

static SCHEMA: Typed<FitParams> = Typed::new();

impl StageKind for Fit {
    fn name(&self) -> &'static str {
        "fit"
    }

    fn version(&self) -> u32 {
        // 5: the keys of the runs left out, by reason.
        5
    }

    fn params(&self) -> &'static dyn Schema {
        &SCHEMA
    }

    fn check(&self, params: &Params, upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        let p: FitParams = typed(params)?;
        let law = Law::parse(&p.law).map_err(|m| CheckError::param("law", m.to_string()))?;
        ap::check("fit", &p, upstream)?;
        if let Some(k) = p.theory.iter().flat_map(|t| t.keys()).find(|k| !law.terms.iter().any(|(_, e)| e == *k)) {
            return Err(CheckError::param("theory", format!("`{k}` is not an exponent of the law")));
        }
        if let Some(v) = p.local.as_deref().filter(|v| !law.terms.iter().any(|(t, _)| t == v)) {
            return Err(CheckError::param("local", format!("`{v}` is not a variable of the law")));
        }
        Ok(())
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let p: FitParams = typed(&job.params)?;
        let law_text = p.law.as_str();
        let law = Law::parse(law_text).map_err(|e| StageError::Failed(e.to_string()))?;
        let y = p.y.clone();
        let mut selected = ap::selection(&p).apply(gather_rows(ctx, job)?);
        let rows = std::mem::take(&mut selected.rows);
        let mut points = Vec::new();
        let mut used = Vec::new();
        let mut table = Vec::new();
        for row in &rows {
            let yv = num(row, &y);
            let xs: Option<Vec<f64>> = law.terms.iter().map(|(v, _)| num(row, v)).collect();
            match (yv, xs) {
                (Some(yv), Some(xs)) if yv > 0.0 && xs.iter().all(|&x| x > 0.0) => {
                    table.push(FitPoint { x: xs.clone(), y: yv, seed: seed(row), key: row_key(row) });
                    points.push(Point { x: xs, y: yv, cluster: seed(row) });
                    used.push(row_key(row));
                }
                (None, _) | (_, None) => selected.exclude(format!("no {y} or variables"), row),
                _ => selected.exclude(format!("non-positive {y}"), row),
            }
        }
        let local = p.local.as_deref().and_then(|v| law.terms.iter().position(|(t, _)| t == v).map(|i| (v, i)));
        let local_slopes = local.map(|(var, i)| local_fits(&law, &points, var, i)).unwrap_or_default();
        let b = ap::AnalysisParams::bootstrap(&p);
        let result = fit(&law, &points, b.resamples, b.confidence, b.seed)
            .map_err(|m| StageError::new(format!("fit of {y} ~ {law_text}: {m}")))?;
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
            local: local_slopes,
            used_keys: used,
            provisional: super::collect::coverage(ctx, job)?,
        };
        let mut out = ExecOutput { metrics: json!({ "runs_used": output.runs_used }), ..Default::default() };
        out.outputs.insert(FitOutput::FILE.into(), outputs::encode(&output));
        Ok(out)
    }
}

/// The law refitted on each pair of successive values of variable `i` (`var`): how the
/// exponents approach their asymptotic values.
fn local_fits(law: &Law, points: &[Point], var: &str, i: usize) -> Vec<LocalSlope> {
    let mut values: Vec<f64> = points.iter().map(|p| p.x[i]).collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    values
        .windows(2)
        .filter_map(|w| {
            let pair: Vec<Point> = points.iter().filter(|p| p.x[i] == w[0] || p.x[i] == w[1]).cloned().collect();
            let beta = crate::analysis::powerlaw::least_squares(&pair)?;
            let exponents = law.terms.iter().enumerate().map(|(j, (_, e))| (e.clone(), beta[j + 1])).collect();
            Some(LocalSlope { variable: var.to_owned(), from: w[0], to: w[1], exponents })
        })
        .collect()
}
