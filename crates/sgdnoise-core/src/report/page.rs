//! The report: a claims table (claim, what the paper or theory says, our measurement with its
//! interval, runs used, verdict, provenance id) and the figures, as one self-contained HTML page
//! and a Markdown twin. Everything here is a pure function of the analysis outputs, so the
//! report is cached like any stage and reruns only when a result behind it changes.
//!
//! Verdicts: `agrees` when the expected value lies in the interval, `disagrees` when it does not,
//! `inconclusive` when there is no usable interval, `measured` when nothing is predicted.

use std::collections::BTreeMap;

use super::svg::{escape, plain, pow2_or_sig3, HLine, Heatmap, Overlay, Plot, Scale, Series, VLine, NEUTRAL};
use crate::analysis::powerlaw::{bootstrap, quantile, Law, Point};
use crate::analysis::table::OrdF64;
use crate::outputs::{Analysis, CrossoverOutput, FitOutput, OptimumOutput, RunPoint};
use crate::run::Status;

/// One analysis result given to the report: its key and its typed output.
#[derive(Debug, Clone)]
pub struct Result {
    pub key: String,
    pub analysis: Analysis,
}

impl Result {
    fn kind(&self) -> &'static str {
        match self.analysis {
            Analysis::Fit(_) => "fit",
            Analysis::Crossover(_) => "crossover",
            Analysis::Optimum(_) => "optimum",
        }
    }

    fn id(&self) -> String {
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
fn f(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn fmt(v: f64) -> String {
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

fn measured(v: Option<f64>, lo: Option<f64>, hi: Option<f64>) -> String {
    match (v, lo, hi) {
        (Some(v), Some(lo), Some(hi)) => format!("{} [{}, {}]", fmt(v), fmt(lo), fmt(hi)),
        (Some(v), _, _) => format!("{} (no interval)", fmt(v)),
        _ => "not measured".into(),
    }
}

/// Fewer seeds than this make a bootstrap over seeds too coarse to test a claim.
pub const MIN_SEEDS: u64 = 3;

/// A verdict that needs at least [`MIN_SEEDS`] seeds.
fn seeded(v: Verdict, seeds: usize) -> Verdict {
    if (seeds as u64) < MIN_SEEDS && matches!(v, Verdict::Agrees | Verdict::Disagrees) {
        Verdict::Inconclusive
    } else {
        v
    }
}

fn verdict(expected: Option<f64>, value: Option<f64>, lo: Option<f64>, hi: Option<f64>) -> Verdict {
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
fn runs_text(used: usize, excluded: &BTreeMap<String, usize>, seeds: usize) -> String {
    let n: usize = excluded.values().sum();
    let used = if seeds > 0 { format!("{used} ({seeds} seeds)") } else { used.to_string() };
    if n == 0 {
        format!("{used} used")
    } else {
        let why: Vec<String> = excluded.iter().map(|(k, v)| format!("{v} {k}")).collect();
        format!("{used} used, {n} excluded ({})", why.join(", "))
    }
}

fn id(kind: &str, key: &str) -> String {
    format!("{kind}:{}", &key[..key.len().min(16)])
}

/// (variable, exponent) of the fitted law, as the fit parsed it.
fn law_terms(o: &FitOutput) -> Vec<(String, String)> {
    Law::parse(&o.law).map(|l| l.terms).unwrap_or_default()
}

fn provenance_meta(r: &Result, runs: usize) -> Vec<(String, String)> {
    vec![
        ("provenance".into(), r.id()),
        ("key".into(), r.key.clone()),
        ("runs".into(), runs.to_string()),
        ("audit".into(), format!("sgdnoise why {}", r.id())),
    ]
}

/// A column, variable or exponent in the paper's notation (label markup, see `svg`).
pub fn notation(name: &str) -> String {
    match name {
        "rel_dw" => "‖w−w_{0}‖/‖w_{0}‖",
        "test_err" => "test error ε",
        "train_err" => "training error",
        "t_star" => "t*",
        "alpha" => "α",
        "chi" => "χ",
        "dim" => "d",
        "delta" => "δ",
        "gamma" => "γ",
        "k" => "k",
        other => other,
    }
    .to_owned()
}

/// A law as written in a pipeline (`T^delta * P^gamma`) in the paper's notation (`T^δ P^γ`).
fn law_text(law: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for ch in law.chars().chain(std::iter::once(' ')) {
        if ch.is_alphanumeric() || ch == '_' {
            word.push(ch);
            continue;
        }
        if !word.is_empty() {
            out += &plain(&notation(&word));
            word.clear();
        }
        out.push(ch);
    }
    out.replace(" * ", " ").trim_end().to_owned()
}

/// A value for a tooltip, in plain text: three significant digits, `2.49·10^−4`.
fn sig3(v: f64) -> String {
    plain(&super::svg::sig3(v))
}

/// A value for a label: `2^{k}` for powers of two, else three significant digits.
fn value(v: f64) -> String {
    pow2_or_sig3(v)
}

/// One (group, x) cell of runs: the mean over seeds, the spread, and the runs behind it.
struct Cell {
    x: f64,
    mean: f64,
    min: f64,
    max: f64,
    runs: Vec<SeedRun>,
}

/// One run under a point: (seed, instance key, y).
type SeedRun = (i64, String, f64);

/// A law drawn as a line, with its band as (x, low, high) when there is one.
type LawCurve = (Vec<(f64, f64)>, Option<Vec<(f64, f64, f64)>>);

/// Runs grouped by the group variable, then by x (both ascending), with mean and min–max over seeds.
fn cells<'a>(runs: impl Iterator<Item = (f64, f64, f64, i64, &'a str)>) -> Vec<(f64, Vec<Cell>)> {
    let mut by: BTreeMap<OrdF64, BTreeMap<OrdF64, Vec<SeedRun>>> = BTreeMap::new();
    for (g, x, y, seed, key) in runs {
        if g.is_finite() && x.is_finite() && y.is_finite() {
            by.entry(OrdF64(g)).or_default().entry(OrdF64(x)).or_default().push((seed, key.to_owned(), y));
        }
    }
    by.into_iter()
        .map(|(g, xs)| {
            let cells = xs
                .into_iter()
                .map(|(x, mut runs)| {
                    runs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
                    let n = runs.len() as f64;
                    let ys = runs.iter().map(|r| r.2);
                    Cell {
                        x: x.0,
                        mean: ys.clone().sum::<f64>() / n,
                        min: ys.clone().fold(f64::INFINITY, f64::min),
                        max: ys.fold(f64::NEG_INFINITY, f64::max),
                        runs,
                    }
                })
                .collect();
            (g.0, cells)
        })
        .collect()
}

/// The tooltip of one cell: where it is, the mean and spread, and each run's instance key.
fn hover(place: &str, y: &str, c: &Cell) -> String {
    let mut h = format!("{place}\n{} = {} (mean of {} seeds", plain(y), sig3(c.mean), c.runs.len());
    if c.runs.len() > 1 {
        h += &format!("; min {}, max {}", sig3(c.min), sig3(c.max));
    }
    h += ")";
    for (seed, key, v) in &c.runs {
        h += &format!("\nseed {seed}: {} — run {}", sig3(*v), &key[..key.len().min(16)]);
    }
    h + "\naudit a run: sgdnoise why <run>"
}

/// `name = value` in label markup.
fn eq(name: &str, v: f64) -> String {
    format!("{} = {}", notation(name), value(v))
}

/// Points, min–max bars and hovers of one group's cells, placed at `at(x)` on the x axis.
fn cell_series(label: &str, colour: usize, cs: &[Cell], place: &dyn Fn(&Cell) -> (f64, String), y: &str) -> Series {
    let placed: Vec<(f64, String)> = cs.iter().map(place).collect();
    Series {
        y_err: Some(cs.iter().map(|c| (c.min, c.max)).collect()),
        hover: Some(cs.iter().zip(&placed).map(|(c, (_, p))| hover(p, y, c)).collect()),
        colour: Some(colour),
        ..Series::new(label, cs.iter().zip(&placed).map(|(c, (x, _))| (*x, c.mean)).collect())
    }
}

/// `n` points spaced evenly in log between lo and hi.
fn log_grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (n - 1) as f64).exp()).collect()
}

/// The fitted law and its band at each x: `predict(draw, x)` is log y for one coefficient vector;
/// the band is the central `confidence` of the bootstrap draws.
fn law_band(
    xs: &[f64],
    beta: &[f64],
    draws: &[Vec<f64>],
    confidence: f64,
    predict: &dyn Fn(&[f64], f64) -> f64,
) -> LawCurve {
    let line = xs.iter().map(|&x| (x, predict(beta, x).exp())).collect();
    if draws.len() < 10 {
        return (line, None);
    }
    let a = (1.0 - confidence) / 2.0;
    let band = xs
        .iter()
        .map(|&x| {
            let mut v: Vec<f64> = draws.iter().map(|d| predict(d, x)).filter(|v| v.is_finite()).collect();
            v.sort_by(f64::total_cmp);
            (x, quantile(&v, a).exp(), quantile(&v, 1.0 - a).exp())
        })
        .collect();
    (line, Some(band))
}

/// A line of slope `k` in log–log through the centroid (mx, my) of logs, with a band spanned by
/// the slopes at the ends of its interval (pivoting on the centroid).
fn pivot_law(xs: &[f64], mx: f64, my: f64, k: f64, ci: Option<(f64, f64)>) -> LawCurve {
    let at = |s: f64, x: f64| (my + s * (x.ln() - mx)).exp();
    let line = xs.iter().map(|&x| (x, at(k, x))).collect();
    let band = ci.map(|(lo, hi)| {
        xs.iter()
            .map(|&x| (x, at(lo, x).min(at(hi, x)).min(at(k, x)), at(lo, x).max(at(hi, x)).max(at(k, x))))
            .collect()
    });
    (line, band)
}

fn percent(confidence: f64) -> String {
    format!("{}%", (confidence * 100.0).round())
}

/// Builds the claims and figures from the analysis results, in the order given.
pub fn build(title: &str, results: &[Result]) -> Report {
    let mut claims = Vec::new();
    let mut figures = Vec::new();
    let mut sections = Vec::new();
    for r in results {
        let (first, first_fig) = (claims.len(), figures.len());
        let claim = match &r.analysis {
            Analysis::Fit(o) => fit_claims(r, o, &mut claims, &mut figures),
            Analysis::Crossover(o) => crossover_claims(r, o, &mut claims, &mut figures),
            Analysis::Optimum(o) => optimum_claims(r, o, &mut claims, &mut figures),
        };
        if let Some(c) = r.analysis.provisional() {
            for row in &mut claims[first..] {
                row.provisional = true;
                row.runs = format!("{}; provisional: {} of {} runs done", row.runs, c.runs_done, c.runs_planned);
            }
        }
        for fig in &mut figures[first_fig..] {
            fig.section = sections.len();
        }
        sections.push(Section { claim, id: r.id() });
    }
    for (i, fig) in figures.iter_mut().enumerate() {
        fig.name = format!("fig-{:02}-{}", i + 1, fig.name);
    }
    Report { title: title.to_owned(), claims, figures, sections }
}

fn figure(name: &str, caption: String, r: &Result, svg: String) -> Figure {
    Figure { name: name.into(), caption, svg, id: r.id(), section: 0 }
}

fn fit_claims(r: &Result, o: &FitOutput, claims: &mut Vec<ClaimRow>, figures: &mut Vec<Figure>) -> String {
    let (law, y) = (o.law.as_str(), o.y.as_str());
    let claim = o.claim.claim.clone().unwrap_or_else(|| format!("{y} ~ {law}"));
    let seeds = o.fit.clusters;
    let runs = runs_text(o.runs_used, &o.runs_excluded, seeds);
    for (name, e) in &o.fit.exponents {
        let expected = o.claim.theory_of(name);
        let (lo, hi) = (f(e.ci_low), f(e.ci_high));
        claims.push(ClaimRow {
            claim: claim.clone(),
            quantity: name.clone(),
            expected: match (expected, o.claim.paper.as_deref()) {
                (Some(v), _) => fmt(v),
                (None, Some(p)) => p.to_owned(),
                _ => "—".into(),
            },
            measured: measured(f(e.value), lo, hi),
            runs: format!("{runs}; R² {}", f(o.fit.r2).map(fmt).unwrap_or_default()),
            verdict: seeded(verdict(expected, f(e.value), lo, hi), seeds),
            id: r.id(),
            provisional: false,
        });
    }
    // Local slopes between successive values of a variable: how the exponent approaches its limit.
    if let Some(first) = o.local.first() {
        let var = first.variable.as_str();
        if let Some(exp) = law_terms(o).into_iter().find(|(v, _)| v == var).map(|(_, e)| e) {
            let steps: Vec<String> = o
                .local
                .iter()
                .filter_map(|l| {
                    Some(format!("{}→{}: {}", fmt(l.from), fmt(l.to), fmt(l.exponents.get(&exp).copied().and_then(f)?)))
                })
                .collect();
            claims.push(ClaimRow {
                claim: claim.clone(),
                quantity: format!("{exp} (local, between successive {var})"),
                expected: o.claim.theory_of(&exp).map(fmt).unwrap_or_else(|| "—".into()),
                measured: steps.join("; "),
                runs: "same runs".into(),
                verdict: Verdict::Measured,
                id: r.id(),
                provisional: false,
            });
        }
    }
    fit_figures(r, o, &claim, figures);
    claim
}

/// y against the first variable for each value of the second (seed spread, fitted law with its
/// band per group), the collapse on one variable, and the local exponents against the second.
fn fit_figures(r: &Result, o: &FitOutput, claim: &str, figures: &mut Vec<Figure>) {
    let terms = law_terms(o);
    let Some((v1, e1)) = terms.first().cloned() else { return };
    let second = terms.get(1).cloned();
    let y = notation(&o.y);
    let group_of = |x: &[f64]| x.get(1).copied().unwrap_or(1.0);
    let groups =
        cells(o.points.iter().filter_map(|p| Some((group_of(&p.x), *p.x.first()?, p.y, p.seed, p.key.as_str()))));
    let beta: Option<Vec<f64>> = std::iter::once(f(o.fit.log_prefactor.value))
        .chain(terms.iter().map(|(_, e)| o.fit.exponents.get(e).and_then(|e| f(e.value))))
        .collect();
    let points: Vec<Point> = o.points.iter().map(|p| Point { x: p.x.clone(), y: p.y, cluster: p.seed }).collect();
    let draws = if beta.is_some() { bootstrap(&points, o.fit.resamples, o.fit.seed).1 } else { Vec::new() };
    let predict = |b: &[f64], x1: f64, g: f64| b[0] + b[1] * x1.ln() + b.get(2).map_or(0.0, |e2| e2 * g.ln());
    let conf = percent(o.fit.confidence);
    let meta = provenance_meta(r, o.used_keys.len());
    let place = |c: &Cell, g: f64| match &second {
        Some((v2, _)) => format!("{}, {}", plain(&eq(&v1, c.x)), plain(&eq(v2, g))),
        None => plain(&eq(&v1, c.x)),
    };

    let mut plot = Plot::new(claim, &notation(&v1), &y, Scale::Log2, Scale::Log10);
    for (k, (g, cs)) in groups.iter().enumerate() {
        let label = second.as_ref().map_or_else(|| "runs".to_owned(), |(v2, _)| eq(v2, *g));
        plot.series.push(cell_series(&label, k, cs, &|c| (c.x, place(c, *g)), &y));
        if let (Some(b), Some(lo), Some(hi)) = (&beta, cs.first(), cs.last()) {
            let (line, band) =
                law_band(&log_grid(lo.x, hi.x, 24), b, &draws, o.fit.confidence, &|d, x| predict(d, x, *g));
            plot.series.push(Series::law("", line, band, k));
        }
    }
    if beta.is_some() {
        plot.series.push(Series::law(&format!("fitted law, {conf} band"), Vec::new(), Some(Vec::new()), NEUTRAL));
    }
    plot.metadata = meta.clone();
    figures.push(figure(
        "fit",
        format!(
            "{} against {} (points: mean over seeds, bars: min–max over seeds); dashed: the fitted law {}, shaded: its {conf} bootstrap band over seeds",
            plain(&y),
            plain(&notation(&v1)),
            law_text(&o.law)
        ),
        r,
        plot.to_svg(),
    ));

    // The collapse: C·x1^e1·x2^e2 = C·(x1·x2^(e2/e1))^e1, one curve whatever x2.
    if let (Some((v2, e2)), Some(b)) = (&second, &beta) {
        if b[1] != 0.0 {
            let ratio = b[2] / b[1];
            let u_label = format!("{}·{}^{{{}/{}}}", notation(&v1), notation(v2), notation(e2), notation(&e1));
            let mut plot = Plot::new(
                &format!("collapse: {} against {}, {}/{} = {}", y, u_label, notation(e2), notation(&e1), fmt(ratio)),
                &u_label,
                &y,
                Scale::Log2,
                Scale::Log10,
            );
            let (mut ulo, mut uhi) = (f64::INFINITY, 0.0f64);
            for (k, (g, cs)) in groups.iter().enumerate() {
                let u = |c: &Cell| c.x * g.powf(ratio);
                cs.iter().for_each(|c| (ulo, uhi) = (ulo.min(u(c)), uhi.max(u(c))));
                plot.series.push(cell_series(&eq(v2, *g), k, cs, &|c| (u(c), place(c, *g)), &y));
            }
            // The band at the geometric centre of x2: each draw's law there, as a function of u.
            let gs: Vec<f64> = groups.iter().map(|(g, _)| g.ln()).collect();
            let gc = (gs.iter().sum::<f64>() / gs.len().max(1) as f64).exp();
            if ulo < uhi {
                let (line, band) = law_band(&log_grid(ulo, uhi, 24), b, &draws, o.fit.confidence, &|d, u| {
                    predict(d, u / gc.powf(ratio), gc)
                });
                plot.series.push(Series::law(
                    &format!("fitted law, {conf} band at {}", eq(v2, gc)),
                    line,
                    band,
                    NEUTRAL,
                ));
            }
            plot.metadata = meta.clone();
            figures.push(figure(
                "collapse",
                format!(
                    "the same runs against {}: with the fitted {}/{} = {} the curves for every {} fall on one law",
                    plain(&u_label),
                    plain(&notation(e2)),
                    plain(&notation(&e1)),
                    fmt(ratio),
                    plain(&notation(v2))
                ),
                r,
                plot.to_svg(),
            ));
        }
    }

    // Local exponents between successive values of a variable, against it, with the theory.
    if let Some(first) = o.local.first() {
        let var = first.variable.clone();
        let mut plot = Plot::new(
            &format!("{claim}: local exponents between successive {}", plain(&notation(&var))),
            &notation(&var),
            "local exponent",
            Scale::Log2,
            Scale::Linear,
        );
        for (k, (_, e)) in terms.iter().enumerate() {
            let pts: Vec<(f64, f64)> = o
                .local
                .iter()
                .filter_map(|l| Some(((l.from * l.to).sqrt(), l.exponents.get(e).copied().and_then(f)?)))
                .collect();
            let hovers = o
                .local
                .iter()
                .filter(|l| l.exponents.get(e).copied().and_then(f).is_some())
                .map(|l| {
                    format!(
                        "{} fitted on {} and {} only: {}",
                        plain(&notation(e)),
                        plain(&eq(&var, l.from)),
                        plain(&eq(&var, l.to)),
                        sig3(l.exponents[e])
                    )
                })
                .collect();
            plot.series.push(Series {
                line: true,
                hover: Some(hovers),
                colour: Some(k),
                ..Series::new(&format!("local {}", notation(e)), pts)
            });
            if let Some(est) = o.fit.exponents.get(e) {
                if let Some(v) = f(est.value) {
                    let band = f(est.ci_low).zip(f(est.ci_high));
                    let label = format!("{} over all {}, {conf} interval", notation(e), notation(&var));
                    plot.hlines.push(HLine { y: v, band, label, dashed: false, colour: k });
                }
            }
            if let Some(t) = o.claim.theory_of(e) {
                plot.hlines.push(HLine {
                    y: t,
                    band: None,
                    label: format!("theory {} = {}", notation(e), fmt(t)),
                    dashed: true,
                    colour: k,
                });
            }
        }
        plot.metadata = meta;
        figures.push(figure(
            "local",
            format!(
                "each exponent refitted on successive pairs of {} (points, at their geometric mean), against the fit over all of them (solid, with its interval) and the theory (dashed)",
                plain(&notation(&var))
            ),
            r,
            plot.to_svg(),
        ));
    }
}

fn crossover_claims(r: &Result, o: &CrossoverOutput, claims: &mut Vec<ClaimRow>, figures: &mut Vec<Figure>) -> String {
    let c = &o.crossover;
    let claim = o.used.claim.claim.clone().unwrap_or_else(|| "T_c ~ P^−a with a = γ/δ".into());
    let (lo, hi) = (f(c.a_ci.0), f(c.a_ci.1));
    let (dlo, dhi) = (f(o.a_minus_gamma_over_delta_ci.0), f(o.a_minus_gamma_over_delta_ci.1));
    let ratio = o.gamma_over_delta.and_then(f);
    let a = c.a.and_then(f);
    claims.push(ClaimRow {
        claim: claim.clone(),
        quantity: "a".into(),
        expected: format!("γ/δ = {}", measured(ratio, f(o.gamma_over_delta_ci.0), f(o.gamma_over_delta_ci.1))),
        measured: measured(a, lo, hi),
        runs: format!(
            "{}; a by {}; T_c (threshold) found for {} values of {}",
            runs_text(o.used.runs_used, &o.used.runs_excluded, o.seeds),
            c.method.name(),
            c.groups_with_t_c,
            o.group
        ),
        // a − γ/δ on the same resamples: agree when its interval holds 0.
        verdict: seeded(verdict(Some(0.0), ratio.and(a), dlo, dhi), o.seeds),
        id: r.id(),
        provisional: false,
    });
    let (group, x, y) = (o.group.as_str(), o.x.as_str(), o.y.as_str());
    let (ng, nx, ny) = (notation(group), notation(x), notation(y));
    let meta = provenance_meta(r, o.used.used_keys.len());
    let groups = cells(
        o.runs.iter().filter_map(|p| Some((p.group?, p.x?, p.y?, p.seed.map_or(0, |s| s as i64), p.key.as_str()))),
    );
    let colour_of = |g: f64| groups.iter().position(|(h, _)| *h == g).unwrap_or(0);
    let place = |c: &Cell, g: f64| format!("{}, {}", plain(&eq(x, c.x)), plain(&eq(group, g)));

    let mut plot = Plot::new(
        &format!("{ny} against {nx}, one curve per {ng}; T_{{c}} marked"),
        &nx,
        &ny,
        Scale::Log2,
        Scale::Linear,
    );
    for (k, (g, cs)) in groups.iter().enumerate() {
        let mut s = cell_series(&eq(group, *g), k, cs, &|c| (c.x, place(c, *g)), &ny);
        s.line = true;
        plot.series.push(s);
    }
    for curve in &c.curves {
        if let Some(tc) = curve.t_c.and_then(f) {
            let label = format!("T_{{c}}({})", value(curve.group));
            plot.vlines.push(VLine { x: tc, label, colour: Some(colour_of(curve.group)) });
        }
    }
    plot.metadata = meta.clone();
    figures.push(figure(
        "crossover",
        format!(
            "{} against {} for each {} (points: mean over seeds, bars: min–max); dashed verticals: T_c, where the error leaves its low-T plateau by {}%",
            plain(&ny),
            plain(&nx),
            plain(&ng),
            fmt(o.criterion.threshold * 100.0)
        ),
        r,
        plot.to_svg(),
    ));
    let Some(a) = a else { return claim };
    let u_label = format!("{nx}·{ng}^{{a}}");
    let mut collapse = Plot::new(
        &format!("collapse: {ny} against {u_label}, a = {}", fmt(a)),
        &u_label,
        &ny,
        Scale::Log2,
        Scale::Linear,
    );
    for (k, (g, cs)) in groups.iter().enumerate() {
        let mut s = cell_series(&eq(group, *g), k, cs, &|c| (c.x * g.powf(a), place(c, *g)), &ny);
        s.line = true;
        collapse.series.push(s);
    }
    collapse.metadata = meta.clone();
    figures.push(figure(
        "collapse",
        format!("the curves against {} with the fitted a = {}: they fall on one curve", plain(&u_label), fmt(a)),
        r,
        collapse.to_svg(),
    ));
    // T_c against P with the law P^−a (band: the slopes at the ends of a's interval) and γ/δ.
    let tcs: Vec<&crate::analysis::crossover::Curve> =
        c.curves.iter().filter(|k| k.t_c.and_then(f).is_some()).collect();
    if tcs.len() >= 2 {
        let mut plot = Plot::new(&format!("T_{{c}} against {ng}"), &ng, "T_{c}", Scale::Log2, Scale::Log2);
        let n = tcs.len() as f64;
        let mx = tcs.iter().map(|k| k.group.ln()).sum::<f64>() / n;
        let my = tcs.iter().map(|k| k.t_c.unwrap_or(1.0).ln()).sum::<f64>() / n;
        let xs = log_grid(tcs[0].group, tcs[tcs.len() - 1].group, 12);
        plot.series.push(Series {
            y_err: Some(tcs.iter().map(|k| (k.t_c_ci.0, k.t_c_ci.1)).collect()),
            hover: Some(
                tcs.iter()
                    .map(|k| {
                        format!(
                            "{}: T_c = {} (bootstrap interval {}–{})",
                            plain(&eq(group, k.group)),
                            sig3(k.t_c.unwrap_or(f64::NAN)),
                            sig3(k.t_c_ci.0),
                            sig3(k.t_c_ci.1)
                        )
                    })
                    .collect(),
            ),
            colour: Some(NEUTRAL),
            ..Series::new(
                "T_{c} (bars: bootstrap interval)",
                tcs.iter().map(|k| (k.group, k.t_c.unwrap_or(f64::NAN))).collect(),
            )
        });
        let (line, band) = pivot_law(&xs, mx, my, -a, lo.zip(hi).map(|(l, h)| (-l, -h)));
        plot.series.push(Series::law(&format!("{ng}^{{−a}}, a = {}, band: a's interval", fmt(a)), line, band, 0));
        if let Some(ratio) = ratio {
            let (line, _) = pivot_law(&xs, mx, my, -ratio, None);
            plot.series
                .push(Series {
                    dashed: false, ..Series::law(&format!("slope −γ/δ = {}", fmt(-ratio)), line, None, 1)
                });
        }
        plot.metadata = meta;
        figures.push(figure(
            "t-c",
            format!(
                "T_c against {} (threshold crossings), the fitted {}^−a through their centre, and the slope γ/δ of the weights' fit",
                plain(&ng),
                plain(&ng)
            ),
            r,
            plot.to_svg(),
        ));
    }
    claim
}

fn optimum_claims(r: &Result, o: &OptimumOutput, claims: &mut Vec<ClaimRow>, figures: &mut Vec<Figure>) -> String {
    let opt = &o.optimum;
    let claim =
        o.used.claim.claim.clone().unwrap_or_else(|| "T_opt ~ α^k in the feature regime, k = (D−1)/(D+1)".into());
    let theory = o.theory_k.and_then(f);
    let (lo, hi) = (f(opt.k_ci.0), f(opt.k_ci.1));
    let k = opt.k.and_then(f);
    let depth = o.depth.map_or_else(|| "null".to_owned(), |d| d.to_string());
    claims.push(ClaimRow {
        claim: claim.clone(),
        quantity: "k".into(),
        expected: theory.map(|t| format!("{} (D = {depth})", fmt(t))).unwrap_or("—".into()),
        measured: measured(k, lo, hi),
        runs: format!(
            "{}; {} values of α ≤ {} fitted ({} with the minimum at the largest stable T)",
            runs_text(o.used.runs_used, &o.used.runs_excluded, o.seeds),
            opt.fitted_groups,
            fmt(o.alpha_max),
            opt.stability_edges
        ),
        verdict: seeded(verdict(theory, k, lo, hi), o.seeds),
        id: r.id(),
        provisional: false,
    });
    let (nx, ng, ny) = (notation(&o.x), notation(&o.group), notation(&o.y));
    let meta = provenance_meta(r, o.used.used_keys.len());
    // The seed-averaged error over (α, T): a cell with no converged run is a hole, one with some is hatched.
    let mut by: BTreeMap<(OrdF64, OrdF64), Vec<&RunPoint>> = BTreeMap::new();
    for c in &o.grid {
        if let (Some(g), Some(x)) = (c.group, c.x) {
            by.entry((OrdF64(g), OrdF64(x))).or_default().push(c);
        }
    }
    let mut ys: Vec<f64> = by.keys().map(|k| k.0 .0).collect();
    let mut xs: Vec<f64> = by.keys().map(|k| k.1 .0).collect();
    for v in [&mut ys, &mut xs] {
        v.sort_by(f64::total_cmp);
        v.dedup();
    }
    let cell_of = |g: f64, x: f64| by.get(&(OrdF64(g), OrdF64(x)));
    // (mean over the converged runs, as the minimum takes it; whether some runs of the cell did not converge)
    let (values, partial): (Vec<Vec<Option<f64>>>, Vec<Vec<bool>>) = ys
        .iter()
        .map(|&g| {
            xs.iter()
                .map(|&x| {
                    let Some(runs) = cell_of(g, x) else { return (None, false) };
                    let ok: Vec<f64> =
                        runs.iter().filter(|c| c.status == Some(Status::Converged)).filter_map(|c| c.y).collect();
                    let mean = (!ok.is_empty()).then(|| ok.iter().sum::<f64>() / ok.len() as f64);
                    (mean, mean.is_some() && ok.len() < runs.len())
                })
                .unzip()
        })
        .unzip();
    let hovers: Vec<Vec<String>> = ys
        .iter()
        .map(|&g| {
            xs.iter()
                .map(|&x| {
                    let mut h = format!("{}, {}", plain(&eq(&o.group, g)), plain(&eq(&o.x, x)));
                    let mut runs: Vec<&&RunPoint> = cell_of(g, x).into_iter().flatten().collect();
                    runs.sort_by(|a, b| a.seed.cmp(&b.seed).then_with(|| a.key.cmp(&b.key)));
                    for c in runs {
                        let status = c.status.map_or("?", |s| s.name());
                        let y = c.y.map_or_else(|| "—".to_owned(), sig3);
                        h += &format!(
                            "\nseed {}: {} = {y} ({status}) — run {}",
                            c.seed.unwrap_or(0),
                            plain(&ny),
                            &c.key[..c.key.len().min(16)]
                        );
                    }
                    h
                })
                .collect()
        })
        .collect();
    let optima: Vec<(f64, f64)> = opt.optima.iter().map(|p| (p.t_opt, p.group)).collect();
    let opt_hover: Vec<String> = opt
        .optima
        .iter()
        .map(|p| {
            format!(
                "{}: T_opt = {}, {} = {} at the minimum ({})",
                plain(&eq(&o.group, p.group)),
                sig3(p.t_opt),
                plain(&ny),
                sig3(p.err_min),
                p.edge.name()
            )
        })
        .collect();
    // The fitted and the predicted law through the centroid of the fitted optima (α ≤ α_max).
    let fitted: Vec<(f64, f64)> = optima.iter().filter(|(_, a)| *a <= o.alpha_max).map(|&(t, a)| (a, t)).collect();
    let centroid = (fitted.len() >= 2).then(|| {
        let n = fitted.len() as f64;
        let (mx, my) =
            (fitted.iter().map(|p| p.0.ln()).sum::<f64>() / n, fitted.iter().map(|p| p.1.ln()).sum::<f64>() / n);
        let (lo, hi) = fitted.iter().fold((f64::INFINITY, 0.0f64), |(l, h), p| (l.min(p.0), h.max(p.0)));
        (mx, my, log_grid(lo, hi, 12))
    });
    let laws: Vec<(String, f64, bool)> = [
        k.map(|k| (format!("fit α^{{k}}, k = {}", fmt(k)), k, true)),
        theory.map(|t| (format!("theory k = {} (D = {depth})", fmt(t)), t, false)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut overlays = vec![Overlay {
        label: "T_{opt}(α)".into(),
        points: optima.clone(),
        hover: Some(opt_hover.clone()),
        markers: true,
        dashed: false,
    }];
    if let Some((mx, my, grid)) = &centroid {
        for (label, slope, dashed) in &laws {
            let (line, _) = pivot_law(grid, *mx, *my, *slope, None);
            overlays.push(Overlay {
                label: label.clone(),
                points: line.iter().map(|&(a, t)| (t, a)).collect(),
                hover: None,
                markers: false,
                dashed: *dashed,
            });
        }
    }
    let heat = Heatmap {
        title: format!("{ny} over ({ng}, {nx}) with T_{{opt}}({ng})"),
        x_label: nx.clone(),
        y_label: ng.clone(),
        z_label: format!("{ny}, mean over seeds"),
        xs,
        ys,
        values,
        partial,
        hover: hovers,
        overlays,
        metadata: meta.clone(),
    };
    figures.push(figure(
        "phase-diagram",
        format!(
            "the ({}, {}) phase diagram of the {}; grey: no run converged; hatched: the mean over the seeds that converged, others diverged or hit a limit (the minimum is taken the same way); circles: T_opt(α); lines: the fitted (dashed) and predicted (solid) α^k through the fitted optima",
            plain(&ng),
            plain(&nx),
            plain(&ny)
        ),
        r,
        heat.to_svg(),
    ));
    let mut plot = Plot::new(&format!("T_{{opt}} against {ng}"), &ng, "T_{opt}", Scale::Log2, Scale::Log2);
    plot.series.push(Series {
        hover: Some(opt_hover),
        colour: Some(NEUTRAL),
        ..Series::new("T_{opt} (refined minimum)", optima.iter().map(|&(t, a)| (a, t)).collect())
    });
    if let Some((mx, my, grid)) = &centroid {
        for (i, (label, slope, dashed)) in laws.iter().enumerate() {
            let ci = if *dashed { lo.zip(hi) } else { None };
            let (line, band) = pivot_law(grid, *mx, *my, *slope, ci);
            let label = if ci.is_some() { format!("{label}, band: k's interval") } else { label.clone() };
            plot.series.push(Series { dashed: *dashed, ..Series::law(&label, line, band, i) });
        }
    }
    plot.metadata = meta;
    figures.push(figure(
        "t-opt",
        format!("T_opt against α with the fitted k (dashed, band: the slopes at the ends of its bootstrap interval) and the predicted (D−1)/(D+1) (solid), for α ≤ {}", fmt(o.alpha_max)),
        r,
        plot.to_svg(),
    ));
    claim
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;width:100%;font-size:14px}th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.agrees{background:#e3f4e1}td.disagrees{background:#f9e0e0}td.inconclusive{background:#fff4d6}\
code{font-size:12px}code.why{user-select:all;background:#f3f3f3;padding:1px 4px;white-space:nowrap}\
figure{margin:1.5em 0}figcaption{font-size:13px;color:#444;max-width:760px}svg{max-width:100%;height:auto}\
svg .point:hover,svg .cell:hover{stroke:#000;stroke-width:2}ol.index{font-size:14px}section{border-top:1px solid #ddd;margin-top:2em}\
#tip{position:fixed;z-index:10;background:#fffff4;border:1px solid #888;border-radius:3px;padding:4px 7px;font:12px/1.35 ui-monospace,monospace;white-space:pre;pointer-events:none;box-shadow:0 2px 6px rgba(0,0,0,.2)}#tip[hidden]{display:none}";

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = format!("# {}\n\n## Claims\n\n", self.title);
        md.push_str("| claim | quantity | paper / theory | measured [interval] | runs | verdict | audit |\n|---|---|---|---|---|---|---|\n");
        for c in &self.claims {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | `sgdnoise why {}` |\n",
                c.claim.replace('|', "\\|"),
                c.quantity,
                c.expected.replace('|', "\\|"),
                c.measured,
                c.runs,
                c.verdict_text(),
                c.id
            ));
        }
        md.push_str(&format!("\n{INTERVALS}\n\n## Figures\n\n"));
        for (i, fig) in self.figures.iter().enumerate() {
            md.push_str(&format!(
                "{}. [{}](#{}) — {}\n",
                i + 1,
                fig.name,
                fig.name,
                plain(&self.sections[fig.section].claim)
            ));
        }
        for (s, section) in self.sections.iter().enumerate() {
            md.push_str(&format!("\n### {}\n\nAudit: `sgdnoise why {}`\n\n", section.claim, section.id));
            for fig in self.figures.iter().filter(|f| f.section == s) {
                md.push_str(&format!(
                    "<a id=\"{n}\"></a>![{c}]({n}.png)\n\n*{n}: {c}* ([SVG]({n}.svg), `sgdnoise why {id}`)\n\n",
                    n = fig.name,
                    c = fig.caption,
                    id = fig.id
                ));
            }
        }
        md
    }

    /// One self-contained page: nothing is fetched, the figures are inline SVG (hover a point for
    /// its runs), and each claim and figure names its `sgdnoise why` command.
    pub fn html(&self) -> String {
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        h.push_str(&format!("<title>{}</title><style>{STYLE}</style></head><body>\n", escape(&self.title)));
        h.push_str(&format!("<h1>{}</h1>\n<h2>Claims</h2>\n<table><thead><tr><th>claim</th><th>quantity</th><th>paper / theory</th><th>measured [interval]</th><th>runs</th><th>verdict</th><th>audit</th></tr></thead><tbody>\n", escape(&self.title)));
        for c in &self.claims {
            let section = self.sections.iter().position(|s| s.id == c.id).unwrap_or(0);
            h.push_str(&format!(
                "<tr><td><a href=\"#claim-{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td><code class=\"why\">sgdnoise why {}</code></td></tr>\n",
                section + 1,
                escape(&c.claim),
                escape(&c.quantity),
                escape(&c.expected),
                escape(&c.measured),
                escape(&c.runs),
                c.verdict,
                c.verdict_text(),
                escape(&c.id)
            ));
        }
        h.push_str(&format!(
            "</tbody></table>\n<p>{}</p>\n<h2>Figures</h2>\n<ol class=\"index\">\n",
            escape(INTERVALS)
        ));
        for fig in &self.figures {
            h.push_str(&format!(
                "<li><a href=\"#{n}\">{n}</a> — {}</li>\n",
                escape(&plain(&self.sections[fig.section].claim)),
                n = escape(&fig.name)
            ));
        }
        h.push_str("</ol>\n<p>Hover a point or a cell for its value, its spread over seeds and the instance key of each run behind it; <code>sgdnoise why KEY</code> audits that run.</p>\n");
        for (s, section) in self.sections.iter().enumerate() {
            h.push_str(&format!(
                "<section id=\"claim-{}\"><h3>{}</h3><p>Audit: <code class=\"why\">sgdnoise why {}</code></p>\n",
                s + 1,
                escape(&section.claim),
                escape(&section.id)
            ));
            for fig in self.figures.iter().filter(|f| f.section == s) {
                h.push_str(&format!(
                    "<figure id=\"{n}\">{}<figcaption><b>{n}</b>: {} <a href=\"{n}.svg\">SVG</a> · <a href=\"{n}.png\">PNG</a> · <code class=\"why\">sgdnoise why {}</code></figcaption></figure>\n",
                    strip_xml_decl(&fig.svg),
                    escape(&fig.caption),
                    escape(&fig.id),
                    n = escape(&fig.name),
                ));
            }
            h.push_str("</section>\n");
        }
        h.push_str(TOOLTIP);
        h.push_str("</body></html>\n");
        h
    }
}

/// The page's tooltip: each point's or cell's `<title>` moves into a `data-tip` the script shows
/// beside the pointer (a styled box a screenshot can capture, instead of the browser's native
/// tooltip). Inline, so the page still fetches nothing; the standalone SVGs keep their `<title>`s.
const TOOLTIP: &str = "<div id=\"tip\" role=\"tooltip\" hidden></div>\n<script>\n(() => {\n  const tip = document.getElementById('tip');\n  for (const el of document.querySelectorAll('svg .point, svg .cell')) {\n    const t = el.querySelector('title');\n    if (t) { el.dataset.tip = t.textContent; t.remove(); }\n  }\n  document.addEventListener('mousemove', (e) => {\n    const el = e.target.closest ? e.target.closest('[data-tip]') : null;\n    if (!el) { tip.hidden = true; return; }\n    tip.textContent = el.dataset.tip;\n    tip.hidden = false;\n    tip.style.left = Math.max(4, Math.min(e.clientX + 14, innerWidth - tip.offsetWidth - 8)) + 'px';\n    tip.style.top = Math.max(4, Math.min(e.clientY + 14, innerHeight - tip.offsetHeight - 8)) + 'px';\n  });\n})();\n</script>\n";

const INTERVALS: &str = "Intervals: bootstrap over seeds (runs sharing a seed share data, initialisation and batches). Audit any row with `sgdnoise why <provenance>`, any run with `sgdnoise why <run key>`.";

fn strip_xml_decl(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verdicts_follow_the_interval() {
        assert_eq!(verdict(Some(1.0), Some(1.0), Some(0.9), Some(1.1)), Verdict::Agrees);
        assert_eq!(verdict(Some(1.0), Some(1.3), Some(1.2), Some(1.4)), Verdict::Disagrees);
        assert_eq!(verdict(Some(1.0), Some(1.0), None, None), Verdict::Inconclusive);
        assert_eq!(verdict(Some(1.0), None, Some(0.0), Some(2.0)), Verdict::Inconclusive);
        assert_eq!(verdict(None, Some(0.5), Some(0.0), Some(1.0)), Verdict::Measured);
    }

    #[test]
    fn laws_read_in_the_papers_notation() {
        assert_eq!(law_text("T^delta * P^gamma"), "T^δ P^γ");
        assert_eq!(law_text("alpha^k"), "α^k");
        assert_eq!(law_text("T^c * P^b"), "T^c P^b");
        assert_eq!(sig3(0.000249), "2.49·10^−4", "tooltips are plain text");
    }

    #[test]
    fn a_fit_becomes_claims_and_a_figure() {
        let out = json!({
            "y": "rel_dw", "law": "T^delta * P^gamma", "variables": ["T", "P"],
            "fit": { "exponents": {
                "delta": { "value": 1.01, "ci_low": 0.97, "ci_high": 1.05, "stderr": 0.02 },
                "gamma": { "value": 0.3, "ci_low": 0.35, "ci_high": 0.45, "stderr": 0.02 } },
                "log_prefactor": { "value": -1.0, "ci_low": null, "ci_high": null, "stderr": null },
                "r2": 0.99, "n": 12, "clusters": 4, "residuals": [], "bootstrap": 100, "confidence": 0.9, "resamples": 100, "seed": 0 },
            "claim": { "claim": "perceptron χ = 1", "theory": { "delta": 1.0, "gamma": 0.5 } },
            "runs_used": 12, "runs_excluded": { "status diverged": 2 },
            "points": [ { "x": [0.25, 256.0], "y": 0.1, "seed": 0, "key": "k1" }, { "x": [0.5, 256.0], "y": 0.2, "seed": 0, "key": "k2" } ],
            "local": [],
            "used_keys": ["k1", "k2"],
        });
        let bytes = serde_json::to_vec_pretty(&out).unwrap();
        let fit = crate::outputs::round_trip(&bytes).expect("a complete fit.json round-trips");
        let r = build("t", &[Result { key: "abcdef0123456789ffff".into(), analysis: Analysis::Fit(fit) }]);
        assert_eq!(r.claims.len(), 2);
        assert_eq!(r.claims[0].verdict, Verdict::Agrees);
        assert_eq!(r.claims[1].verdict, Verdict::Disagrees);
        assert_eq!(r.claims[0].measured, "1.010 [0.970, 1.050]");
        assert_eq!(r.claims[0].runs, "12 (4 seeds) used, 2 excluded (2 status diverged); R² 0.990");
        assert_eq!(r.claims[0].id, "fit:abcdef0123456789");
        assert_eq!(r.figures.len(), 2, "the law and its collapse");
        assert!(r.figures[0].svg.contains("fit:abcdef0123456789"));
        let html = r.html();
        assert!(html.contains("<td class=\"agrees\">agrees</td>"));
        assert!(html.contains("<svg"));
        let md = r.markdown();
        assert!(md.contains("| perceptron χ = 1 | delta | 1 | 1.010 [0.970, 1.050] |"), "{md}");
    }
}
