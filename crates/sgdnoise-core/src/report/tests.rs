//! The report's claims, notation and pages on small outputs with known answers.

use super::build::build;
use super::claims::*;
use super::notation::*;
use crate::outputs::Analysis;
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
fn laws_read_in_the_papers_notation() {
    assert_eq!(law_text("T^delta * P^gamma"), "T^δ P^γ");
    assert_eq!(law_text("alpha^k"), "α^k");
    assert_eq!(law_text("T^c * P^b"), "T^c P^b");
    assert_eq!(sig3(0.000249), "2.49·10^−4", "tooltips are plain text");
}

#[test]
fn a_fit_becomes_claims_and_a_figure() {
    let out = json!({
        "y": "rel_dw", "law": "T^delta * P^gamma", "variables": ["T", "P"],
        "fit": { "exponents": {
            "delta": { "value": 1.01, "ci_low": 0.97, "ci_high": 1.05, "stderr": 0.02 },
            "gamma": { "value": 0.3, "ci_low": 0.35, "ci_high": 0.45, "stderr": 0.02 } },
            "log_prefactor": { "value": -1.0, "ci_low": null, "ci_high": null, "stderr": null },
            "r2": 0.99, "n": 12, "clusters": 4, "residuals": [], "bootstrap": 100, "confidence": 0.9, "resamples": 100, "seed": 0 },
        "claim": { "claim": "perceptron χ = 1", "theory": { "delta": 1.0, "gamma": 0.5 } },
        "runs_used": 12, "runs_excluded": { "status diverged": 2 },
        "points": [ { "x": [0.25, 256.0], "y": 0.1, "seed": 0, "key": "k1" }, { "x": [0.5, 256.0], "y": 0.2, "seed": 0, "key": "k2" } ],
        "local": [],
        "used_keys": ["k1", "k2"],
    });
    let bytes = serde_json::to_vec_pretty(&out).unwrap();
    let fit = crate::outputs::round_trip(&bytes).expect("a complete fit.json round-trips");
    let r = build("t", &[Result { key: "abcdef0123456789ffff".into(), analysis: Analysis::Fit(fit) }]);
    assert_eq!(r.claims.len(), 2);
    assert_eq!(r.claims[0].verdict, Verdict::Agrees);
    assert_eq!(r.claims[1].verdict, Verdict::Disagrees);
    assert_eq!(r.claims[0].measured, "1.010 [0.970, 1.050]");
    assert_eq!(r.claims[0].runs, "12 (4 seeds) used, 2 excluded (2 status diverged); R² 0.990");
    assert_eq!(r.claims[0].id, "fit:abcdef0123456789");
    assert_eq!(r.figures.len(), 2, "the law and its collapse");
    assert!(r.figures[0].svg.contains("fit:abcdef0123456789"));
    let html = r.html();
    assert!(html.contains("<td class=\"agrees\">agrees</td>"));
    assert!(html.contains("<svg"));
    let md = r.markdown();
    assert!(md.contains("| perceptron χ = 1 | delta | 1 | 1.010 [0.970, 1.050] |"), "{md}");
}
