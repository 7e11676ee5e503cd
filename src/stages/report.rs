//! `report`: the claims table and figures of every analysis stage it needs, as `report.html`
//! (self-contained), `report.md` and one SVG per figure.

use serde_json::Value;

use serde::{Deserialize, Serialize};

use super::params::{typed, CheckError, Params, Schema, Typed};
use super::registry::{ExecContext, ExecOutput, Job, StageError, StageKind};
use crate::analysis::report::{build, Result as AnalysisResult};

pub struct Report;

/// The report stage's parameters.
#[derive(Debug, Serialize, Deserialize)]
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

const ANALYSES: [(&str, &str); 3] = [("fit", "fit.json"), ("crossover", "crossover.json"), ("optimum", "optimum.json")];

impl StageKind for Report {
    fn name(&self) -> &'static str {
        "report"
    }

    fn version(&self) -> u32 {
        3
    }

    fn params(&self) -> &'static dyn Schema {
        &SCHEMA
    }

    fn check(&self, _params: &Params, upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        if !upstream.iter().any(|(k, _)| ANALYSES.iter().any(|(a, _)| a == k)) {
            return Err(CheckError::needs("a report needs at least one fit, crossover or optimum stage"));
        }
        Ok(())
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let mut results = Vec::new();
        for input in &job.inputs {
            let Some((_, file)) = ANALYSES.iter().find(|(k, _)| *k == input.kind) else { continue };
            let hash = input
                .outputs
                .get(*file)
                .ok_or_else(|| StageError(format!("input {} has no {file}", input.instance)))?;
            let output: Value = serde_json::from_slice(&ctx.store.get(hash).map_err(|e| StageError(e.to_string()))?)
                .map_err(|e| StageError(format!("object {hash}: {e}")))?;
            results.push(AnalysisResult { kind: input.kind.clone(), key: input.key.clone(), output });
        }
        let p: ReportParams = typed(&job.params).map_err(|e| StageError(e.to_string()))?;
        let report = build(&p.title, &results);
        let mut out = ExecOutput {
            metrics: serde_json::json!({ "claims": report.claims.len(), "figures": report.figures.len() }),
            ..Default::default()
        };
        out.outputs.insert("report.html".into(), report.html().into_bytes());
        out.outputs.insert("report.md".into(), report.markdown().into_bytes());
        for fig in &report.figures {
            out.outputs.insert(fig.name.clone(), fig.svg.clone().into_bytes());
        }
        Ok(out)
    }
}
