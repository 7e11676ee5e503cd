//! The figures of the claims: seed means with their spread per cell, fitted laws with their
//! bootstrap bands, pivot bands, and the figures of a fit.

use super::claims::{f, figure, fmt, law_terms, provenance_meta, Figure, Result};
use super::figure::{plain, HLine, Plot, Scale, Series, NEUTRAL};
use super::notation::{law_text, notation, sig3, value};
use std::collections::BTreeMap;

use crate::analysis::powerlaw::{bootstrap, quantile, Point};
use crate::analysis::table::OrdF64;
use crate::outputs::FitOutput;

/// One (group, x) cell of runs: the mean over seeds, the spread, and the runs behind it.
pub(super) struct Cell {
    pub(super) x: f64,
    pub(super) mean: f64,
    pub(super) min: f64,
    pub(super) max: f64,
    pub(super) runs: Vec<SeedRun>,
}

/// One run under a point: (seed, instance key, y).
pub(super) type SeedRun = (i64, String, f64);

/// A law drawn as a line, with its band as (x, low, high) when there is one.
pub(super) type LawCurve = (Vec<(f64, f64)>, Option<Vec<(f64, f64, f64)>>);

/// Runs grouped by the group variable, then by x (both ascending), with mean and min–max over seeds.
pub(super) fn cells<'a>(runs: impl Iterator<Item = (f64, f64, f64, i64, &'a str)>) -> Vec<(f64, Vec<Cell>)> {
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
pub(super) fn hover(place: &str, y: &str, c: &Cell) -> String {
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
pub(super) fn eq(name: &str, v: f64) -> String {
    format!("{} = {}", notation(name), value(v))
}

/// Points, min–max bars and hovers of one group's cells, placed at `at(x)` on the x axis.
pub(super) fn cell_series(
    label: &str,
    colour: usize,
    cs: &[Cell],
    place: &dyn Fn(&Cell) -> (f64, String),
    y: &str,
) -> Series {
    let placed: Vec<(f64, String)> = cs.iter().map(place).collect();
    Series {
        y_err: Some(cs.iter().map(|c| (c.min, c.max)).collect()),
        hover: Some(cs.iter().zip(&placed).map(|(c, (_, p))| hover(p, y, c)).collect()),
        colour: Some(colour),
        ..Series::new(label, cs.iter().zip(&placed).map(|(c, (x, _))| (*x, c.mean)).collect())
    }
}

/// `n` points spaced evenly in log between lo and hi.
pub(super) fn log_grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (n - 1) as f64).exp()).collect()
}

/// The fitted law and its band at each x: `predict(draw, x)` is log y for one coefficient vector;
/// the band is the central `confidence` of the bootstrap draws.
pub(super) fn law_band(
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
pub(super) fn pivot_law(xs: &[f64], mx: f64, my: f64, k: f64, ci: Option<(f64, f64)>) -> LawCurve {
    let at = |s: f64, x: f64| (my + s * (x.ln() - mx)).exp();
    let line = xs.iter().map(|&x| (x, at(k, x))).collect();
    let band = ci.map(|(lo, hi)| {
        xs.iter()
            .map(|&x| (x, at(lo, x).min(at(hi, x)).min(at(k, x)), at(lo, x).max(at(hi, x)).max(at(k, x))))
            .collect()
    });
    (line, band)
}

pub(super) fn percent(confidence: f64) -> String {
    format!("{}%", (confidence * 100.0).round())
}

/// y against the first variable for each value of the second (seed spread, fitted law with its
/// band per group), the collapse on one variable, and the local exponents against the second.
pub(super) fn fit_figures(r: &Result, o: &FitOutput, claim: &str, figures: &mut Vec<Figure>) {
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
                    "the same runs against {} with the fitted {}/{} = {}: where the law holds, the curves for every {} superpose",
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

    // The local exponent along each variable, with its window shaded and the expected value.
    for profile in &o.profiles {
        let (var, e) = (profile.variable.as_str(), profile.exponent.as_str());
        let (nv, ne) = (notation(var), notation(e));
        let usable: Vec<&crate::analysis::window::LocalExponent> =
            profile.slopes.iter().filter(|l| f(l.value).is_some()).collect();
        if usable.is_empty() {
            continue;
        }
        let mut plot = Plot::new(
            &format!("{claim}: local {ne} between successive {nv}"),
            &nv,
            &format!("local {ne}"),
            Scale::Log2,
            Scale::Linear,
        );
        let se = |l: &crate::analysis::window::LocalExponent| f(l.stderr).unwrap_or(0.0);
        plot.series.push(Series {
            line: true,
            y_err: Some(usable.iter().map(|l| (l.value - 2.0 * se(l), l.value + 2.0 * se(l))).collect()),
            hover: Some(
                usable
                    .iter()
                    .map(|l| {
                        format!(
                            "{} fitted on {} and {} only: {} ± {} (bootstrap SE over seeds)",
                            plain(&ne),
                            plain(&eq(var, l.from)),
                            plain(&eq(var, l.to)),
                            sig3(l.value),
                            sig3(se(l))
                        )
                    })
                    .collect(),
            ),
            colour: Some(0),
            ..Series::new(
                &format!("local {ne} (bars: ±2 SE)"),
                usable.iter().map(|l| ((l.from * l.to).sqrt(), l.value)).collect(),
            )
        });
        let window = profile.window.as_ref();
        for w in window.iter().flat_map(|c| c.chosen.iter().chain(c.other.iter())) {
            plot.vbands.push((w.low, w.high));
        }
        if let Some(est) = o.fit.exponents.get(e) {
            if let Some(v) = f(est.value) {
                let band = f(est.ci_low).zip(f(est.ci_high));
                let label = format!("{ne} of the fit, {conf} interval");
                plot.hlines.push(HLine { y: v, band, label, dashed: false, colour: 1 });
            }
        }
        if let Some(t) = o.claim.theory_of(e) {
            let source = o.claim.source().map_or("", |s| s.text());
            plot.hlines.push(HLine {
                y: t,
                band: None,
                label: format!("expected {ne} = {} ({source})", fmt(t)),
                dashed: true,
                colour: 2,
            });
        }
        plot.metadata = meta.clone();
        let shaded = match window.map(|c| (c.verdict, c.chosen.as_ref(), c.other.as_ref())) {
            Some((_, Some(w), Some(other))) => format!(
                "shaded: two disjoint windows, {}–{} and {}–{} (no single power law)",
                value(w.low),
                value(w.high),
                value(other.low),
                value(other.high)
            ),
            Some((_, Some(w), None)) => {
                format!("shaded: the window the rule chose, {}–{}", value(w.low), value(w.high))
            }
            Some((_, None, _)) => "no window: no run of agreeing local exponents".into(),
            None => "window given by the pipeline's range".into(),
        };
        figures.push(figure(
            "local",
            format!(
                "{} refitted on each pair of successive {} (points at their geometric mean, bars ±2 bootstrap SE); {shaded}; solid: the fit's value with its interval; dashed: the expected value",
                plain(&ne),
                plain(&nv)
            ),
            r,
            plot.to_svg(),
        ));
    }
}
