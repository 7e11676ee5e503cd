//! The verdict rule, written once. A measured quantity (an exponent, or the crossover's a) is
//! compared with what is expected of it:
//!
//! 1. Nothing expected: **measured**.
//! 2. **Inconclusive** when there is no value or no bootstrap interval; when fewer than
//!    [`MIN_SEEDS`] seeds were used; when the analysis itself says it cannot speak (no window of
//!    agreeing local slopes, no single power law, censored crossings); or when the uncertainty
//!    interval U (below) has a half-width over [`TOO_WIDE`] × the scale.
//! 3. U is the bootstrap interval widened to hold the *systematic* range: the values the same
//!    quantity takes over the admissible fit windows (fits) or over the panel's estimators (the
//!    crossover). The scale is |expected|, at least [`MIN_SCALE`] (the study's exponents run from
//!    1/4 to 3).
//! 4. **Agrees** when the expected value (or, when it is measured too, its interval) meets U, or
//!    when the value is within [`TOLERANCE`] × the scale of it: a bootstrap interval can shrink to
//!    ±0.0005 on exactly scale-invariant dynamics, and a shift of a few per mille is then not a
//!    disagreement with a law.
//! 5. **Disagrees** otherwise.

use super::claims::{Verdict, MIN_SEEDS};

/// Agreement within this fraction of the scale, whatever the interval.
pub const TOLERANCE: f64 = 0.05;
/// U wider than this fraction of the scale (half-width) cannot test the claim.
pub const TOO_WIDE: f64 = 0.5;
/// The smallest scale: for expected values of 0 (a mechanism test) or near it.
pub const MIN_SCALE: f64 = 0.25;

/// What a claim expects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expected {
    None,
    Value(f64),
    /// A measured value with its interval (the crossover's γ/δ).
    Measured(f64, f64, f64),
}

/// The evidence for one quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub value: Option<f64>,
    pub interval: Option<(f64, f64)>,
    /// The range of the value over windows or estimators.
    pub systematic: Option<(f64, f64)>,
    pub expected: Expected,
    pub seeds: usize,
    /// Why the analysis cannot test the claim, in its own words.
    pub blocker: Option<String>,
}

/// The verdict and one line of interpretation.
pub fn judge(e: &Evidence) -> (Verdict, String) {
    let (centre, elo, ehi) = match e.expected {
        Expected::None => return (Verdict::Measured, "nothing predicted: measured".into()),
        Expected::Value(v) => (v, v, v),
        Expected::Measured(v, lo, hi) if v.is_finite() => (v, lo.min(v), hi.max(v)),
        Expected::Measured(..) => return (Verdict::Inconclusive, "the expected value was not measured".into()),
    };
    let (Some(v), Some((lo, hi))) = (e.value, e.interval.filter(|(l, h)| l.is_finite() && h.is_finite())) else {
        return (Verdict::Inconclusive, "no value or no bootstrap interval".into());
    };
    if (e.seeds as u64) < MIN_SEEDS {
        return (Verdict::Inconclusive, format!("{} seeds: fewer than {MIN_SEEDS}", e.seeds));
    }
    if let Some(b) = &e.blocker {
        return (Verdict::Inconclusive, b.clone());
    }
    let (slo, shi) = e.systematic.unwrap_or((v, v));
    let (ulo, uhi) = (lo.min(slo).min(v), hi.max(shi).max(v));
    let scale = centre.abs().max(MIN_SCALE);
    let half = (uhi - ulo) / 2.0;
    if half > TOO_WIDE * scale {
        return (
            Verdict::Inconclusive,
            format!("too uncertain: U = [{}, {}] is wider than ±{} of the scale", f3(ulo), f3(uhi), TOO_WIDE),
        );
    }
    let widened = e.systematic.is_some_and(|(a, b)| a < lo || b > hi);
    let source = if widened { "the interval with the systematic range" } else { "the interval" };
    if ulo <= ehi && elo <= uhi {
        (Verdict::Agrees, format!("the expected value lies in {source}"))
    } else if (v - centre).abs() <= TOLERANCE * scale {
        (Verdict::Agrees, format!("within {}% of the expected value (outside {source})", TOLERANCE * 100.0))
    } else {
        let off = (v - centre) / scale;
        (
            Verdict::Disagrees,
            format!(
                "off by {} ({:+.0}% of the scale) beyond {source} [{}, {}]",
                f3(v - centre),
                off * 100.0,
                f3(ulo),
                f3(uhi)
            ),
        )
    }
}

fn f3(v: f64) -> String {
    format!("{v:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(value: f64, lo: f64, hi: f64, expected: f64) -> Evidence {
        Evidence {
            value: Some(value),
            interval: Some((lo, hi)),
            systematic: None,
            expected: Expected::Value(expected),
            seeds: 5,
            blocker: None,
        }
    }

    #[test]
    fn the_rule_gives_the_documented_verdicts() {
        assert_eq!(judge(&ev(0.98, 0.95, 1.02, 1.0)).0, Verdict::Agrees);
        // A tiny interval a few per mille off: within the tolerance.
        assert_eq!(judge(&ev(1.008, 1.004, 1.016, 1.0)).0, Verdict::Agrees);
        assert_eq!(judge(&ev(0.7, 0.68, 0.72, 1.0)).0, Verdict::Disagrees);
        assert_eq!(judge(&ev(0.8, 0.78, 0.82, 1.0)).0, Verdict::Disagrees);
        // The systematic range over windows reaches the expected value.
        let with_windows = Evidence { systematic: Some((0.7, 1.02)), ..ev(0.8, 0.78, 0.82, 1.0) };
        assert_eq!(judge(&with_windows).0, Verdict::Agrees);
        // Too wide to tell: half-width 0.6 of a scale 1.
        assert_eq!(judge(&ev(1.1, 0.3, 1.5, 1.0)).0, Verdict::Inconclusive);
        assert_eq!(judge(&Evidence { seeds: 2, ..ev(1.0, 0.99, 1.01, 1.0) }).0, Verdict::Inconclusive);
        let blocked = Evidence { blocker: Some("no single power law".into()), ..ev(1.0, 0.99, 1.01, 1.0) };
        assert_eq!(judge(&blocked), (Verdict::Inconclusive, "no single power law".into()));
        assert_eq!(judge(&Evidence { expected: Expected::None, ..ev(1.0, 0.9, 1.1, 0.0) }).0, Verdict::Measured);
        assert_eq!(judge(&Evidence { interval: None, ..ev(1.0, 0.9, 1.1, 1.0) }).0, Verdict::Inconclusive);
    }

    #[test]
    fn measured_expectations_agree_when_the_intervals_meet() {
        let a = |v, lo, hi, e: Expected| judge(&Evidence { expected: e, ..ev(v, lo, hi, 0.0) }).0;
        assert_eq!(a(0.45, 0.40, 0.50, Expected::Measured(0.55, 0.49, 0.60)), Verdict::Agrees);
        assert_eq!(a(0.30, 0.27, 0.33, Expected::Measured(0.55, 0.50, 0.60)), Verdict::Disagrees);
        assert_eq!(a(0.30, 0.27, 0.33, Expected::Measured(f64::NAN, 0.0, 0.0)), Verdict::Inconclusive);
        // Expected 0 (a mechanism test): the scale is MIN_SCALE.
        assert_eq!(a(0.001, -0.02, 0.02, Expected::Value(0.0)), Verdict::Agrees);
        assert_eq!(a(0.1, 0.08, 0.12, Expected::Value(0.0)), Verdict::Disagrees);
    }
}
