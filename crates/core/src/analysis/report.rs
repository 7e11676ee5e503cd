//! The report: a claims table (claim, what the paper or theory says, our measurement with its
//! interval, runs used, verdict, provenance id) and the figures, as one self-contained HTML page
//! and a Markdown twin. Everything here is a pure function of the analysis outputs, so the
//! report is cached like any stage and reruns only when a result behind it changes.
//!
//! Verdicts: `agrees` when the expected value lies in the interval, `disagrees` when it does not,
//! `inconclusive` when there is no usable interval, `measured` when nothing is predicted.

use std::collections::BTreeMap;

use super::powerlaw::Law;
use super::svg::{escape, Heatmap, Plot, Scale, Series};
use crate::nn::Status;
use crate::stages::outputs::{Analysis, CrossoverOutput, FitOutput, OptimumOutput};

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

pub struct Figure {
    pub name: String,
    pub caption: String,
    pub svg: String,
}

pub struct Report {
    pub title: String,
    pub claims: Vec<ClaimRow>,
    pub figures: Vec<Figure>,
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

/// Builds the claims and figures from the analysis results, in the order given.
pub fn build(title: &str, results: &[Result]) -> Report {
    let mut claims = Vec::new();
    let mut figures = Vec::new();
    for r in results {
        let first = claims.len();
        match &r.analysis {
            Analysis::Fit(o) => fit_claims(r, o, &mut claims, &mut figures),
            Analysis::Crossover(o) => crossover_claims(r, o, &mut claims, &mut figures),
            Analysis::Optimum(o) => optimum_claims(r, o, &mut claims, &mut figures),
        }
        if let Some(c) = r.analysis.provisional() {
            for row in &mut claims[first..] {
                row.provisional = true;
                row.runs = format!("{}; provisional: {} of {} runs done", row.runs, c.runs_done, c.runs_planned);
            }
        }
    }
    for (i, fig) in figures.iter_mut().enumerate() {
        fig.name = format!("fig-{:02}-{}.svg", i + 1, fig.name);
    }
    Report { title: title.to_owned(), claims, figures }
}

fn fit_claims(r: &Result, o: &FitOutput, claims: &mut Vec<ClaimRow>, figures: &mut Vec<Figure>) {
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
    // Figure: y against the first variable, one series per value of the second, fitted lines.
    let vars = &o.variables;
    let Some(first) = vars.first() else { return };
    let mut groups: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for p in &o.points {
        let Some(x0) = p.x.first().copied() else { continue };
        let g = p.x.get(1).copied().unwrap_or(0.0);
        groups.entry(g.to_bits()).or_default().push((x0, p.y));
    }
    let exps: Vec<f64> =
        law_terms(o).iter().filter_map(|(_, name)| o.fit.exponents.get(name).and_then(|e| f(e.value))).collect();
    let c = f(o.fit.log_prefactor.value).unwrap_or(0.0);
    let mut plot = Plot::new(&claim, first, y, Scale::Log2, Scale::Log10);
    for (k, (g, points)) in groups.iter().enumerate() {
        let gv = f64::from_bits(*g);
        let label = if vars.len() > 1 { format!("{} = {}", vars[1], fmt(gv)) } else { y.to_owned() };
        let (lo, hi) = points.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
        plot.series.push(Series { colour: Some(k), ..Series::new(&label, points.clone()) });
        if exps.len() == vars.len() && lo.is_finite() {
            let line = |x: f64| (c + exps[0] * x.ln() + if vars.len() > 1 { exps[1] * gv.ln() } else { 0.0 }).exp();
            let mut fitted = Series::new(&format!("fit {label}"), vec![(lo, line(lo)), (hi, line(hi))]);
            fitted.line = true;
            fitted.dashed = true;
            fitted.colour = Some(k);
            plot.series.push(fitted);
        }
    }
    plot.metadata = provenance_meta(r, o.used_keys.len());
    figures.push(Figure {
        name: "fit".into(),
        caption: format!("{claim} — points: runs; dashed: the fitted law ({})", r.id()),
        svg: plot.to_svg(),
    });
}

fn crossover_claims(r: &Result, o: &CrossoverOutput, claims: &mut Vec<ClaimRow>, figures: &mut Vec<Figure>) {
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
    let mut plot = Plot::new(&format!("{y} against {x}, one curve per {group}"), x, y, Scale::Log2, Scale::Linear);
    let mut collapse = Plot::new(
        &format!("collapse: {y} against {x}·{group}^a"),
        &format!("{x}·{group}^a"),
        y,
        Scale::Log2,
        Scale::Linear,
    );
    for curve in &c.curves {
        let g = curve.group;
        let pts: Vec<(f64, f64)> = curve.points.iter().map(|&(t, e, _)| (t, e)).collect();
        let mut s = Series::new(&format!("{group} = {}", fmt(g)), pts.clone());
        s.line = true;
        plot.series.push(s);
        if let Some(tc) = curve.t_c.and_then(f) {
            plot.vlines.push((tc, format!("T_c({})", fmt(g))));
        }
        if let Some(a) = a {
            let mut s =
                Series::new(&format!("{group} = {}", fmt(g)), pts.iter().map(|&(t, e)| (t * g.powf(a), e)).collect());
            s.line = true;
            collapse.series.push(s);
        }
    }
    plot.metadata = provenance_meta(r, o.used.used_keys.len());
    collapse.metadata = provenance_meta(r, o.used.used_keys.len());
    figures.push(Figure {
        name: "crossover".into(),
        caption: format!("{y} against {x} for each {group}; vertical lines: T_c ({})", r.id()),
        svg: plot.to_svg(),
    });
    if a.is_some() {
        figures.push(Figure {
            name: "collapse".into(),
            caption: format!("the curves against {x}·{group}^a with the fitted a ({})", r.id()),
            svg: collapse.to_svg(),
        });
    }
}

fn optimum_claims(r: &Result, o: &OptimumOutput, claims: &mut Vec<ClaimRow>, figures: &mut Vec<Figure>) {
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
    // Heatmap of the seed-averaged error over (α, T); diverged or unconverged cells are holes.
    let mut sums: BTreeMap<(u64, u64), (f64, usize, bool)> = BTreeMap::new();
    for c in &o.grid {
        let (Some(g), Some(x)) = (c.group, c.x) else { continue };
        let e = sums.entry((g.to_bits(), x.to_bits())).or_insert((0.0, 0, true));
        match (c.status, c.y) {
            (Some(Status::Converged), Some(y)) => {
                e.0 += y;
                e.1 += 1;
            }
            _ => e.2 = false,
        }
    }
    let mut ys: Vec<f64> = sums.keys().map(|k| f64::from_bits(k.0)).collect();
    let mut xs: Vec<f64> = sums.keys().map(|k| f64::from_bits(k.1)).collect();
    ys.sort_by(f64::total_cmp);
    ys.dedup();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let values: Vec<Vec<Option<f64>>> = ys
        .iter()
        .map(|g| {
            xs.iter()
                .map(|x| {
                    sums.get(&(g.to_bits(), x.to_bits())).and_then(|&(s, n, all)| (all && n > 0).then(|| s / n as f64))
                })
                .collect()
        })
        .collect();
    let optima: Vec<(f64, f64)> = opt.optima.iter().map(|o| (o.t_opt, o.group)).collect();
    let heat = Heatmap {
        title: format!("test error over (α, T); line: T_opt(α) ({})", r.id()),
        x_label: o.x.clone(),
        y_label: o.group.clone(),
        xs,
        ys,
        values,
        overlay: optima.clone(),
        metadata: provenance_meta(r, o.used.used_keys.len()),
    };
    figures.push(Figure {
        name: "phase-diagram".into(),
        caption: format!(
            "(α, T) phase diagram of the test error; grey: diverged or not converged; line: T_opt ({})",
            r.id()
        ),
        svg: heat.to_svg(),
    });
    let mut plot = Plot::new("T_opt against α", "alpha", "T_opt", Scale::Log2, Scale::Log2);
    plot.series.push(Series::new("T_opt (refined minimum)", optima.iter().map(|&(t, a)| (a, t)).collect()));
    let amax = o.alpha_max;
    let fitted: Vec<(f64, f64)> = optima.iter().filter(|(_, a)| *a <= amax).map(|&(t, a)| (a, t)).collect();
    if let (Some(k), true) = (k, fitted.len() >= 2) {
        let n = fitted.len() as f64;
        let (mx, my) =
            (fitted.iter().map(|p| p.0.ln()).sum::<f64>() / n, fitted.iter().map(|p| p.1.ln()).sum::<f64>() / n);
        let (lo, hi) = fitted.iter().fold((f64::INFINITY, 0.0f64), |(l, h), p| (l.min(p.0), h.max(p.0)));
        for (label, slope, dashed) in [
            (format!("fit k = {}", fmt(k)), k, true),
            (format!("theory k = {}", theory.map(fmt).unwrap_or_default()), theory.unwrap_or(f64::NAN), false),
        ] {
            if slope.is_finite() {
                let line = |a: f64| (my + slope * (a.ln() - mx)).exp();
                let mut s = Series::new(&label, vec![(lo, line(lo)), (hi, line(hi))]);
                s.line = true;
                s.dashed = dashed;
                plot.series.push(s);
            }
        }
    }
    plot.metadata = provenance_meta(r, o.used.used_keys.len());
    figures.push(Figure {
        name: "t-opt".into(),
        caption: format!("T_opt against α with the fitted and predicted slopes ({})", r.id()),
        svg: plot.to_svg(),
    });
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = format!("# {}\n\n## Claims\n\n", self.title);
        md.push_str("| claim | quantity | paper / theory | measured [interval] | runs | verdict | provenance |\n|---|---|---|---|---|---|---|\n");
        for c in &self.claims {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | `{}` |\n",
                c.claim.replace('|', "\\|"),
                c.quantity,
                c.expected.replace('|', "\\|"),
                c.measured,
                c.runs,
                c.verdict_text(),
                c.id
            ));
        }
        md.push_str("\nIntervals: bootstrap over seeds (runs sharing a seed share data, initialisation and batches). Audit any row with `sgdnoise why <provenance>`.\n\n## Figures\n\n");
        for fig in &self.figures {
            md.push_str(&format!("![{}]({})\n\n*{}*\n\n", escape(&fig.caption), fig.name, fig.caption));
        }
        md
    }

    pub fn html(&self) -> String {
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        h.push_str(&format!("<title>{}</title>", escape(&self.title)));
        h.push_str("<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;width:100%;font-size:14px}th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f3f3f3}td.agrees{background:#e3f4e1}td.disagrees{background:#f9e0e0}td.inconclusive{background:#fff4d6}code{font-size:12px}figure{margin:2em 0}figcaption{font-size:13px;color:#555}</style>");
        h.push_str("</head><body>\n");
        h.push_str(&format!("<h1>{}</h1>\n<h2>Claims</h2>\n<table><thead><tr><th>claim</th><th>quantity</th><th>paper / theory</th><th>measured [interval]</th><th>runs</th><th>verdict</th><th>provenance</th></tr></thead><tbody>\n", escape(&self.title)));
        for c in &self.claims {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td><code>{}</code></td></tr>\n",
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
        h.push_str("</tbody></table>\n<p>Intervals: bootstrap over seeds (runs sharing a seed share data, initialisation and batches). Audit any row with <code>sgdnoise why &lt;provenance&gt;</code>.</p>\n<h2>Figures</h2>\n");
        for fig in &self.figures {
            h.push_str(&format!(
                "<figure id=\"{}\">{}<figcaption>{}</figcaption></figure>\n",
                escape(&fig.name),
                strip_xml_decl(&fig.svg),
                escape(&fig.caption)
            ));
        }
        h.push_str("</body></html>\n");
        h
    }
}

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
    fn a_fit_becomes_claims_and_a_figure() {
        let out = json!({
            "y": "rel_dw", "law": "T^delta * P^gamma", "variables": ["T", "P"],
            "fit": { "exponents": {
                "delta": { "value": 1.01, "ci_low": 0.97, "ci_high": 1.05, "stderr": 0.02 },
                "gamma": { "value": 0.3, "ci_low": 0.35, "ci_high": 0.45, "stderr": 0.02 } },
                "log_prefactor": { "value": -1.0, "ci_low": null, "ci_high": null, "stderr": null },
                "r2": 0.99, "n": 12, "clusters": 4, "residuals": [], "bootstrap": 100, "confidence": 0.9 },
            "claim": { "claim": "perceptron χ = 1", "theory": { "delta": 1.0, "gamma": 0.5 } },
            "runs_used": 12, "runs_excluded": { "status diverged": 2 },
            "points": [ { "x": [0.25, 256.0], "y": 0.1, "seed": 0 }, { "x": [0.5, 256.0], "y": 0.2, "seed": 0 } ],
            "local": [],
            "used_keys": ["k1", "k2"],
        });
        let bytes = serde_json::to_vec_pretty(&out).unwrap();
        let fit = crate::stages::outputs::round_trip(&bytes).expect("a complete fit.json round-trips");
        let r = build("t", &[Result { key: "abcdef0123456789ffff".into(), analysis: Analysis::Fit(fit) }]);
        assert_eq!(r.claims.len(), 2);
        assert_eq!(r.claims[0].verdict, Verdict::Agrees);
        assert_eq!(r.claims[1].verdict, Verdict::Disagrees);
        assert_eq!(r.claims[0].measured, "1.010 [0.970, 1.050]");
        assert_eq!(r.claims[0].runs, "12 (4 seeds) used, 2 excluded (2 status diverged); R² 0.990");
        assert_eq!(r.claims[0].id, "fit:abcdef0123456789");
        assert_eq!(r.figures.len(), 1);
        assert!(r.figures[0].svg.contains("fit:abcdef0123456789"));
        let html = r.html();
        assert!(html.contains("<td class=\"agrees\">agrees</td>"));
        assert!(html.contains("<svg"));
        let md = r.markdown();
        assert!(md.contains("| perceptron χ = 1 | delta | 1 | 1.010 [0.970, 1.050] |"), "{md}");
    }
}
