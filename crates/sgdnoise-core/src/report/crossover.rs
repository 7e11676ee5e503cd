//! The figures of a crossover: the error curves with T_c, what the collapse superposes, T_c
//! against P per estimator, and the forest plot of the panel against γ/δ.

use super::charts::{cell_series, cells, eq, log_grid, pivot_law, Cell};
use super::claims::{f, figure, fmt, provenance_meta, Figure, Result};
use super::figure::{plain, HLine, Plot, Scale, Series, VLine, NEUTRAL};
use super::notation::{notation, sig3, value};
use crate::outputs::CrossoverOutput;

/// The estimator whose T_c marks the error curves.
const MARKED: &str = "threshold 10%";

pub(super) fn crossover_figures(r: &Result, o: &CrossoverOutput, claim: &str, figures: &mut Vec<Figure>) {
    let panel = &o.panel;
    let (group, x, y) = (o.group.as_str(), o.x.as_str(), o.y.as_str());
    let (ng, nx, ny) = (notation(group), notation(x), notation(y));
    let meta = provenance_meta(r, o.used.used_keys.len());
    let groups = cells(
        o.runs.iter().filter_map(|p| Some((p.group?, p.x?, p.y?, p.seed.map_or(0, |s| s as i64), p.key.as_str()))),
    );
    let colour_of = |g: f64| groups.iter().position(|(h, _)| *h == g).unwrap_or(0);
    let place = |c: &Cell, g: f64| format!("{}, {}", plain(&eq(x, c.x)), plain(&eq(group, g)));

    let mut plot =
        Plot::new(&format!("{claim}: {ny} against {nx}, one curve per {ng}"), &nx, &ny, Scale::Log2, Scale::Linear);
    for (k, (g, cs)) in groups.iter().enumerate() {
        let mut s = cell_series(&eq(group, *g), k, cs, &|c| (c.x, place(c, *g)), &ny);
        s.line = true;
        plot.series.push(s);
    }
    if let Some(marked) = panel.estimates.iter().find(|e| e.estimator == MARKED) {
        for t in marked.t_c.iter().filter(|t| !t.censored) {
            if let Some(tc) = t.t_c.and_then(f) {
                plot.vlines.push(VLine {
                    x: tc,
                    label: format!("T_{{c}}({})", value(t.group)),
                    colour: Some(colour_of(t.group)),
                });
            }
        }
    }
    plot.metadata = meta.clone();
    figures.push(figure(
        "crossover",
        format!(
            "{} against {} for each {} (points: mean over seeds, bars: min–max); dashed verticals: the uncensored T_c where the error leaves its low-T plateau by 10%",
            plain(&ny),
            plain(&nx),
            plain(&ng)
        ),
        r,
        plot.to_svg(),
    ));

    // What the collapse superposes: err/plateau against T·P^a.
    if let Some(a) = panel.estimates.iter().find(|e| e.estimator == "collapse").and_then(|e| e.a).and_then(f) {
        let u_label = format!("{nx}·{ng}^{{a}}");
        let mut plot = Plot::new(
            &format!("collapse: {ny}/plateau against {u_label}, a = {}", fmt(a)),
            &u_label,
            &format!("{ny} / plateau"),
            Scale::Log2,
            Scale::Linear,
        );
        for (k, c) in panel.curves.iter().enumerate() {
            let points: Vec<(f64, f64)> = c.points.iter().map(|&(t, e)| (t * c.group.powf(a), e)).collect();
            let hover = c
                .points
                .iter()
                .map(|&(t, e)| {
                    format!(
                        "{}, {}: {} / plateau = {}",
                        plain(&eq(x, t)),
                        plain(&eq(group, c.group)),
                        plain(&ny),
                        sig3(e)
                    )
                })
                .collect();
            plot.series.push(Series {
                line: true,
                hover: Some(hover),
                colour: Some(k),
                ..Series::new(&eq(group, c.group), points)
            });
        }
        plot.metadata = meta.clone();
        figures.push(figure(
            "collapse",
            format!(
                "{} divided by each {}'s plateau, against {} with the collapse estimator's a = {}: the curves superpose only as far as every {} falls by the same fraction",
                plain(&ny),
                plain(&ng),
                plain(&u_label),
                fmt(a),
                plain(&ng)
            ),
            r,
            plot.to_svg(),
        ));
    }

    // T_c against P for each estimator that has T_c, with the slope −γ/δ.
    let mut plot = Plot::new(&format!("T_{{c}} against {ng}, per estimator"), &ng, "T_{c}", Scale::Log2, Scale::Log2);
    let mut all: Vec<(f64, f64)> = Vec::new();
    for (k, e) in panel.estimates.iter().enumerate().filter(|(_, e)| !e.t_c.is_empty()) {
        let pts: Vec<(f64, f64)> =
            e.t_c.iter().filter(|t| !t.censored).filter_map(|t| Some((t.group, t.t_c.and_then(f)?))).collect();
        if pts.is_empty() {
            continue;
        }
        all.extend(&pts);
        plot.series.push(Series {
            line: true,
            colour: Some(k),
            hover: Some(
                pts.iter()
                    .map(|(g, t)| format!("{}: {}, T_c = {}", e.estimator, plain(&eq(group, *g)), sig3(*t)))
                    .collect(),
            ),
            ..Series::new(&format!("{}: a = {}", e.estimator, e.a.map_or("—".into(), fmt)), pts)
        });
    }
    if let (Some(ratio), false) = (o.gamma_over_delta.and_then(f), all.is_empty()) {
        let n = all.len() as f64;
        let (mx, my) = (all.iter().map(|p| p.0.ln()).sum::<f64>() / n, all.iter().map(|p| p.1.ln()).sum::<f64>() / n);
        let (lo, hi) = all.iter().fold((f64::INFINITY, 0.0f64), |(l, h), p| (l.min(p.0), h.max(p.0)));
        let ci = f(o.gamma_over_delta_ci.0).zip(f(o.gamma_over_delta_ci.1)).map(|(a, b)| (-a, -b));
        let (line, band) = pivot_law(&log_grid(lo, hi, 12), mx, my, -ratio, ci);
        plot.series.push(Series::law(
            &format!("slope −γ/δ = {}, band: its interval", fmt(-ratio)),
            line,
            band,
            NEUTRAL,
        ));
    }
    if !all.is_empty() {
        plot.metadata = meta.clone();
        figures.push(figure(
            "t-c",
            format!(
                "the uncensored T_c against {} of each estimator that has one, and a line of slope −γ/δ (the weights' fit nearest T_c) through their centre",
                plain(&ng)
            ),
            r,
            plot.to_svg(),
        ));
    }

    // The forest plot: each estimator's a with its interval, beside γ/δ's band.
    if panel.estimates.iter().all(|e| e.a.and_then(f).is_none()) {
        return;
    }
    let mut plot = Plot::new(
        "the crossover panel: a by each estimator",
        "estimator (1 … n, in the legend's order)",
        "a",
        Scale::Linear,
        Scale::Linear,
    );
    for (k, e) in panel.estimates.iter().enumerate() {
        let Some(a) = e.a.and_then(f) else { continue };
        let bar = (f(e.ci.0).unwrap_or(a), f(e.ci.1).unwrap_or(a));
        plot.series.push(Series {
            y_err: Some(vec![bar]),
            colour: Some(k),
            hover: Some(vec![format!("{}: a = {} [{}, {}]", e.estimator, sig3(a), sig3(bar.0), sig3(bar.1))]),
            ..Series::new(&format!("{} {}", k + 1, e.estimator), vec![((k + 1) as f64, a)])
        });
    }
    if let Some(ratio) = o.gamma_over_delta.and_then(f) {
        let band = f(o.gamma_over_delta_ci.0).zip(f(o.gamma_over_delta_ci.1));
        plot.hlines.push(HLine {
            y: ratio,
            band,
            label: format!("γ/δ = {} with its interval", fmt(ratio)),
            dashed: true,
            colour: NEUTRAL,
        });
    }
    plot.metadata = meta;
    figures.push(figure(
        "forest",
        "a by each estimator of the panel with its bootstrap interval over seeds (bars), against γ/δ from the weights' fit nearest T_c (dashed, band: its interval)".into(),
        r,
        plot.to_svg(),
    ));
}
