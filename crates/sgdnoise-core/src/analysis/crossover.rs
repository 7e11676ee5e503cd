//! The crossover temperature T_c(P): where the test error leaves its small-T plateau, and the
//! exponent a of T_c ~ P^−a, with an interval from a bootstrap over seeds.
//!
//! Two estimates of a, both documented in the README:
//! - `threshold`: for each P, the plateau is the seed-averaged test error of the `plateau`
//!   smallest temperatures; T_c is the first temperature at which the error differs from the
//!   plateau by more than `threshold` × plateau (linear interpolation in log T); a is the slope
//!   of log T_c against log P.
//! - `collapse` (the default: it uses every point, not one crossing per curve): the curves
//!   err(T, P)/plateau(P) are drawn against log T + a·log P, and a is the value that makes them
//!   fall onto one curve (least squares between each curve and its neighbours, interpolated).
//!
//! Only converged runs count (a diverged run has no test error to speak of).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::powerlaw::{least_squares, Point};
use super::table::{interval, means, seeds, Row};
use crate::rng::{Rng, Stream};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Curve {
    pub group: f64,
    /// (T, mean error, runs).
    pub points: Vec<(f64, f64, usize)>,
    pub plateau: Option<f64>,
    pub t_c: Option<f64>,
    #[serde(deserialize_with = "crate::json_float::pair")]
    pub t_c_ci: (f64, f64),
}

crate::named_enum! {
    /// How a is estimated.
    pub enum Method {
        Threshold = "threshold",
        Collapse = "collapse",
    }
}

/// The collapse cost of `a`: the mean squared difference between each normalised curve and the
/// others, interpolated linearly in the shifted log-temperature, over their overlaps.
fn collapse_cost(curves: &[(f64, Vec<(f64, f64)>)], a: f64) -> Option<f64> {
    let shifted: Vec<Vec<(f64, f64)>> =
        curves.iter().map(|(g, pts)| pts.iter().map(|&(lt, e)| (lt + a * g.ln(), e)).collect()).collect();
    let (mut sum, mut n) = (0.0, 0usize);
    for (i, ci) in shifted.iter().enumerate() {
        for (j, cj) in shifted.iter().enumerate() {
            if i == j || cj.len() < 2 {
                continue;
            }
            for &(x, e) in ci {
                if let Some(w) = cj.windows(2).find(|w| w[0].0 <= x && x <= w[1].0) {
                    let f = if w[1].0 > w[0].0 { (x - w[0].0) / (w[1].0 - w[0].0) } else { 0.0 };
                    let other = w[0].1 + f * (w[1].1 - w[0].1);
                    sum += (e - other).powi(2);
                    n += 1;
                }
            }
        }
    }
    (n >= 2 * curves.len()).then(|| sum / n as f64)
}

/// The a in [−1, 2] that best collapses the curves (grid search, then a finer grid).
pub fn collapse_exponent(curves: &[(f64, Vec<(f64, f64)>)]) -> Option<f64> {
    if curves.len() < 2 {
        return None;
    }
    let best = |lo: f64, hi: f64, step: f64| -> Option<f64> {
        let n = ((hi - lo) / step).round() as usize;
        (0..=n)
            .map(|k| lo + step * k as f64)
            .filter_map(|a| collapse_cost(curves, a).map(|c| (a, c)))
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .map(|(a, _)| a)
    };
    let coarse = best(-1.0, 2.0, 0.02)?;
    best(coarse - 0.02, coarse + 0.02, 0.001)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Crossover {
    pub method: Method,
    pub curves: Vec<Curve>,
    /// a in T_c ~ P^−a.
    pub a: Option<f64>,
    #[serde(deserialize_with = "crate::json_float::pair")]
    pub a_ci: (f64, f64),
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub a_stderr: f64,
    pub groups_with_t_c: usize,
    pub bootstrap: usize,
}

/// Per group value (as bits): plateau, T_c and the averaged points.
type PerGroup = BTreeMap<u64, (Option<f64>, Option<f64>, Vec<(f64, f64, usize)>)>;

/// T_c of one curve (sorted by T), or `None` when the error never leaves the plateau.
pub fn crossover_temperature(
    points: &[(f64, f64, usize)],
    plateau_n: usize,
    threshold: f64,
) -> (Option<f64>, Option<f64>) {
    if points.len() <= plateau_n || plateau_n == 0 {
        return (None, None);
    }
    let plateau = points[..plateau_n].iter().map(|p| p.1).sum::<f64>() / plateau_n as f64;
    let tol = threshold * plateau.abs().max(1e-12);
    for i in plateau_n..points.len() {
        let dev = (points[i].1 - plateau).abs();
        if dev > tol {
            let (t0, e0) = (points[i - 1].0.ln(), (points[i - 1].1 - plateau).abs());
            let t1 = points[i].0.ln();
            let frac = if dev > e0 { ((tol - e0) / (dev - e0)).clamp(0.0, 1.0) } else { 1.0 };
            return (Some(plateau), Some((t0 + frac * (t1 - t0)).exp()));
        }
    }
    (Some(plateau), None)
}

/// a by the chosen method from per-group (plateau, T_c, points).
fn estimate(method: Method, per: &PerGroup) -> Option<f64> {
    match method {
        Method::Threshold => {
            let tcs: Vec<(f64, f64)> =
                per.iter().filter_map(|(g, (_, tc, _))| tc.map(|t| (f64::from_bits(*g), t))).collect();
            slope_of(&tcs)
        }
        Method::Collapse => {
            let curves: Vec<(f64, Vec<(f64, f64)>)> = per
                .iter()
                .filter_map(|(g, (plateau, _, pts))| {
                    let p = plateau.filter(|p| *p > 0.0)?;
                    Some((f64::from_bits(*g), pts.iter().map(|&(t, e, _)| (t.ln(), e / p)).collect()))
                })
                .collect();
            collapse_exponent(&curves)
        }
    }
}

fn slope_of(tcs: &[(f64, f64)]) -> Option<f64> {
    if tcs.len() < 2 {
        return None;
    }
    let pts: Vec<Point> = tcs.iter().map(|&(g, t)| Point { x: vec![g], y: t, cluster: 0 }).collect();
    least_squares(&pts).map(|b| -b[1])
}

/// Crossovers of `y` against `x` for each value of `group`, and the exponent of T_c against the
/// group variable.
#[allow(clippy::too_many_arguments)]
pub fn analyse(
    rows: &[Row],
    method: Method,
    x: &str,
    y: &str,
    group: &str,
    plateau_n: usize,
    threshold: f64,
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Crossover {
    let all_seeds = seeds(rows);
    let per = |seed_list: &[i64]| -> PerGroup {
        means(rows, group, x, y, seed_list)
            .into_iter()
            .map(|(g, pts)| {
                let (plateau, tc) = crossover_temperature(&pts, plateau_n, threshold);
                (g.0.to_bits(), (plateau, tc, pts))
            })
            .collect()
    };
    let base = per(&all_seeds);
    let tcs: Vec<(f64, f64)> = base.iter().filter_map(|(g, (_, tc, _))| tc.map(|t| (f64::from_bits(*g), t))).collect();
    let a = estimate(method, &base);
    let mut rng = Rng::stream(seed, Stream::Batches);
    let mut a_draws = Vec::new();
    let mut tc_draws: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    if all_seeds.len() >= 2 {
        for _ in 0..resamples {
            let sample: Vec<i64> =
                (0..all_seeds.len()).map(|_| all_seeds[rng.below(all_seeds.len() as u64) as usize]).collect();
            let b = per(&sample);
            for (g, (_, tc, _)) in &b {
                if let Some(tc) = tc {
                    tc_draws.entry(*g).or_default().push(*tc);
                }
            }
            if let Some(s) = estimate(method, &b) {
                a_draws.push(s);
            }
        }
    }
    let mean = a_draws.iter().sum::<f64>() / a_draws.len().max(1) as f64;
    let sd = (a_draws.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (a_draws.len().max(2) - 1) as f64).sqrt();
    let bootstrap = a_draws.len();
    let a_ci = interval(&mut a_draws, confidence);
    let curves = base
        .into_iter()
        .map(|(g, (plateau, t_c, points))| {
            let mut d = tc_draws.remove(&g).unwrap_or_default();
            Curve { group: f64::from_bits(g), points, plateau, t_c, t_c_ci: interval(&mut d, confidence) }
        })
        .collect();
    Crossover {
        method,
        curves,
        a,
        a_ci,
        a_stderr: if bootstrap > 1 { sd } else { f64::NAN },
        groups_with_t_c: tcs.len(),
        bootstrap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Plants T_c = c·P^−a in synthetic error curves and recovers a.
    #[test]
    fn recovers_a_planted_crossover_exponent() {
        let a_true = 0.5;
        let mut rng = Rng::stream(3, Stream::TrainData);
        let mut rows = Vec::new();
        for seed in 0..6 {
            for p in [256.0, 512.0, 1024.0, 2048.0, 4096.0] {
                let tc = 2.0 * f64::powf(p, -a_true);
                for k in -16..=0 {
                    let t = 2f64.powf(k as f64 / 2.0);
                    // Plateau 0.2 below T_c, then a smooth rise.
                    let err = 0.2 * (1.0 + (t / tc).powi(2) * 0.5) + 0.002 * rng.normal();
                    rows.push(
                        json!({"P": p, "T": t, "test_err": err, "seed": seed, "status": "converged"})
                            .as_object()
                            .unwrap()
                            .clone(),
                    );
                }
            }
        }
        let c = analyse(&rows, Method::Threshold, "T", "test_err", "P", 3, 0.1, 200, 0.9, 0);
        assert_eq!(c.groups_with_t_c, 5);
        let a = c.a.unwrap();
        assert!((a - a_true).abs() < 0.05, "a = {a}");
        assert!(c.a_ci.0 <= a && a <= c.a_ci.1, "{:?}", c.a_ci);
        let collapse = analyse(&rows, Method::Collapse, "T", "test_err", "P", 3, 0.1, 100, 0.9, 0);
        let a = collapse.a.unwrap();
        assert!((a - a_true).abs() < 0.05, "collapse a = {a}");
        assert!(collapse.a_ci.0 <= a_true + 0.05 && a_true - 0.05 <= collapse.a_ci.1, "{:?}", collapse.a_ci);
        // err(T_c) = 0.2·1.1 exactly at T = T_c·√(0.2): the criterion's own T_c.
        for curve in &c.curves {
            let expected = 2.0 * curve.group.powf(-a_true) * 0.2f64.sqrt();
            let got = curve.t_c.unwrap();
            assert!((got / expected).ln().abs() < 0.25, "P {}: {got} vs {expected}", curve.group);
        }
    }

    #[test]
    fn flat_curves_have_no_crossover() {
        let pts: Vec<(f64, f64, usize)> = (0..8).map(|k| (2f64.powi(-k), 0.1, 1)).rev().collect();
        let (plateau, tc) = crossover_temperature(&pts, 3, 0.1);
        assert!((plateau.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(tc, None);
    }
}
