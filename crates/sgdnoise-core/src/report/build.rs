//! Building a report: for each analysis result, its claim rows and figures, in the order given.

use std::collections::BTreeMap;

use super::charts::{eq, fit_figures, log_grid, pivot_law};
use super::claims::*;
use super::crossover::crossover_figures;
use super::figure::{plain, Heatmap, Overlay, Plot, Scale, Series, NEUTRAL};
use super::notation::{notation, sig3, value};
use super::verdict::{judge, Evidence, Expected};
use crate::analysis::panel::{Panel, PanelEstimate};
use crate::analysis::table::OrdF64;
use crate::analysis::window::Trend;
use crate::outputs::{Analysis, CrossoverOutput, FitOutput, OptimumOutput, RunPoint, Source};
use crate::run::Status;

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

pub(super) fn fit_claims(r: &Result, o: &FitOutput, claims: &mut Vec<ClaimRow>, figures: &mut Vec<Figure>) -> String {
    let (law, y) = (o.law.as_str(), o.y.as_str());
    let claim = o.claim.claim.clone().unwrap_or_else(|| format!("{y} ~ {law}"));
    let seeds = o.fit.clusters;
    let runs = runs_text(o.runs_used, &o.runs_excluded, seeds);
    let window = window_text(o);
    let excluded: usize = o.runs_excluded.values().sum();
    let source = o.claim.source().map(|s| s.text().to_owned());
    // A window problem along a variable blocks that variable's exponent; two regimes block all.
    let two = o.profiles.iter().find_map(|p| {
        let c = p.window.as_ref()?;
        Some((p, c.chosen.as_ref()?, c.other.as_ref()?))
    });
    for (name, e) in &o.fit.exponents {
        let expected = o.claim.theory_of(name);
        let (value, lo, hi) = (f(e.value), f(e.ci_low), f(e.ci_high));
        let profile = o.profiles.iter().find(|p| &p.exponent == name);
        let blocker = if let Some((p, w, other)) = two {
            let in_other = o.other_window.as_ref().and_then(|m| m.get(name)).copied().map(fmt).unwrap_or_default();
            Some(format!(
                "no single power law along {}: windows {}–{} and {}–{} ({name} = {in_other} there)",
                p.variable,
                value_text(w.low),
                value_text(w.high),
                value_text(other.low),
                value_text(other.high)
            ))
        } else {
            profile.and_then(|p| p.window.as_ref()).filter(|c| c.chosen.is_none()).map(|c| match c.trend {
                Some(Trend::Rising) => format!("pre-asymptotic: the local {name} still rises along {}", c.variable),
                Some(Trend::Falling) => format!("pre-asymptotic: the local {name} still falls along {}", c.variable),
                None => format!("no window of agreeing local exponents along {}", c.variable),
            })
        };
        let (verdict, interpretation) = judge(&Evidence {
            value,
            interval: lo.zip(hi),
            systematic: o.systematic.get(name).copied(),
            expected: expected.map_or(Expected::None, Expected::Value),
            seeds,
            blocker,
        });
        let spread =
            o.systematic.get(name).map(|(a, b)| format!("; over the admissible windows {}–{}", fmt(*a), fmt(*b)));
        claims.push(ClaimRow {
            claim: claim.clone(),
            quantity: name.clone(),
            value,
            lo,
            hi,
            expected: match (expected, o.claim.paper.as_deref()) {
                (Some(v), _) => fmt(v),
                (None, Some(p)) => p.to_owned(),
                _ => "—".into(),
            },
            expected_value: expected,
            expected_source: expected.and(source.clone()).unwrap_or_else(|| "measured".into()),
            window: window.clone(),
            measured: measured(value, lo, hi) + &spread.unwrap_or_default(),
            runs: format!("{runs}; R² {}", f(o.fit.r2).map(fmt).unwrap_or_default()),
            runs_used: o.runs_used,
            runs_excluded: excluded,
            verdict,
            interpretation,
            id: r.id(),
            ..Default::default()
        });
    }
    fit_figures(r, o, &claim, figures);
    claim
}

/// The panel's overall value: the median of the estimators' values, the union of their
/// intervals, and how many gave a value.
pub(super) fn panel_summary(panel: &Panel) -> (Option<f64>, Option<f64>, Option<f64>, usize) {
    let values: Vec<&PanelEstimate> = panel.estimates.iter().filter(|e| e.a.and_then(f).is_some()).collect();
    let mut v: Vec<f64> = values.iter().filter_map(|e| e.a).collect();
    v.sort_by(f64::total_cmp);
    let median = (!v.is_empty()).then(|| (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0);
    let lo = values.iter().filter_map(|e| f(e.ci.0)).reduce(f64::min);
    let hi = values.iter().filter_map(|e| f(e.ci.1)).reduce(f64::max);
    (median, lo, hi, values.len())
}

/// The overall row's evidence: the summary, with the estimators' spread as the systematic part;
/// fewer than 2 estimators with a value cannot speak for a panel.
pub(super) fn panel_evidence(panel: &Panel, expected: Expected, seeds: usize) -> Evidence {
    let (value, lo, hi, used) = panel_summary(panel);
    Evidence {
        value,
        interval: lo.zip(hi),
        systematic: panel.spread(),
        expected,
        seeds,
        blocker: (used < 2).then(|| "fewer than 2 estimators gave a value".to_owned()),
    }
}

/// The fit's window along each variable, e.g. `T 2^-9–2^1 (rule); P all`.
fn window_text(o: &FitOutput) -> String {
    let parts: Vec<String> = o
        .profiles
        .iter()
        .map(|p| match &p.window {
            None if o.claim.range.is_some() => format!("{} as given", p.variable),
            None => format!("{} all", p.variable),
            Some(c) => match (&c.chosen, &c.other) {
                (Some(w), None) => format!("{} {}–{} (rule)", p.variable, value_text(w.low), value_text(w.high)),
                (Some(w), Some(o)) => format!(
                    "{} {}–{} or {}–{} (two regimes)",
                    p.variable,
                    value_text(w.low),
                    value_text(w.high),
                    value_text(o.low),
                    value_text(o.high)
                ),
                (None, _) => format!("{} all (no window)", p.variable),
            },
        })
        .collect();
    parts.join("; ")
}

fn value_text(v: f64) -> String {
    plain(&value(v))
}

pub(super) fn crossover_claims(
    r: &Result,
    o: &CrossoverOutput,
    claims: &mut Vec<ClaimRow>,
    figures: &mut Vec<Figure>,
) -> String {
    let panel = &o.panel;
    let claim = o.used.claim.claim.clone().unwrap_or_else(|| "T_c ~ P^−a with a = γ/δ".into());
    let ratio = o.gamma_over_delta.and_then(f);
    let (rlo, rhi) = (f(o.gamma_over_delta_ci.0), f(o.gamma_over_delta_ci.1));
    let expected = match (ratio, rlo, rhi) {
        (Some(v), Some(lo), Some(hi)) => Expected::Measured(v, lo, hi),
        (Some(v), _, _) => Expected::Measured(v, v, v),
        _ => Expected::Measured(f64::NAN, f64::NAN, f64::NAN),
    };
    let window = match &o.weights_window {
        Some(w) => format!(
            "γ/δ fitted in {} {}–{} (the rule's window nearest T_c)",
            o.x,
            value_text(w.low),
            value_text(w.high)
        ),
        None => format!("γ/δ fitted over all {}", o.x),
    };
    let runs = runs_text(o.used.runs_used, &o.used.runs_excluded, o.seeds);
    let excluded: usize = o.used.runs_excluded.values().sum();
    let base = ClaimRow {
        claim: claim.clone(),
        quantity: "a".into(),
        expected: format!("γ/δ = {}", measured(ratio, rlo, rhi)),
        expected_value: ratio,
        expected_source: Source::Abstract.text().into(),
        runs: format!("{runs}; {} cells with fewer than 3 seeds left out", panel.cells_dropped),
        runs_used: o.used.runs_used,
        runs_excluded: excluded,
        id: r.id(),
        ..Default::default()
    };
    // One row per estimator, then the overall row over the panel.
    for e in &panel.estimates {
        let a = e.a.and_then(f);
        let (lo, hi) = (f(e.ci.0), f(e.ci.1));
        let crossings = if e.t_c.is_empty() {
            "every counted cell".to_owned()
        } else {
            let found = e.t_c.iter().filter(|t| t.t_c.is_some() && !t.censored).count();
            format!("T_c for {found} of {} {}, {} censored", e.t_c.len(), o.group, e.censored)
        };
        let blocker = if !e.t_c.is_empty() && e.t_c.iter().filter(|t| t.t_c.is_some() && !t.censored).count() < 2 {
            Some("fewer than 2 uncensored crossings".to_owned())
        } else if a.is_some() && 2 * e.draws < panel.resamples {
            Some(format!("a value in only {} of {} bootstrap resamples", e.draws, panel.resamples))
        } else {
            None
        };
        let (verdict, interpretation) =
            judge(&Evidence { value: a, interval: lo.zip(hi), systematic: None, expected, seeds: o.seeds, blocker });
        claims.push(ClaimRow {
            estimator: e.estimator.clone(),
            value: a,
            lo,
            hi,
            window: format!("{crossings}; {window}"),
            measured: measured(a, lo, hi) + &e.note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default(),
            verdict,
            interpretation,
            ..base.clone()
        });
    }
    let overall = {
        let (median, lo, hi, used) = panel_summary(panel);
        let (verdict, interpretation) = judge(&panel_evidence(panel, expected, o.seeds));
        let spread =
            panel.spread().map(|(a, b)| format!("; estimators span {}–{}", fmt(a), fmt(b))).unwrap_or_default();
        ClaimRow {
            value: median,
            lo,
            hi,
            window: format!("{used} of {} estimators; {window}", panel.estimates.len()),
            measured: format!("{}{spread}", measured(median, lo, hi)),
            verdict,
            interpretation: format!("panel (median, union of intervals): {interpretation}"),
            ..base.clone()
        }
    };
    claims.push(overall);
    let (mlo, mhi) = (f(panel.mechanism_ci.0), f(panel.mechanism_ci.1));
    let mech = panel.mechanism.and_then(f);
    let (verdict, interpretation) = judge(&Evidence {
        value: mech,
        interval: mlo.zip(mhi),
        systematic: None,
        expected: Expected::Value(0.0),
        seeds: o.seeds,
        blocker: None,
    });
    claims.push(ClaimRow {
        quantity: format!("slope of ln {} at T_c against ln {}", o.weights, o.group),
        value: mech,
        lo: mlo,
        hi: mhi,
        expected: "0".into(),
        expected_value: Some(0.0),
        expected_source: Source::Derived.text().into(),
        window: "threshold-10% T_c".into(),
        measured: measured(mech, mlo, mhi),
        verdict,
        interpretation: format!("mechanism test (the weights at T_c do not depend on P): {interpretation}"),
        ..base.clone()
    });
    crossover_figures(r, o, &claim, figures);
    claim
}

pub(super) fn optimum_claims(
    r: &Result,
    o: &OptimumOutput,
    claims: &mut Vec<ClaimRow>,
    figures: &mut Vec<Figure>,
) -> String {
    let opt = &o.optimum;
    let claim =
        o.used.claim.claim.clone().unwrap_or_else(|| "T_opt ~ α^k in the feature regime, k = (D−1)/(D+1)".into());
    let theory = o.theory_k.and_then(f);
    let (lo, hi) = (f(opt.k_ci.0), f(opt.k_ci.1));
    let k = opt.k.and_then(f);
    let depth = o.depth.map_or_else(|| "null".to_owned(), |d| d.to_string());
    let (verdict, interpretation) = judge(&Evidence {
        value: k,
        interval: lo.zip(hi),
        systematic: None,
        expected: theory.map_or(Expected::None, Expected::Value),
        seeds: o.seeds,
        blocker: None,
    });
    claims.push(ClaimRow {
        claim: claim.clone(),
        quantity: "k".into(),
        value: k,
        lo,
        hi,
        expected: theory.map(|t| format!("{} (D = {depth})", fmt(t))).unwrap_or("—".into()),
        expected_value: theory,
        expected_source: if theory.is_some() { Source::Abstract.text().into() } else { "measured".into() },
        window: format!("{} ≤ {}", o.group, fmt(o.alpha_max)),
        measured: measured(k, lo, hi),
        runs: format!(
            "{}; {} values of α ≤ {} fitted ({} with the minimum at the largest stable T)",
            runs_text(o.used.runs_used, &o.used.runs_excluded, o.seeds),
            opt.fitted_groups,
            fmt(o.alpha_max),
            opt.stability_edges
        ),
        runs_used: o.used.runs_used,
        runs_excluded: o.used.runs_excluded.values().sum(),
        verdict,
        interpretation,
        id: r.id(),
        ..Default::default()
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
