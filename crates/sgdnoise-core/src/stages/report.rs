//! `report`: the claims table and figures of every analysis stage it needs, as `report.html`
//! (self-contained), `report.md`, and each figure as SVG and as PNG (rendered here with the
//! embedded font, so the bytes are the same on every machine).

use serde::{Deserialize, Serialize};

use super::kind::{ExecContext, ExecOutput, StageError, StageKind};
use super::params::{typed, CheckError, Params, Schema, Typed};
use crate::job::Job;
use crate::outputs::Analysis;
use crate::report::claims::{claims_csv, claims_json};
use crate::report::figure::{png, PNG_SCALE};
use crate::report::{build, Result as AnalysisResult};

pub struct Report;

/// The report stage's parameters.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// The report's title.
    #[serde(default = "default_title")]
    pub title: String,
}

fn default_title() -> String {
    "sgdnoise report".into()
}

static SCHEMA: Typed<ReportParams> = Typed::new();

const ANALYSES: [&str; 3] = ["fit", "crossover", "optimum"];

impl StageKind for Report {
    fn name(&self) -> &'static str {
        "report"
    }

    fn version(&self) -> u32 {
        // 9: claims.csv and claims.json; verdicts by the one rule, with sources and windows.
        9
    }

    fn params(&self) -> &'static dyn Schema {
        &SCHEMA
    }

    fn check(&self, _params: &Params, upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        if !upstream.iter().any(|(k, _)| ANALYSES.contains(k)) {
            return Err(CheckError::needs("a report needs at least one fit, crossover or optimum stage"));
        }
        Ok(())
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let mut results = Vec::new();
        for input in &job.inputs {
            let Some(analysis) = Analysis::read(ctx.store, input) else { continue };
            results.push(AnalysisResult { key: input.key.clone(), analysis: analysis? });
        }
        let p: ReportParams = typed(&job.params)?;
        let report = build(&p.title, &results);
        let mut out = ExecOutput {
            metrics: serde_json::json!({ "claims": report.claims.len(), "figures": report.figures.len() }),
            ..Default::default()
        };
        out.outputs.insert("report.html".into(), report.html().into_bytes());
        out.outputs.insert("report.md".into(), report.markdown().into_bytes());
        out.outputs.insert("claims.csv".into(), claims_csv(&report.claims).into_bytes());
        out.outputs.insert("claims.json".into(), claims_json(&report.claims).into_bytes());
        for fig in &report.figures {
            let png = png(&fig.svg, PNG_SCALE).map_err(|e| StageError::new(format!("figure {}: {e}", fig.name)))?;
            out.outputs.insert(format!("{}.svg", fig.name), fig.svg.clone().into_bytes());
            out.outputs.insert(format!("{}.png", fig.name), png);
        }
        Ok(out)
    }
}
