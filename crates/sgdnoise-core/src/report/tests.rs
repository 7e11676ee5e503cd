//! The report's claims, notation and pages on small outputs with known answers.

use super::build::build;
use super::claims::*;
use super::notation::*;
use crate::outputs::Analysis;
use serde_json::json;

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
        "claim": { "claim": "perceptron χ = 1", "theory": { "delta": 1.0, "gamma": 0.5, "source": "theory" } },
        "runs_used": 12, "runs_excluded": { "status diverged": 2 },
        "points": [ { "x": [0.25, 256.0], "y": 0.1, "seed": 0, "key": "k1" }, { "x": [0.5, 256.0], "y": 0.2, "seed": 0, "key": "k2" } ],
        "profiles": [],
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
    assert!(
        html.contains("<td class=\"agrees\"><b>agrees</b>: the expected value lies in the interval</td>"),
        "{html}"
    );
    assert!(html.contains("<svg"));
    let md = r.markdown();
    assert!(
        md.contains("| perceptron χ = 1 | delta | 1 (published theory (PNAS 2024)) | 1.010 [0.970, 1.050] |"),
        "{md}"
    );
    assert_eq!(r.claims[1].expected_source, "published theory (PNAS 2024)");
    let csv = claims_csv(&r.claims);
    assert!(csv.starts_with("claim,quantity,value,lo,hi,expected,expected_source,window,estimator,verdict,"), "{csv}");
    assert!(csv.contains("perceptron χ = 1,gamma,0.3,0.35,0.45,0.5,published theory (PNAS 2024),"), "{csv}");
}

#[test]
fn verdict_changes_are_matched_on_claim_quantity_and_estimator() {
    let old = "claim,quantity,value,estimator,verdict\n\"a, \"\"b\"\"\",delta,1,,agrees\nc,a,0.5,collapse,agrees\n";
    let new = "claim,quantity,value,estimator,verdict\n\"a, \"\"b\"\"\",delta,1,,disagrees\nc,a,0.5,collapse,agrees\nc,a,0.4,sigmoid,agrees\n";
    let changes = verdict_changes(old, new);
    assert_eq!(
        changes,
        vec![
            ["a, \"b\"", "delta", "", "agrees", "disagrees"].map(String::from),
            ["c", "a", "sigmoid", "absent", "agrees"].map(String::from)
        ]
    );
    assert!(verdict_changes(new, new).is_empty());
    assert_eq!(verdict_tally(new), "2 agree, 1 disagree");
    assert_eq!(verdict_tally(old), "2 agree");
    let mixed = "claim,verdict\na,measured\nb,disagrees\nc,agrees\nd,disagrees\ne,inconclusive\n";
    assert_eq!(verdict_tally(mixed), "1 agree, 2 disagree, 1 inconclusive, 1 measured");
}

#[test]
fn the_panel_rule_gives_the_documented_verdicts() {
    use super::build::panel_evidence;
    use super::verdict::{judge, Expected};
    use crate::analysis::panel::{Panel, PanelEstimate};
    let estimate = |name: &str, a: f64, half: f64| PanelEstimate {
        estimator: name.into(),
        a: Some(a),
        ci: (a - half, a + half),
        stderr: half / 2.0,
        draws: 100,
        t_c: Vec::new(),
        censored: 0,
        note: None,
    };
    let panel = |estimates: Vec<PanelEstimate>| Panel {
        estimates,
        mechanism: None,
        mechanism_ci: (f64::NAN, f64::NAN),
        median_t_c: None,
        cells_dropped: 0,
        curves: Vec::new(),
        resamples: 100,
    };
    let spread = panel(vec![
        estimate("collapse", 0.45, 0.03),
        estimate("threshold 5%", 0.55, 0.04),
        estimate("sigmoid", 0.62, 0.03),
    ]);
    // γ/δ inside the estimators' spread though outside each of the two outer intervals: agrees.
    assert_eq!(judge(&panel_evidence(&spread, Expected::Measured(0.5, 0.49, 0.51), 5)).0, Verdict::Agrees);
    assert_eq!(judge(&panel_evidence(&spread, Expected::Measured(1.0, 0.95, 1.05), 5)).0, Verdict::Disagrees);
    let one = panel(vec![estimate("collapse", 0.5, 0.01), PanelEstimate { a: None, ..estimate("sigmoid", 0.0, 0.0) }]);
    assert_eq!(judge(&panel_evidence(&one, Expected::Measured(0.5, 0.49, 0.51), 5)).0, Verdict::Inconclusive);
    let wide = panel(vec![estimate("collapse", -0.7, 0.05), estimate("threshold 5%", 0.55, 0.05)]);
    assert_eq!(judge(&panel_evidence(&wide, Expected::Measured(0.5, 0.49, 0.51), 5)).0, Verdict::Inconclusive);
}
