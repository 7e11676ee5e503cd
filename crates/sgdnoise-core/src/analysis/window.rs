//! Where along one variable a power law holds. Real data often follow a law over part of a
//! variable's range only (δ measured between successive temperatures can climb from 0.2 at low T
//! to 1 at high T: two regimes), and a fit over the whole range averages the regimes. So the
//! window is chosen by a fixed rule from *local exponents*: the law refitted on each pair of
//! successive values v_k < v_{k+1} of the variable, the other exponents fitted jointly, giving
//! s_k with a standard error SE_k from a bootstrap over seeds.
//!
//! The window rule (lengths are counted in local exponents):
//!
//! 1. **Unreliable values.** Every value at which a run diverged or hit a step or wall limit is
//!    dropped together with its immediate neighbours in the grid (a bad value that is not in the
//!    grid drops the grid values just below and just above it). A local exponent is usable only if
//!    both its ends survive and its fit was not singular.
//! 2. **Candidate windows.** A candidate is a run of at least `min_slopes` (default 3: a factor of
//!    8 on a ×2 grid) contiguous usable local exponents s_a … s_b that all agree with their mean m:
//!    |s_k − m| ≤ max(τ, 2·SE_k), with τ = `tolerance` (default 0.1). m is the inverse-variance
//!    weighted mean when every SE_k of the run is finite and positive, else the unweighted mean;
//!    a local exponent whose SE_k is not finite and positive is held to τ alone. The window spans
//!    [v_a, v_{b+1}].
//! 3. **Maximal windows.** A candidate not contained in a longer candidate. Agreement is not
//!    monotone in extension, so every run is tested.
//! 4. **Choice.** Asked for the high-end regime: the maximal window with the highest upper end;
//!    for the low-end regime: the one with the lowest lower end. Asked for no regime: the longest
//!    maximal window, ties going to the one at the higher end; then if another maximal window,
//!    disjoint from it (no local exponent in common; a shared end value is allowed), has at least
//!    ⌈2/3 × its length⌉ local exponents, the verdict is "no single power law" and both are
//!    reported (the other being the longest such, ties again to the higher end).
//! 5. **No window.** Without any candidate the verdict is "no window", with the trend of the
//!    usable local exponents when all their successive differences have one sign (rising:
//!    pre-asymptotic, the local slope still rising).

use std::cmp::Reverse;

use serde::{Deserialize, Serialize};

use super::powerlaw::{bootstrap, least_squares, Law, Point};

/// How far local exponents may stray from their window's mean, and how many make a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowRule {
    /// τ: a local exponent agrees with the mean when within max(τ, 2·SE).
    pub tolerance: f64,
    /// The fewest local exponents in a window.
    pub min_slopes: usize,
}

impl WindowRule {
    /// The default τ.
    pub const TOLERANCE: f64 = 0.1;
    /// The default length: 3 local exponents, a factor of 8 on a ×2 grid.
    pub const MIN_SLOPES: usize = 3;
}

impl Default for WindowRule {
    fn default() -> Self {
        WindowRule { tolerance: Self::TOLERANCE, min_slopes: Self::MIN_SLOPES }
    }
}

/// Which end of the range holds the asymptotic regime, when the claim names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum End {
    High,
    Low,
}

/// The exponent of `variable` fitted on the points at `from` and `to` only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalExponent {
    pub variable: String,
    pub exponent: String,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub from: f64,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub to: f64,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub value: f64,
    /// Standard deviation of the bootstrap draws; NaN with fewer than 2 draws.
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub stderr: f64,
    /// Points in the pair.
    pub n: usize,
}

/// A range [low, high] of the variable and the mean of its local exponents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub variable: String,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub low: f64,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub high: f64,
    /// Local exponents in the window.
    pub slopes: usize,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub mean: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowVerdict {
    /// One window: the law holds there.
    Single,
    /// Two disjoint windows of similar length: two regimes.
    NoSinglePowerLaw,
    /// No run of local exponents agrees.
    NoWindow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Rising,
    Falling,
}

/// The outcome of the window rule (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowChoice {
    pub variable: String,
    pub verdict: WindowVerdict,
    pub chosen: Option<Window>,
    /// The disjoint window of similar length behind [`WindowVerdict::NoSinglePowerLaw`].
    pub other: Option<Window>,
    /// Every candidate window, maximal or not, longest first then lowest first, at most
    /// [`MAX_ADMISSIBLE`]: refitting the law over each gives the exponent's spread over windows.
    pub admissible: Vec<Window>,
    /// Grid values dropped for bad runs, ascending.
    pub dropped: Vec<f64>,
    /// With [`WindowVerdict::NoWindow`] only: whether the usable local exponents all rise or all fall.
    pub trend: Option<Trend>,
}

/// The most candidate windows [`WindowChoice::admissible`] keeps (a grid of 64 values has ~2000).
pub const MAX_ADMISSIBLE: usize = 512;

/// Equal up to a relative 1e-9 (grid values are read back from configuration and JSON).
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// The distinct values of variable `i`, ascending.
pub fn values_of(points: &[Point], i: usize) -> Vec<f64> {
    let mut v: Vec<f64> = points.iter().map(|p| p.x[i]).collect();
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| same(*a, *b));
    v
}

/// The points with `w.low ≤ x[i] ≤ w.high` (ends included up to a relative 1e-9).
pub fn restrict(points: &[Point], i: usize, w: &Window) -> Vec<Point> {
    points.iter().filter(|p| w.holds(p.x[i])).cloned().collect()
}

impl Window {
    /// Whether `low ≤ x ≤ high` (ends included up to a relative 1e-9).
    pub fn holds(&self, x: f64) -> bool {
        x >= self.low - 1e-9 * self.low.abs() && x <= self.high + 1e-9 * self.high.abs()
    }
}

fn sample_sd(d: &[f64]) -> f64 {
    if d.len() < 2 {
        return f64::NAN;
    }
    let m = d.iter().sum::<f64>() / d.len() as f64;
    (d.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (d.len() - 1) as f64).sqrt()
}

/// The local exponents of variable `i` of `law`: for each pair of successive distinct values,
/// the whole law refitted by least squares on the points at those two values, with a cluster
/// bootstrap of `resamples` draws (seeded by `seed`, the same for every pair) for the standard
/// error. Another variable that takes a single value within a pair has its column dropped there
/// (it cannot be fitted, and would make the design singular); a pair whose design is still
/// singular is skipped. Points whose y is not positive and finite are left out.
pub fn local_exponents(law: &Law, points: &[Point], i: usize, resamples: usize, seed: u64) -> Vec<LocalExponent> {
    let points: Vec<Point> = points.iter().filter(|p| p.y > 0.0 && p.y.is_finite()).cloned().collect();
    let (variable, exponent) = &law.terms[i];
    values_of(&points, i)
        .windows(2)
        .filter_map(|pair| {
            let (from, to) = (pair[0], pair[1]);
            let inside: Vec<&Point> = points.iter().filter(|p| same(p.x[i], from) || same(p.x[i], to)).collect();
            let varies = |j: usize| inside.iter().any(|p| !same(p.x[j], inside[0].x[j]));
            let keep: Vec<usize> = (0..law.terms.len()).filter(|&j| j == i || varies(j)).collect();
            let reduced: Vec<Point> = inside
                .iter()
                .map(|p| Point { x: keep.iter().map(|&j| p.x[j]).collect(), y: p.y, cluster: p.cluster })
                .collect();
            let col = 1 + keep.iter().position(|&j| j == i)?;
            let beta = least_squares(&reduced)?;
            let (_, draws) = bootstrap(&reduced, resamples, seed);
            let d: Vec<f64> = draws.iter().map(|b| b[col]).collect();
            Some(LocalExponent {
                variable: variable.clone(),
                exponent: exponent.clone(),
                from,
                to,
                value: beta[col],
                stderr: sample_sd(&d),
                n: reduced.len(),
            })
        })
        .collect()
}

/// The run's mean when every local exponent agrees with it (rule step 2), else `None`.
fn agreeing_mean(run: &[&LocalExponent], tolerance: f64) -> Option<f64> {
    let has_se = |s: &LocalExponent| s.stderr.is_finite() && s.stderr > 0.0;
    let weighted = run.iter().all(|s| has_se(s));
    let weight = |s: &LocalExponent| if weighted { s.stderr.powi(-2) } else { 1.0 };
    let total: f64 = run.iter().map(|s| weight(s)).sum();
    let mean = run.iter().map(|s| weight(s) * s.value).sum::<f64>() / total;
    let allowed = |s: &LocalExponent| if has_se(s) { tolerance.max(2.0 * s.stderr) } else { tolerance };
    run.iter().all(|s| (s.value - mean).abs() <= allowed(s)).then_some(mean)
}

/// Applies the window rule of the module documentation. `values` are the variable's distinct
/// values, ascending; `slopes` its local exponents, matched to successive pairs of `values` by
/// their ends; `bad` the values at which a run diverged or hit a step or wall limit; `regime` the
/// end that holds the asymptotic regime, if the claim names one.
pub fn choose_window(
    slopes: &[LocalExponent],
    values: &[f64],
    bad: &[f64],
    rule: &WindowRule,
    regime: Option<End>,
) -> WindowChoice {
    let variable = slopes.first().map(|s| s.variable.clone()).unwrap_or_default();
    let n = values.len();
    let mut alive = vec![true; n];
    for &b in bad {
        match values.iter().position(|&v| same(v, b)) {
            Some(j) => alive[j.saturating_sub(1)..(j + 2).min(n)].fill(false),
            None => {
                let above = values.partition_point(|&v| v < b);
                alive[above.saturating_sub(1)..(above + 1).min(n)].fill(false);
            }
        }
    }
    let dropped: Vec<f64> = values.iter().zip(&alive).filter(|(_, a)| !**a).map(|(v, _)| *v).collect();
    // usable[k]: the local exponent between values[k] and values[k + 1].
    let usable: Vec<Option<&LocalExponent>> = (0..n.saturating_sub(1))
        .map(|k| {
            let fits = |s: &&LocalExponent| same(s.from, values[k]) && same(s.to, values[k + 1]) && s.value.is_finite();
            slopes.iter().find(fits).filter(|_| alive[k] && alive[k + 1])
        })
        .collect();

    // Candidates as (first local exponent, last local exponent, mean).
    let mut candidates: Vec<(usize, usize, f64)> = Vec::new();
    for a in 0..usable.len() {
        for b in a..usable.len() {
            let Some(run) = usable[a..=b].iter().copied().collect::<Option<Vec<_>>>() else { break };
            if run.len() >= rule.min_slopes.max(1) {
                candidates.extend(agreeing_mean(&run, rule.tolerance).map(|m| (a, b, m)));
            }
        }
    }
    let len = |c: &(usize, usize, f64)| c.1 - c.0 + 1;
    let maximal: Vec<(usize, usize, f64)> = candidates
        .iter()
        .filter(|c| !candidates.iter().any(|d| d.0 <= c.0 && c.1 <= d.1 && len(d) > len(c)))
        .copied()
        .collect();
    let chosen = match regime {
        Some(End::High) => maximal.iter().max_by_key(|c| (c.1, len(c))),
        Some(End::Low) => maximal.iter().max_by_key(|c| (Reverse(c.0), len(c))),
        None => maximal.iter().max_by_key(|c| (len(c), c.1)),
    };
    let other = chosen.filter(|_| regime.is_none()).and_then(|c| {
        // ⌈2/3 · L⌉ ≤ l  ⟺  3l ≥ 2L for whole l.
        maximal.iter().filter(|d| (d.1 < c.0 || d.0 > c.1) && 3 * len(d) >= 2 * len(c)).max_by_key(|d| (len(d), d.1))
    });
    let window = |c: &(usize, usize, f64)| Window {
        variable: variable.clone(),
        low: values[c.0],
        high: values[c.1 + 1],
        slopes: len(c),
        mean: c.2,
    };
    let mut admissible = candidates;
    admissible.sort_by_key(|c| (Reverse(len(c)), c.0));
    admissible.truncate(MAX_ADMISSIBLE);
    let trend = if chosen.is_some() {
        None
    } else {
        let s: Vec<f64> = usable.iter().flatten().map(|s| s.value).collect();
        let d: Vec<f64> = s.windows(2).map(|w| w[1] - w[0]).collect();
        if !d.is_empty() && d.iter().all(|&x| x > 0.0) {
            Some(Trend::Rising)
        } else if !d.is_empty() && d.iter().all(|&x| x < 0.0) {
            Some(Trend::Falling)
        } else {
            None
        }
    };
    WindowChoice {
        verdict: match (chosen, other) {
            (None, _) => WindowVerdict::NoWindow,
            (Some(_), Some(_)) => WindowVerdict::NoSinglePowerLaw,
            (Some(_), None) => WindowVerdict::Single,
        },
        chosen: chosen.map(window),
        other: other.map(window),
        admissible: admissible.iter().map(window).collect(),
        dropped,
        trend,
        variable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Rng, Stream};

    /// y = 0.5 · T^δ · P^−0.4 · exp(noise) at T = 2^−16 … 2^0, with δ between the k-th and
    /// (k+1)-th temperature given by `delta(k)` (continuous in T); 5 seeds, each with its own
    /// offset and per-point noise, both of standard deviation `noise`.
    fn synthetic(delta: impl Fn(usize) -> f64, noise: f64, ps: &[f64]) -> Vec<Point> {
        let temps: Vec<f64> = (-16..=0).map(|j| 2f64.powi(j)).collect();
        let mut pts = Vec::new();
        for seed in 0..5 {
            let mut rng = Rng::stream(seed, Stream::TrainData);
            let offset = noise * rng.normal();
            let mut log_t = 0.0;
            for (j, &t) in temps.iter().enumerate() {
                if j > 0 {
                    log_t += delta(j - 1) * (t / temps[j - 1]).ln();
                }
                for &p in ps {
                    let y = (0.5f64.ln() + log_t - 0.4 * p.ln() + offset + noise * rng.normal()).exp();
                    pts.push(Point { x: vec![t, p], y, cluster: seed as i64 });
                }
            }
        }
        pts
    }

    const PS: [f64; 3] = [1024.0, 2048.0, 4096.0];

    fn choose(pts: &[Point], bad: &[f64], regime: Option<End>) -> (Vec<LocalExponent>, WindowChoice) {
        let law = Law::parse("T^delta * P^gamma").unwrap();
        let slopes = local_exponents(&law, pts, 0, 200, 7);
        let choice = choose_window(&slopes, &values_of(pts, 0), bad, &WindowRule::default(), regime);
        (slopes, choice)
    }

    fn t(j: i32) -> f64 {
        2f64.powi(j)
    }

    #[test]
    fn two_regimes_joined_at_a_bend() {
        // Bend at 2^−9: the 7 local exponents below it are 0.3, the 9 above it 1; none straddles.
        let pts = synthetic(|k| if k < 7 { 0.3 } else { 1.0 }, 0.01, &PS);
        let (_, none) = choose(&pts, &[], None);
        let c = none.chosen.as_ref().unwrap();
        assert_eq!((c.low, c.high, c.slopes), (t(-9), t(0), 9));
        assert!((c.mean - 1.0).abs() < 0.02, "{c:?}");
        // 7 ≥ ⌈2/3 · 9⌉ = 6: the low branch is of similar length.
        assert_eq!(none.verdict, WindowVerdict::NoSinglePowerLaw);
        let o = none.other.as_ref().unwrap();
        assert_eq!((o.low, o.high, o.slopes), (t(-16), t(-9), 7));
        assert!((o.mean - 0.3).abs() < 0.02, "{o:?}");
        // Runs of 3 or more: 15 among the low 7, 28 among the high 9, none across the bend.
        assert_eq!(none.admissible.len(), 15 + 28);

        let (_, high) = choose(&pts, &[], Some(End::High));
        assert_eq!(high.verdict, WindowVerdict::Single);
        assert_eq!(high.chosen, none.chosen);
        let (_, low) = choose(&pts, &[], Some(End::Low));
        assert_eq!(low.verdict, WindowVerdict::Single);
        assert_eq!(low.chosen, none.other);
    }

    #[test]
    fn one_law_keeps_the_whole_range() {
        let pts = synthetic(|_| 1.0, 0.06, &PS);
        let (slopes, choice) = choose(&pts, &[], None);
        let mut se: Vec<f64> = slopes.iter().map(|s| s.stderr).collect();
        se.sort_by(f64::total_cmp);
        assert!((0.01..0.06).contains(&se[se.len() / 2]), "median SE {}", se[se.len() / 2]);
        assert_eq!(choice.verdict, WindowVerdict::Single);
        let c = choice.chosen.unwrap();
        assert_eq!((c.low, c.high, c.slopes), (t(-16), t(0), 16));
        assert!(choice.other.is_none() && choice.dropped.is_empty() && choice.trend.is_none());
    }

    #[test]
    fn divergences_drop_their_neighbours() {
        let pts = synthetic(|_| 1.0, 0.06, &PS);
        let (_, choice) = choose(&pts, &[t(0), t(-1)], None);
        assert_eq!(choice.dropped, vec![t(-2), t(-1), t(0)]);
        let c = choice.chosen.unwrap();
        assert_eq!((c.low, c.high, c.slopes), (t(-16), t(-3), 13));
        // A bad value off the grid drops the grid values on either side of it.
        let (_, off) = choose(&pts, &[0.3], None);
        assert_eq!(off.dropped, vec![t(-2), t(-1)]);
    }

    #[test]
    fn a_steadily_rising_slope_has_no_window() {
        let pts = synthetic(|k| 0.15 * k as f64, 0.01, &PS);
        let (_, choice) = choose(&pts, &[], None);
        assert_eq!(choice.verdict, WindowVerdict::NoWindow);
        assert_eq!(choice.trend, Some(Trend::Rising));
        assert!(choice.chosen.is_none() && choice.admissible.is_empty());
    }

    #[test]
    fn local_exponents_are_exact_without_noise() {
        let law = Law::parse("T^delta * P^gamma").unwrap();
        // A single P makes the full design singular; its column is dropped pair by pair.
        for ps in [&PS[..], &PS[..1]] {
            let pts = synthetic(|k| if k < 7 { 0.3 } else { 1.0 }, 0.0, ps);
            let slopes = local_exponents(&law, &pts, 0, 50, 1);
            assert_eq!(slopes.len(), 16);
            for (k, s) in slopes.iter().enumerate() {
                let truth = if k < 7 { 0.3 } else { 1.0 };
                assert!((s.value - truth).abs() < 1e-9, "{s:?}");
                assert!(s.stderr.is_nan() || s.stderr < 1e-9, "{s:?}");
                assert_eq!((s.from, s.to, s.n), (t(k as i32 - 16), t(k as i32 - 15), 10 * ps.len()));
                assert_eq!((s.variable.as_str(), s.exponent.as_str()), ("T", "delta"));
            }
        }
        // The P exponent is fitted pooled over T.
        let pts = synthetic(|_| 1.0, 0.0, &PS);
        let gamma = local_exponents(&law, &pts, 1, 10, 1);
        assert_eq!(gamma.len(), 2);
        assert!(gamma.iter().all(|s| (s.value + 0.4).abs() < 1e-9), "{gamma:?}");
    }

    #[test]
    fn restrict_keeps_the_window_ends() {
        let pts = synthetic(|_| 1.0, 0.0, &PS);
        let w = Window { variable: "T".into(), low: t(-9) * (1.0 + 1e-12), high: t(-3), slopes: 6, mean: 1.0 };
        let kept = restrict(&pts, 0, &w);
        assert_eq!(kept.len(), 7 * 15);
        assert!(kept.iter().all(|p| t(-9) <= p.x[0] && p.x[0] <= t(-3)));
    }

    /// The local exponent between 2^k and 2^(k+1).
    fn slope(k: i32, value: f64, stderr: f64) -> LocalExponent {
        LocalExponent { variable: "T".into(), exponent: "delta".into(), from: t(k), to: t(k + 1), value, stderr, n: 10 }
    }

    #[test]
    fn the_rule_on_given_local_exponents() {
        let values: Vec<f64> = (0..=10).map(t).collect();
        let rule = WindowRule::default();
        // 0.25 from the rest is beyond τ but within 2·SE = 0.3.
        let wide: Vec<_> =
            (0..10).map(|k| slope(k, if k == 3 { 1.25 } else { 1.0 }, if k == 3 { 0.15 } else { 0.01 })).collect();
        let c = choose_window(&wide, &values, &[], &rule, None);
        assert_eq!(c.chosen.map(|w| (w.low, w.high, w.slopes)), Some((t(0), t(10), 10)));
        // A missing (singular) local exponent splits the range: 5 and 4 ≥ ⌈2/3 · 5⌉ local exponents.
        let gap: Vec<_> = wide.iter().filter(|s| s.from != t(5)).cloned().collect();
        let c = choose_window(&gap, &values, &[], &rule, None);
        assert_eq!(c.verdict, WindowVerdict::NoSinglePowerLaw);
        assert_eq!(c.chosen.map(|w| (w.low, w.high)), Some((t(0), t(5))));
        assert_eq!(c.other.map(|w| (w.low, w.high)), Some((t(6), t(10))));
        let falling: Vec<_> = (0..10).map(|k| slope(k, 2.0 - 0.2 * k as f64, 0.01)).collect();
        let c = choose_window(&falling, &values, &[], &rule, None);
        assert_eq!((c.verdict, c.trend), (WindowVerdict::NoWindow, Some(Trend::Falling)));
    }

    #[test]
    fn a_choice_round_trips_through_json_with_nan() {
        let s = slope(0, 1.0, f64::NAN);
        let choice = choose_window(std::slice::from_ref(&s), &[t(0), t(1)], &[], &WindowRule::default(), None);
        let text = serde_json::to_string(&choice).unwrap();
        assert!(text.contains(r#""verdict":"no_window""#), "{text}");
        assert_eq!(serde_json::from_str::<WindowChoice>(&text).unwrap(), choice);
        let back: LocalExponent = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert!(back.stderr.is_nan() && back.value == 1.0);
    }
}
