//! The claims of a report: one row per claim (claim, what the paper or theory says, our
//! measurement with its interval, runs used, verdict, provenance id) and its figures, built from
//! the analysis outputs. Everything here is a pure function of those outputs, so the report is
//! cached like any stage and reruns only when a result behind it changes.
//!
//! Verdicts follow the one rule of [`super::verdict`]; each row carries one line saying why.

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

// `named_enum!` takes no `#[default]` on a variant.
#[allow(clippy::derivable_impls)]
impl Default for Verdict {
    fn default() -> Self {
        Verdict::Measured
    }
}

/// One row of the claims table: one quantity of one claim (by one estimator, for the crossover's
/// panel), as the report shows it and `claims.csv` holds it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClaimRow {
    pub claim: String,
    pub quantity: String,
    /// The crossover's estimator; empty for the overall row and for fits.
    pub estimator: String,
    pub value: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// The expected value as shown ("—" when nothing is expected).
    pub expected: String,
    pub expected_value: Option<f64>,
    /// Where the expected value comes from, or "measured".
    pub expected_source: String,
    /// The fit window (or the crossings used), as text.
    pub window: String,
    /// The value with its interval, as shown.
    pub measured: String,
    /// The runs behind it, as shown.
    pub runs: String,
    pub runs_used: usize,
    pub runs_excluded: usize,
    pub verdict: Verdict,
    /// One line on what the verdict rests on.
    pub interpretation: String,
    pub id: String,
    /// Computed with `--partial` over part of the planned runs.
    pub provisional: bool,
}

/// The legend of the verdicts, under every claims table.
pub const VERDICTS: &str = "Verdicts: agrees — the expected value (or its interval, when it is measured too) meets the uncertainty interval U, or the value is within 5% of the scale (|expected|, at least 0.25); disagrees — neither; inconclusive — fewer than 3 seeds, no interval, a fit with no window of agreeing local exponents along the exponent's variable or two regimes along any, fewer than 2 uncensored crossings (or estimators, for the panel), or U wider than ±50% of the scale; measured — nothing is expected. U is the bootstrap interval widened to the range of the value over the admissible fit windows (fits) or over the panel's estimators (crossover).";

impl ClaimRow {
    /// The quantity with its estimator, when it has one.
    pub fn quantity_text(&self) -> String {
        if self.estimator.is_empty() {
            self.quantity.clone()
        } else {
            format!("{} ({})", self.quantity, self.estimator)
        }
    }

    /// The expected value with its source.
    pub fn expected_text(&self) -> String {
        if self.expected == "—" {
            "— (measured)".into()
        } else {
            format!("{} ({})", self.expected, self.expected_source)
        }
    }

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

/// The columns of `claims.csv` and `claims.json`, in order.
pub const CLAIM_COLUMNS: [&str; 15] = [
    "claim",
    "quantity",
    "value",
    "lo",
    "hi",
    "expected",
    "expected_source",
    "window",
    "estimator",
    "verdict",
    "interpretation",
    "runs_used",
    "runs_excluded",
    "audit",
    "provisional",
];

impl ClaimRow {
    /// The row's cells in [`CLAIM_COLUMNS`]' order: numbers as numbers, a missing one as null.
    pub fn cells(&self) -> Vec<serde_json::Value> {
        use serde_json::Value;
        let num = |v: Option<f64>| v.and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number);
        let expected = match self.expected_value {
            Some(v) => num(Some(v)),
            None if self.expected == "—" => Value::Null,
            None => Value::String(self.expected.clone()),
        };
        vec![
            Value::String(self.claim.clone()),
            Value::String(self.quantity.clone()),
            num(self.value),
            num(self.lo),
            num(self.hi),
            expected,
            Value::String(self.expected_source.clone()),
            Value::String(self.window.clone()),
            Value::String(self.estimator.clone()),
            Value::String(self.verdict.name().to_owned()),
            Value::String(self.interpretation.clone()),
            Value::from(self.runs_used),
            Value::from(self.runs_excluded),
            Value::String(self.id.clone()),
            Value::Bool(self.provisional),
        ]
    }
}

/// `claims.csv`: a header of [`CLAIM_COLUMNS`], then one line per row (RFC 4180 quoting).
pub fn claims_csv(rows: &[ClaimRow]) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut out = CLAIM_COLUMNS.join(",") + "\n";
    for row in rows {
        let cells: Vec<String> = row
            .cells()
            .iter()
            .map(|v| match v {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => quote(s),
                other => other.to_string(),
            })
            .collect();
        out += &cells.join(",");
        out.push('\n');
    }
    out
}

/// `claims.json`: an array of objects with the keys of [`CLAIM_COLUMNS`].
pub fn claims_json(rows: &[ClaimRow]) -> String {
    let objects: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::Value::Object(CLAIM_COLUMNS.iter().map(|c| c.to_string()).zip(r.cells()).collect()))
        .collect();
    serde_json::to_string_pretty(&objects).expect("claims serialise") + "\n"
}

/// The verdicts that changed between two `claims.csv` texts of the same pipeline, matched on
/// (claim, quantity, estimator): `(claim, quantity, estimator, old, new)`, rows new or gone
/// included (their verdict "absent").
pub fn verdict_changes(old_csv: &str, new_csv: &str) -> Vec<[String; 5]> {
    fn parse(text: &str) -> BTreeMap<(String, String, String), String> {
        let mut rows = text.lines();
        let header: Vec<String> = rows.next().map(split_csv).unwrap_or_default();
        let col = |name: &str| header.iter().position(|h| h == name);
        let (Some(c), Some(q), Some(v)) = (col("claim"), col("quantity"), col("verdict")) else {
            return BTreeMap::new();
        };
        let e = col("estimator");
        rows.map(split_csv)
            .filter(|cells| cells.len() == header.len())
            .map(|cells| {
                let est = e.map(|e| cells[e].clone()).unwrap_or_default();
                ((cells[c].clone(), cells[q].clone(), est), cells[v].clone())
            })
            .collect()
    }
    let (old, new) = (parse(old_csv), parse(new_csv));
    let mut keys: Vec<&(String, String, String)> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (a, b) = (old.get(k).map_or("absent", String::as_str), new.get(k).map_or("absent", String::as_str));
            (a != b).then(|| [k.0.clone(), k.1.clone(), k.2.clone(), a.to_owned(), b.to_owned()])
        })
        .collect()
}

/// The verdicts of a `claims.csv`, counted: `19 agree, 6 disagree, 9 inconclusive, 3 measured`.
pub fn verdict_tally(csv: &str) -> String {
    let mut lines = csv.lines();
    let header = lines.next().map(split_csv).unwrap_or_default();
    let Some(v) = header.iter().position(|h| h == "verdict") else { return String::new() };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for cells in lines.map(split_csv).filter(|c| c.len() == header.len()) {
        *counts.entry(cells[v].clone()).or_default() += 1;
    }
    let word = |v: &str| {
        match v {
            "agrees" => "agree",
            "disagrees" => "disagree",
            other => other,
        }
        .to_owned()
    };
    ["agrees", "disagrees", "inconclusive", "measured"]
        .iter()
        .filter_map(|k| counts.get(*k).map(|n| format!("{n} {}", word(k))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One CSV line's cells (quoted cells with doubled quotes; no line breaks inside cells).
fn split_csv(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match (ch, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(String::new()),
            (c, _) => cells.last_mut().unwrap().push(c),
        }
    }
    cells
}
