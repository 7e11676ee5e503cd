//! The optimal temperature T_opt(α): for each α, the minimum of the seed-averaged test error over
//! T, refined by a parabola through the minimum and its two neighbours in log T; and the exponent
//! k of T_opt ~ α^k over the feature regime (α ≤ `alpha_max`), with a bootstrap over seeds. A
//! minimum on the edge of the grid is kept but flagged (the true optimum lies outside).

use serde::{Deserialize, Serialize};

use super::powerlaw::{least_squares, Point};
use super::table::{interval, means, seeds, Row};
use crate::rng::{Rng, Stream};

crate::named_enum! {
    /// Where an optimum lies on its curve, as the report counts it.
    pub enum OptimumEdge {
        /// A refined minimum between two grid points.
        Interior = "interior",
        /// At the largest converged T, where larger ones diverge: the true optimum may be there.
        Stability = "stability",
        /// On the edge of the grid: the true optimum lies outside it.
        Grid = "grid",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Optimum {
    pub group: f64,
    pub t_opt: f64,
    pub err_min: f64,
    pub edge: OptimumEdge,
    /// (T, mean error, runs).
    pub points: Vec<(f64, f64, usize)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OptimumFit {
    pub optima: Vec<Optimum>,
    pub k: Option<f64>,
    #[serde(deserialize_with = "crate::json_float::pair")]
    pub k_ci: (f64, f64),
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub k_stderr: f64,
    pub fitted_groups: usize,
    pub stability_edges: usize,
    pub bootstrap: usize,
}

/// Where a minimum lies on its curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Interior,
    Low,
    High,
}

/// The refined minimum of a curve sorted by T.
pub fn optimal_temperature(points: &[(f64, f64, usize)]) -> Option<(f64, f64, Edge)> {
    let (i, &(t, e, _)) = points.iter().enumerate().min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))?;
    if i == 0 {
        return Some((t, e, Edge::Low));
    }
    if i + 1 == points.len() {
        return Some((t, e, Edge::High));
    }
    let (x0, y0) = (points[i - 1].0.ln(), points[i - 1].1);
    let (x1, y1) = (t.ln(), e);
    let (x2, y2) = (points[i + 1].0.ln(), points[i + 1].1);
    // Vertex of the parabola through three points.
    let denom = (x0 - x1) * (x0 - x2) * (x1 - x2);
    let a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom;
    let b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom;
    if a.is_nan() || a <= 0.0 {
        return Some((t, e, Edge::Interior));
    }
    let xv = (-b / (2.0 * a)).clamp(x0, x2);
    Some((xv.exp(), e, Edge::Interior))
}

fn fit_k(optima: &[(f64, f64)]) -> Option<f64> {
    if optima.len() < 2 {
        return None;
    }
    let pts: Vec<Point> = optima.iter().map(|&(g, t)| Point { x: vec![g], y: t, cluster: 0 }).collect();
    least_squares(&pts).map(|b| b[1])
}

/// `rows` are the runs used for the minimum (converged); `grid_max` the largest temperature tried
/// for each group value, diverged runs included.
#[allow(clippy::too_many_arguments)]
pub fn analyse(
    rows: &[Row],
    grid_max: &dyn Fn(f64) -> f64,
    x: &str,
    y: &str,
    group: &str,
    group_max: f64,
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> OptimumFit {
    let all = seeds(rows);
    let optima_of = |s: &[i64]| -> Vec<Optimum> {
        means(rows, group, x, y, s)
            .into_iter()
            .filter_map(|(g, pts)| {
                optimal_temperature(&pts).map(|(t, e, edge)| {
                    let edge = match edge {
                        Edge::Interior => OptimumEdge::Interior,
                        Edge::High if grid_max(g.0) > t => OptimumEdge::Stability,
                        _ => OptimumEdge::Grid,
                    };
                    Optimum { group: g.0, t_opt: t, err_min: e, edge, points: pts }
                })
            })
            .collect()
    };
    let usable = |o: &[Optimum]| -> Vec<(f64, f64)> {
        o.iter().filter(|o| o.group <= group_max && o.edge != OptimumEdge::Grid).map(|o| (o.group, o.t_opt)).collect()
    };
    let optima = optima_of(&all);
    let base = usable(&optima);
    let k = fit_k(&base);
    let mut rng = Rng::stream(seed, Stream::Batches);
    let mut draws = Vec::new();
    if all.len() >= 2 {
        for _ in 0..resamples {
            let sample: Vec<i64> = (0..all.len()).map(|_| all[rng.below(all.len() as u64) as usize]).collect();
            if let Some(v) = fit_k(&usable(&optima_of(&sample))) {
                draws.push(v);
            }
        }
    }
    let mean = draws.iter().sum::<f64>() / draws.len().max(1) as f64;
    let sd = (draws.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (draws.len().max(2) - 1) as f64).sqrt();
    let bootstrap = draws.len();
    let k_ci = interval(&mut draws, confidence);
    let stability_edges = optima.iter().filter(|o| o.group <= group_max && o.edge == OptimumEdge::Stability).count();
    OptimumFit {
        optima,
        k,
        k_ci,
        k_stderr: if bootstrap > 1 { sd } else { f64::NAN },
        fitted_groups: base.len(),
        stability_edges,
        bootstrap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Plants T_opt = 0.1·α^k in parabolic error valleys and recovers k and each optimum.
    #[test]
    fn recovers_a_planted_optimum_law() {
        let k_true = 2.0 / 3.0;
        let mut rng = Rng::stream(9, Stream::TrainData);
        let mut rows = Vec::new();
        for seed in 0..5 {
            for j in -10..=0 {
                let alpha = 2f64.powi(j);
                let t_opt = 0.1 * alpha.powf(k_true);
                for i in -24..=0 {
                    let t = 2f64.powi(i);
                    let err = 0.1 + 0.01 * (t / t_opt).ln().powi(2) + 0.001 * rng.normal();
                    rows.push(
                        json!({"alpha": alpha, "T": t, "test_err": err, "seed": seed}).as_object().unwrap().clone(),
                    );
                }
            }
        }
        let f = analyse(&rows, &|_| 1.0, "T", "test_err", "alpha", 1.0, 200, 0.9, 0);
        assert_eq!(f.fitted_groups, 11);
        let k = f.k.unwrap();
        assert!((k - k_true).abs() < 0.03, "k = {k}");
        assert!(f.k_ci.0 <= k_true + 0.03 && k_true - 0.03 <= f.k_ci.1, "{:?}", f.k_ci);
        for o in &f.optima {
            let expected = 0.1 * o.group.powf(k_true);
            assert!((o.t_opt / expected).ln().abs() < 0.2, "alpha {}: {} vs {expected}", o.group, o.t_opt);
        }
    }

    #[test]
    fn an_edge_minimum_is_flagged() {
        let pts = vec![(0.1, 0.2, 1), (0.2, 0.3, 1), (0.4, 0.4, 1)];
        assert_eq!(optimal_temperature(&pts), Some((0.1, 0.2, Edge::Low)));
        let pts = vec![(0.1, 0.4, 1), (0.2, 0.3, 1), (0.4, 0.2, 1)];
        assert_eq!(optimal_temperature(&pts), Some((0.4, 0.2, Edge::High)));
    }
}
