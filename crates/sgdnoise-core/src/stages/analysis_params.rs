//! Parameters shared by the analysis stages (fit, crossover, optimum): which runs they use, the
//! bootstrap, and the claim they test, so the report can put each result next to what the paper
//! or the theory says. `analysis_params!` declares a kind's struct as its own fields followed by
//! these (serde's `flatten` cannot be combined with `deny_unknown_fields`).

use serde_json::{Map, Value};

use super::params::CheckError;
use crate::analysis::table::Selection;
use crate::outputs::{Claim, RunsUsed};

crate::named_enum! {
    /// Which runs an analysis uses.
    pub enum RunFilter {
        /// Runs that reached zero training loss.
        Converged = "converged",
        Any = "any",
    }
}

/// The default temperature variable of the analyses over (T, ·) grids.
pub(crate) fn temperature() -> String {
    "T".into()
}

/// The default observable of the analyses over (T, ·) grids.
pub(crate) fn test_err() -> String {
    "test_err".into()
}

pub(crate) fn converged() -> RunFilter {
    RunFilter::Converged
}

pub(crate) fn resamples() -> usize {
    1000
}

pub(crate) fn confidence_95() -> f64 {
    0.95
}

/// A parameter struct of an analysis kind, from `select` to `paper`.
pub trait AnalysisParams {
    fn select(&self) -> Option<&Map<String, Value>>;
    /// An explicit fit range: variable → [low, high] (null for open); only `fit` has one, and
    /// without it (or with `range: auto`) the fit chooses its window by the stated rule.
    fn range(&self) -> Option<&Map<String, Value>> {
        None
    }
    /// Expected values: exponent → number; only `fit` has them.
    fn theory(&self) -> Option<&Map<String, Value>> {
        None
    }
    fn status(&self) -> RunFilter;
    fn bootstrap(&self) -> Bootstrap;
    fn claim_text(&self) -> Option<&str>;
    fn paper(&self) -> Option<&str>;
}

/// Declares an analysis kind's parameter struct: `{ own fields }`, then the shared ones, with
/// `range` and `theory` where the kind takes them (`with_range_theory`).
macro_rules! analysis_params {
    (@shared $name:ident { $($own:tt)* } { $($extra:tt)* }) => {
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($own)*
            /// Runs used: parameter → value (or list of values).
            #[serde(default)]
            pub select: Option<serde_json::Map<String, serde_json::Value>>,
            $($extra)*
            /// Runs used: converged or any.
            #[serde(default = "crate::stages::analysis_params::converged")]
            pub status: crate::stages::analysis_params::RunFilter,
            /// Bootstrap resamples of seeds.
            #[serde(default = "crate::stages::analysis_params::resamples", deserialize_with = "crate::stages::params::num::int")]
            pub bootstrap: usize,
            /// Confidence level of the intervals.
            #[serde(default = "crate::stages::analysis_params::confidence_95", deserialize_with = "crate::stages::params::num::float")]
            pub confidence: f64,
            /// Seed of the bootstrap.
            #[serde(default, deserialize_with = "crate::stages::params::num::int")]
            pub seed: u64,
            /// The claim, as the report states it.
            #[serde(default)]
            pub claim: Option<String>,
            /// What the paper reports, as text for the report.
            #[serde(default)]
            pub paper: Option<String>,
        }
    };
    (@common) => {
        fn select(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
            self.select.as_ref()
        }
        fn status(&self) -> crate::stages::analysis_params::RunFilter {
            self.status
        }
        fn bootstrap(&self) -> crate::stages::analysis_params::Bootstrap {
            crate::stages::analysis_params::Bootstrap {
                resamples: self.bootstrap,
                confidence: self.confidence,
                seed: self.seed,
            }
        }
        fn claim_text(&self) -> Option<&str> {
            self.claim.as_deref()
        }
        fn paper(&self) -> Option<&str> {
            self.paper.as_deref()
        }
    };
    (pub struct $name:ident { $($own:tt)* }) => {
        analysis_params!(@shared $name { $($own)* } {});
        impl crate::stages::analysis_params::AnalysisParams for $name {
            analysis_params!(@common);
        }
    };
    (pub struct $name:ident with_range_theory { $($own:tt)* }) => {
        analysis_params!(@shared $name { $($own)* } {
            /// Fit window: `auto` (the default: chosen from the local exponents by the stated
            /// rule) or variable → [low, high] (null for open).
            #[serde(default)]
            pub range: Option<crate::stages::analysis_params::Range>,
            /// Expected values: exponent → number, and `source`: abstract, theory or derived.
            #[serde(default)]
            pub theory: Option<serde_json::Map<String, serde_json::Value>>,
        });
        impl crate::stages::analysis_params::AnalysisParams for $name {
            analysis_params!(@common);
            fn range(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
                match &self.range {
                    Some(crate::stages::analysis_params::Range::Explicit(m)) => Some(m),
                    _ => None,
                }
            }
            fn theory(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
                self.theory.as_ref()
            }
        }
    };
}
pub(crate) use analysis_params;

crate::named_enum! {
    /// The word `auto`.
    pub enum Auto {
        Auto = "auto",
    }
}

/// A fit's window: chosen by the rule, or given.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Range {
    Auto(Auto),
    Explicit(Map<String, Value>),
}

pub fn selection(p: &dyn AnalysisParams) -> Selection {
    Selection {
        select: p.select().cloned().unwrap_or_default(),
        range: p.range().cloned().unwrap_or_default(),
        converged_only: p.status() == RunFilter::Converged,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Bootstrap {
    pub resamples: usize,
    pub confidence: f64,
    pub seed: u64,
}

/// Checks the shared parameters and that the stage `kind` reads runs (a collect or train stage
/// in `needs`).
pub fn check(
    kind: &str,
    p: &dyn AnalysisParams,
    upstream: &[(&str, &super::params::Params)],
) -> Result<(), CheckError> {
    if upstream.iter().all(|(k, _)| *k != "collect" && *k != "train") {
        return Err(CheckError::needs(format!("{kind} needs a collect or train stage")));
    }
    let c = p.bootstrap().confidence;
    if !(c > 0.0 && c < 1.0) {
        return Err(CheckError::param("confidence", format!("must be between 0 and 1, got {c}")));
    }
    for (k, v) in p.range().into_iter().flatten() {
        let ok = v.as_array().is_some_and(|a| a.len() == 2 && a.iter().all(|x| x.is_null() || x.is_number()));
        if !ok {
            return Err(CheckError::param("range", format!("{k}: expected [low, high] with numbers or null")));
        }
    }
    if let Some(theory) = p.theory() {
        if let Some((k, _)) = theory.iter().find(|(k, v)| *k != "source" && !v.is_number()) {
            return Err(CheckError::param("theory", format!("{k}: expected a number")));
        }
        let source = theory.get("source").ok_or_else(|| {
            CheckError::param(
                "theory",
                "say where the expected values come from: `source: abstract | theory | derived`",
            )
        })?;
        serde_json::from_value::<crate::outputs::Source>(source.clone())
            .map_err(|e| CheckError::param("theory", format!("source: {e}")))?;
    }
    Ok(())
}

/// The claim and the runs behind an analysis, as its output ends with them.
pub fn runs_used(
    p: &dyn AnalysisParams,
    rows: &[crate::analysis::table::Row],
    excluded: std::collections::BTreeMap<String, usize>,
    excluded_keys: std::collections::BTreeMap<String, Vec<String>>,
    ctx: &super::kind::ExecContext,
    job: &crate::job::Job,
) -> Result<RunsUsed, super::kind::StageError> {
    Ok(RunsUsed {
        claim: claim(p),
        runs_used: rows.len(),
        runs_excluded: excluded,
        excluded_keys,
        used_keys: rows.iter().map(crate::analysis::table::row_key).collect(),
        provisional: super::collect::coverage(ctx, job)?,
    })
}

/// The claim's text, theory values and paper statement, carried into the output for the report.
pub fn claim(p: &dyn AnalysisParams) -> Claim {
    Claim {
        claim: p.claim_text().map(str::to_owned),
        theory: p.theory().cloned(),
        paper: p.paper().map(str::to_owned),
        select: p.select().cloned(),
        range: p.range().cloned(),
    }
}
