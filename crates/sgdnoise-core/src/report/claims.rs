//! The claims of a report: one row per claim (claim, what the paper or theory says, our
//! measurement with its interval, runs used, verdict, provenance id) and its figures, built from
//! the analysis outputs. Everything here is a pure function of those outputs, so the report is
//! cached like any stage and reruns only when a result behind it changes.
//!
//! Verdicts: `agrees` when the expected value lies in the interval, `disagrees` when it does not,
//! `inconclusive` when there is no usable interval, `measured` when nothing is predicted.

use std::collections::BTreeMap;

use crate::analysis::powerlaw::Law;
use crate::outputs::{Analysis, FitOutput};

/// One analysis result given to the report: its key and its typed output.
#[derive(Debug, Clone)]
pub struct Result {
    pub key: String,
    pub analysis: Analysis,
}

impl Result {
    pub(super) fn kind(&self) -> &'static str {
        match self.analysis {
            Analysis::Fit(_) => "fit",
            Analysis::Crossover(_) => "crossover",
            Analysis::Optimum(_) => "optimum",
        }
    }

    pub(super) fn id(&self) -> String {
        id(self.kind(), &self.key)
    }
}

crate::named_enum! {
    /// How a measurement compares with what the paper or the theory expects.
    pub enum Verdict {
        /// The expected value lies in the interval.
        Agrees = "agrees",
        Disagrees = "disagrees",
        /// No usable interval, or too few seeds to test the claim.
        Inconclusive = "inconclusive",
        /// Nothing is predicted.
        Measured = "measured",
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRow {
    pub claim: String,
    pub quantity: String,
    pub expected: String,
    pub measured: String,
    pub runs: String,
    pub verdict: Verdict,
    pub id: String,
    /// Computed with `--partial` over part of the planned runs.
    pub provisional: bool,
}

impl ClaimRow {
    /// The verdict as shown: marked when it rests on part of the planned runs.
    pub fn verdict_text(&self) -> String {
        if self.provisional {
            format!("{}, provisional", self.verdict)
        } else {
            self.verdict.name().to_owned()
        }
    }
}

/// One figure: `name` (`fig-NN-kind`, without extension), its caption, the SVG, the provenance
/// id of the analysis behind it and the section (claim) it illustrates.
pub struct Figure {
    pub name: String,
    pub caption: String,
    pub svg: String,
    pub id: String,
    pub section: usize,
}

/// A claim as the report presents it: a heading, its audit command, then its figures.
pub struct Section {
    pub claim: String,
    pub id: String,
}

pub struct Report {
    pub title: String,
    pub claims: Vec<ClaimRow>,
    pub figures: Vec<Figure>,
    pub sections: Vec<Section>,
}

/// A value worth printing (stored NaN and ±∞ mean "not measured").
pub(super) fn f(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

pub(super) fn fmt(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e7 {
        return format!("{v:.0}");
    }
    let a = v.abs();
    if (0.01..1000.0).contains(&a) {
        format!("{v:.3}")
    } else {
        format!("{v:.3e}")
    }
}

pub(super) fn measured(v: Option<f64>, lo: Option<f64>, hi: Option<f64>) -> String {
    match (v, lo, hi) {
        (Some(v), Some(lo), Some(hi)) => format!("{} [{}, {}]", fmt(v), fmt(lo), fmt(hi)),
        (Some(v), _, _) => format!("{} (no interval)", fmt(v)),
        _ => "not measured".into(),
    }
}

/// Fewer seeds than this make a bootstrap over seeds too coarse to test a claim.
pub const MIN_SEEDS: u64 = 3;

/// A verdict that needs at least [`MIN_SEEDS`] seeds.
pub(super) fn seeded(v: Verdict, seeds: usize) -> Verdict {
    if (seeds as u64) < MIN_SEEDS && matches!(v, Verdict::Agrees | Verdict::Disagrees) {
        Verdict::Inconclusive
    } else {
        v
    }
}

pub(super) fn verdict(expected: Option<f64>, value: Option<f64>, lo: Option<f64>, hi: Option<f64>) -> Verdict {
    if expected.is_some() && value.is_none() {
        return Verdict::Inconclusive;
    }
    match (expected, lo, hi) {
        (None, _, _) => Verdict::Measured,
        (Some(e), Some(lo), Some(hi)) if lo <= e && e <= hi => Verdict::Agrees,
        (Some(_), Some(_), Some(_)) => Verdict::Disagrees,
        _ => Verdict::Inconclusive,
    }
}

/// What runs a result used: `N (S seeds) used, M excluded (why)`.
pub(super) fn runs_text(used: usize, excluded: &BTreeMap<String, usize>, seeds: usize) -> String {
    let n: usize = excluded.values().sum();
    let used = if seeds > 0 { format!("{used} ({seeds} seeds)") } else { used.to_string() };
    if n == 0 {
        format!("{used} used")
    } else {
        let why: Vec<String> = excluded.iter().map(|(k, v)| format!("{v} {k}")).collect();
        format!("{used} used, {n} excluded ({})", why.join(", "))
    }
}

pub(super) fn id(kind: &str, key: &str) -> String {
    format!("{kind}:{}", &key[..key.len().min(16)])
}

/// (variable, exponent) of the fitted law, as the fit parsed it.
pub(super) fn law_terms(o: &FitOutput) -> Vec<(String, String)> {
    Law::parse(&o.law).map(|l| l.terms).unwrap_or_default()
}

pub(super) fn provenance_meta(r: &Result, runs: usize) -> Vec<(String, String)> {
    vec![
        ("provenance".into(), r.id()),
        ("key".into(), r.key.clone()),
        ("runs".into(), runs.to_string()),
        ("audit".into(), format!("sgdnoise why {}", r.id())),
    ]
}

pub(super) fn figure(name: &str, caption: String, r: &Result, svg: String) -> Figure {
    Figure { name: name.into(), caption, svg, id: r.id(), section: 0 }
}
