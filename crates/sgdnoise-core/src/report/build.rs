//! Building a report: for each analysis result, its claim rows and figures, in the order given.

use std::collections::BTreeMap;

use super::charts::{cell_series, cells, eq, fit_figures, log_grid, pivot_law, Cell};
use super::claims::*;
use super::figure::{plain, Heatmap, Overlay, Plot, Scale, Series, VLine, NEUTRAL};
use super::notation::{notation, sig3, value};
use crate::analysis::table::OrdF64;
use crate::outputs::{Analysis, CrossoverOutput, FitOutput, OptimumOutput, RunPoint};
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

pub(super) fn crossover_claims(
    r: &Result,
    o: &CrossoverOutput,
    claims: &mut Vec<ClaimRow>,
    figures: &mut Vec<Figure>,
) -> String {
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
