//! The two building blocks of the crossover panel ([`super::panel`]): where one curve leaves its
//! small-T plateau by a given fraction (`crossover_temperature`), and the exponent a that best
//! superposes the curves err(T, P)/plateau(P) drawn against ln T + a·ln P (`collapse_exponent`).

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

/// The a in (−1, 2) that best collapses the curves (grid search, then a finer grid); `None` when
/// the coarse grid's best is an end of the range.
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
    // An optimum on the edge of the searched range is no estimate: the cost falls beyond it.
    let coarse = best(-1.0, 2.0, 0.02).filter(|a| *a > -1.0 + 1e-9 && *a < 2.0 - 1e-9)?;
    best(coarse - 0.02, coarse + 0.02, 0.001)
}

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
            // The previous deviation signed along this one's direction: a noisy point on the
            // other side of the plateau interpolates from below zero, not from its magnitude.
            let sign = (points[i].1 - plateau).signum();
            let (t0, e0) = (points[i - 1].0.ln(), sign * (points[i - 1].1 - plateau));
            let t1 = points[i].0.ln();
            let frac = if dev > e0 { ((tol - e0) / (dev - e0)).clamp(0.0, 1.0) } else { 1.0 };
            return (Some(plateau), Some((t0 + frac * (t1 - t0)).exp()));
        }
    }
    (Some(plateau), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_curves_have_no_crossover() {
        let pts: Vec<(f64, f64, usize)> = (0..8).map(|k| (2f64.powi(-k), 0.1, 1)).rev().collect();
        let (plateau, tc) = crossover_temperature(&pts, 3, 0.1);
        assert!((plateau.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(tc, None);
    }
}
