//! The figures' layout, as a reader gets it: no text on the data, none off the page.

use resvg::usvg;

use super::axis::*;
use super::heatmap::*;
use super::legend::*;
use super::plot::*;
use super::render::*;
use super::text::*;

fn parse(svg: &str) -> usvg::roxmltree::Document<'_> {
    usvg::roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}\n{svg}"))
}

fn texts(svg: &str) -> Vec<String> {
    parse(svg)
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect::<String>())
        .collect()
}

#[test]
fn log_log_plot_has_superscript_ticks_bands_and_a_clean_layout() {
    let mut plot = Plot::new("Error <vs> T & \"P\"", "T", "test error ε", Scale::Log2, Scale::Log10);
    let pts: Vec<(f64, f64)> = (-8..=-2).map(|k| (2f64.powi(k), 0.01 * 2f64.powi(-k))).collect();
    plot.series.push(Series {
        y_err: Some(pts.iter().map(|&(_, y)| (0.8 * y, 1.2 * y)).collect()),
        hover: Some(pts.iter().map(|p| format!("T = {}", p.0)).collect()),
        ..Series::new("P = 2^{10}", pts.clone())
    });
    let band = pts.iter().map(|&(x, y)| (x, 0.9 * y, 1.1 * y)).collect();
    plot.series.push(Series::law("fit", pts, Some(band), 0));
    for (k, label) in [(-5, "T_{c}(P = 2^{8})"), (-5, "T_{c}(P = 2^{9})"), (-4, "T_{c}(P = 2^{10})")] {
        plot.vlines.push(VLine { x: 2f64.powi(k), label: label.into(), colour: Some(0) });
    }
    let svg = plot.to_svg();
    check_layout(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    let doc = parse(&svg);
    assert_eq!(doc.descendants().filter(|n| n.attribute("class") == Some("band")).count(), 1);
    let sups: Vec<&str> =
        doc.descendants().filter(|n| n.attribute("baseline-shift") == Some("super")).filter_map(|n| n.text()).collect();
    for k in -8..=-2 {
        assert!(sups.contains(&minus(k).as_str()), "missing tick 2^{k}: {sups:?}");
    }
    assert!(sups.contains(&"−1") && sups.contains(&"0"), "powers of ten: {sups:?}");
    let t = texts(&svg);
    assert!(t.contains(&"Error <vs> T & \"P\"".to_owned()), "{t:?}");
    assert!(t.iter().filter(|s| s.starts_with("Tc(P = 2")).count() == 3, "{t:?}");
    assert_eq!(doc.descendants().filter(|n| n.attribute("class") == Some("point")).count(), 7);
}

#[test]
fn overlapping_marker_labels_are_stacked() {
    let rows = stack_rows(&[(100.0, 160.0), (120.0, 180.0), (170.0, 200.0), (300.0, 340.0)]);
    assert_eq!(rows, vec![0, 1, 0, 0]);
}

#[test]
fn undrawable_points_are_skipped() {
    let mut plot = Plot::new("t", "x", "y", Scale::Log10, Scale::Log10);
    let pts = vec![(1.0, 1.0), (f64::NAN, 2.0), (3.0, f64::INFINITY), (-1.0, 5.0), (10.0, 0.0), (100.0, 100.0)];
    plot.series.push(Series {
        line: true,
        band: Some(vec![(1.0, -1.0, 2.0), (100.0, 50.0, 200.0)]),
        ..Series::new("s", pts)
    });
    plot.vlines.push(VLine { x: f64::NEG_INFINITY, label: "bad".into(), colour: None });
    let svg = plot.to_svg();
    check_layout(&svg).unwrap();
    assert_eq!(svg.matches("<circle").count(), 2 + 1, "two drawable points plus the legend marker");
    let lower = svg.to_lowercase();
    assert!(!lower.contains("nan") && !lower.contains("inf"), "{svg}");
}

#[test]
fn empty_plot_says_no_data() {
    let mut plot = Plot::new("empty", "x", "y", Scale::Log2, Scale::Linear);
    plot.series.push(Series::new("nothing", vec![(0.0, 1.0), (f64::NAN, 1.0)]));
    let svg = plot.to_svg();
    check_layout(&svg).unwrap();
    assert!(texts(&svg).contains(&"no data".to_owned()));
}

#[test]
fn heatmap_marks_missing_cells_and_labels_colour_bar() {
    let map = Heatmap {
        title: "test error".into(),
        x_label: "T".into(),
        y_label: "α".into(),
        z_label: "test error ε".into(),
        xs: (-12..=-3).map(|k| 2f64.powi(k)).collect(),
        ys: vec![0.5, 1.0],
        values: vec![
            (0..10).map(|i| (i != 3).then_some(0.125 + 0.01 * i as f64)).collect(),
            (0..10).map(|i| Some(0.5 - 0.01 * i as f64)).collect(),
        ],
        partial: vec![(0..10).map(|i| i == 4).collect()],
        hover: vec![vec!["a".into(); 10], vec!["b".into(); 10]],
        overlays: vec![
            Overlay {
                label: "T_{opt}".into(),
                points: vec![(2f64.powi(-6), 0.5), (2f64.powi(-4), 1.0)],
                hover: Some(vec!["x".into(), "y".into()]),
                markers: true,
                dashed: false,
            },
            Overlay {
                label: "fit α^{k}".into(),
                points: vec![(2f64.powi(-7), 0.5), (2f64.powi(-3), 1.0)],
                hover: None,
                markers: false,
                dashed: true,
            },
        ],
        metadata: Vec::new(),
    };
    let svg = map.to_svg();
    check_layout(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    assert_eq!(svg.matches(&format!("fill=\"{MISSING_FILL}\"")).count(), 1);
    let t = texts(&svg);
    assert!(t.contains(&"0.125".to_owned()) && t.contains(&"0.5".to_owned()), "colour bar min/max: {t:?}");
    assert!(t.contains(&"2−6".to_owned()) && t.contains(&"0.5".to_owned()), "{t:?}");
    assert!(svg.contains("stroke=\"white\""));
    assert_eq!(svg.matches("class=\"partial\"").count(), 1, "one hatched cell");
}

#[test]
fn metadata_is_escaped_and_png_is_stable() {
    let mut plot = Plot::new("m", "x", "y", Scale::Linear, Scale::Linear);
    plot.series.push(Series::new("s", vec![(0.0, 1.0), (2.5, 3.0)]));
    plot.metadata.push(("law <fit>".into(), "y = C·T^'δ' & \"more\"".into()));
    let svg = plot.to_svg();
    check_layout(&svg).unwrap();
    assert!(svg.contains("<entry key=\"law &lt;fit&gt;\">y = C·T^&apos;δ&apos; &amp; &quot;more&quot;</entry>"));
    let t = texts(&svg);
    assert!(t.contains(&"0".to_owned()) && t.contains(&"1.5".to_owned()), "1-2-5 ticks: {t:?}");
    let (a, b) = (png(&svg, 1.5).unwrap(), png(&svg, 1.5).unwrap());
    assert!(a.starts_with(b"\x89PNG") && a == b);
}

#[test]
fn a_label_on_the_data_is_caught() {
    let mut plot = Plot::new("t", "x", "y", Scale::Linear, Scale::Linear);
    plot.series.push(Series::new("s", vec![(0.0, 1.0), (2.5, 3.0)]));
    let svg = plot.to_svg().replace("</svg>", "<text x=\"300\" y=\"200\">on the data</text></svg>");
    assert!(check_layout(&svg).unwrap_err().0.contains("covers the plotting area"));
    let svg = plot.to_svg().replace("</svg>", "<text x=\"340\" y=\"24\">over the title</text></svg>");
    assert!(check_layout(&svg).is_err());
}
