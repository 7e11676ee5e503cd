//! A finished figure as PNG (with the embedded font: the same bytes on every machine), and the
//! check that no label covers data or another label.

use resvg::usvg;

use super::canvas::PLOT_AREA;
use super::measure::{options, TextBox};

/// A figure that does not parse, render or lay out: what is wrong, in words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FigureError(pub String);

/// The report's PNGs are 1.5× the SVG's size: sharp on a slide, small in a repository.
pub const PNG_SCALE: f32 = 1.5;

/// Renders a figure to PNG at `scale` × its size, with the embedded font: the same bytes on every
/// machine and every run.
pub fn png(svg: &str, scale: f32) -> Result<Vec<u8>, FigureError> {
    let tree = usvg::Tree::from_str(svg, options()).map_err(|e| FigureError(format!("figure does not parse: {e}")))?;
    let size = tree.size().to_int_size().scale_by(scale).ok_or(FigureError("figure has no size".into()))?;
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(size.width(), size.height()).ok_or(FigureError("figure too large".into()))?;
    resvg::render(&tree, resvg::tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| FigureError(format!("PNG encoding failed: {e}")))
}

/// Every text element of a figure with its box, as DejaVu Sans lays it out (transforms applied),
/// and its id (empty when it has none). Groups are walked recursively.
pub fn text_boxes(svg: &str) -> Result<Vec<(String, TextBox)>, FigureError> {
    let tree = usvg::Tree::from_str(svg, options()).map_err(|e| FigureError(format!("figure does not parse: {e}")))?;
    pub(super) fn walk(g: &usvg::Group, out: &mut Vec<(String, TextBox)>) {
        for node in g.children() {
            match node {
                usvg::Node::Group(g) => walk(g, out),
                usvg::Node::Text(t) => {
                    let b = t.abs_bounding_box();
                    let (x0, y0) = (b.x() as f64, b.y() as f64);
                    out.push((
                        t.id().to_owned(),
                        TextBox { x0, y0, x1: x0 + b.width() as f64, y1: y0 + b.height() as f64 },
                    ));
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(tree.root(), &mut out);
    Ok(out)
}

/// The layout check the tests run on every figure: the document is well-formed XML, every text
/// lies on the page, no two texts overlap, no text but the "no data" notice enters the plotting
/// area, and every hoverable point lies inside it. Returns what is wrong, if anything.
pub fn check_layout(svg: &str) -> Result<(), FigureError> {
    let doc = usvg::roxmltree::Document::parse(svg).map_err(|e| FigureError(format!("not XML: {e}")))?;
    let root = doc.root_element();
    let attr = |n: usvg::roxmltree::Node, a: &str| -> Result<f64, FigureError> {
        n.attribute(a)
            .and_then(|v| v.parse().ok())
            .ok_or(FigureError(format!("<{}> without a numeric {a}", n.tag_name().name())))
    };
    let (w, h) = (attr(root, "width")?, attr(root, "height")?);
    let area = doc
        .descendants()
        .find(|n| n.attribute("id") == Some(PLOT_AREA))
        .ok_or(FigureError("no plotting area".into()))?;
    let (ax, ay) = (attr(area, "x")?, attr(area, "y")?);
    let plot = TextBox { x0: ax, y0: ay, x1: ax + attr(area, "width")?, y1: ay + attr(area, "height")? };
    let boxes = text_boxes(svg)?;
    // Half a pixel of slack: anti-aliasing, not layout.
    let inner = |b: &TextBox| TextBox { x0: b.x0 + 0.5, y0: b.y0 + 0.5, x1: b.x1 - 0.5, y1: b.y1 - 0.5 };
    for (i, (id, b)) in boxes.iter().enumerate() {
        if b.x0 < -0.5 || b.y0 < -0.5 || b.x1 > w + 0.5 || b.y1 > h + 0.5 {
            return Err(FigureError(format!("text {i} ({id}) leaves the page: {b:?}")));
        }
        if id != "no-data" && inner(b).overlaps(&plot, 0.0) {
            return Err(FigureError(format!("text {i} ({id}) covers the plotting area: {b:?}")));
        }
        for (j, (_, o)) in boxes.iter().enumerate().skip(i + 1) {
            if inner(b).overlaps(&inner(o), 0.0) {
                return Err(FigureError(format!("texts {i} and {j} overlap: {b:?} {o:?}")));
            }
        }
    }
    for p in doc.descendants().filter(|n| n.attribute("class") == Some("point")) {
        let (x, y) = (attr(p, "cx")?, attr(p, "cy")?);
        if x < plot.x0 - 0.01 || x > plot.x1 + 0.01 || y < plot.y0 - 0.01 || y > plot.y1 + 0.01 {
            return Err(FigureError(format!("point ({x}, {y}) outside the plotting area")));
        }
        if !p.children().any(|c| c.has_tag_name("title") && !c.text().unwrap_or("").is_empty()) {
            return Err(FigureError(format!("point ({x}, {y}) without its hover text")));
        }
    }
    Ok(())
}
