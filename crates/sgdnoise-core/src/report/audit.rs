//! What `why` shows of an analysis it audits: the numbers it gave, and which runs it used and
//! left out, read from its stored output.

use std::collections::{BTreeMap, BTreeSet};

use super::figure::plain;
use super::notation::value;
use crate::outputs::{self, Analysis, CrossoverOutput, FitOutput, OptimumOutput, Stored};

/// The audited value of an analysis instance.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Audited {
    /// One line per number, e.g. `delta = 0.885 [0.861, 0.921] (95 %)`.
    pub values: Vec<String>,
    /// Keys of the runs the analysis used.
    pub used: BTreeSet<String>,
    /// Reason → how many runs it left out for it.
    pub excluded: BTreeMap<String, usize>,
    /// Reason → the keys of those runs (recorded by analyses of this version on).
    pub excluded_keys: BTreeMap<String, Vec<String>>,
    /// `2 of 3 runs done`, when provisional.
    pub provisional: Option<String>,
}

fn interval(value: f64, ci: (f64, f64)) -> String {
    format!("{value:.3} [{:.3}, {:.3}]", ci.0, ci.1)
}

/// The audited value of a stored output file `file` of bytes `bytes`; `None` for outputs that
/// are not analyses (a training record, a table, a report).
pub fn audited(file: &str, hash: &str, bytes: &[u8]) -> Option<Audited> {
    let analysis = match file {
        FitOutput::FILE => Analysis::Fit(outputs::decode(hash, bytes).ok()?),
        CrossoverOutput::FILE => Analysis::Crossover(outputs::decode(hash, bytes).ok()?),
        OptimumOutput::FILE => Analysis::Optimum(outputs::decode(hash, bytes).ok()?),
        _ => return None,
    };
    let mut a = Audited {
        provisional: analysis.provisional().map(|c| format!("{} of {} runs done", c.runs_done, c.runs_planned)),
        ..Default::default()
    };
    match &analysis {
        Analysis::Fit(o) => {
            let pct = o.fit.confidence * 100.0;
            for (name, e) in &o.fit.exponents {
                a.values.push(format!(
                    "{name} = {} ({pct:.0} % bootstrap over seeds)",
                    interval(e.value, (e.ci_low, e.ci_high))
                ));
            }
            a.values.push(format!(
                "{} ~ {}: R² {:.3} over {} runs of {} seeds",
                o.y, o.law, o.fit.r2, o.fit.n, o.fit.clusters
            ));
            for prof in &o.profiles {
                let w = match prof.window.as_ref().and_then(|c| c.chosen.as_ref()) {
                    Some(w) => format!(
                        "window {} {}–{} (the rule's)",
                        prof.variable,
                        plain(&value(w.low)),
                        plain(&value(w.high))
                    ),
                    None if prof.window.is_some() => format!("no window along {} (all values used)", prof.variable),
                    None => format!("{}: the range given", prof.variable),
                };
                a.values.push(w);
            }
            for (name, (lo, hi)) in &o.systematic {
                a.values.push(format!("{name} over the admissible windows: {lo:.3}–{hi:.3}"));
            }
            a.used = o.used_keys.iter().cloned().collect();
            a.excluded = o.runs_excluded.clone();
            a.excluded_keys = o.excluded_keys.clone();
        }
        Analysis::Crossover(o) => {
            for e in &o.panel.estimates {
                match e.a {
                    Some(v) => a.values.push(format!("a = {} by {} (T_c ~ P^-a)", interval(v, e.ci), e.estimator)),
                    None => a.values.push(format!("a by {}: not found (too few P with a T_c)", e.estimator)),
                }
            }
            if let Some(r) = o.gamma_over_delta {
                a.values.push(format!("γ/δ = {}", interval(r, o.gamma_over_delta_ci)));
            }
            if let Some(m) = o.panel.mechanism {
                a.values.push(format!(
                    "mechanism: slope of ln(w at T_c) against ln P = {}",
                    interval(m, o.panel.mechanism_ci)
                ));
            }
            a.used = o.used.used_keys.iter().cloned().collect();
            a.excluded = o.used.runs_excluded.clone();
            a.excluded_keys = o.used.excluded_keys.clone();
        }
        Analysis::Optimum(o) => {
            match o.optimum.k {
                Some(k) => a.values.push(format!("k = {} (T_opt ~ α^k)", interval(k, o.optimum.k_ci))),
                None => a.values.push("k: not fitted (too few interior optima)".into()),
            }
            if let Some(t) = o.theory_k {
                a.values.push(format!("(D−1)/(D+1) = {t:.3}"));
            }
            a.used = o.used.used_keys.iter().cloned().collect();
            a.excluded = o.used.runs_excluded.clone();
            a.excluded_keys = o.used.excluded_keys.clone();
        }
    }
    Some(a)
}
