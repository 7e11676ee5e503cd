//! The page a figure is drawn on: its size, margins, font and palettes, and the SVG primitives
//! (rectangles, lines, markers, polylines, bands, the frame) every figure is made of.

use super::measure::{measure, TextBox, FONT};
use super::text::{escape, num, plain, rich};

pub(super) const WIDTH: f64 = 760.0;
pub(super) const HEIGHT: f64 = 440.0;
pub(super) const LEFT: f64 = 84.0;
pub(super) const BOTTOM: f64 = HEIGHT - 58.0;
/// Top of the plotting area when nothing is stacked above it.
pub(super) const TOP: f64 = 44.0;
/// The id of the plotting area's frame: no text may enter it (but the "no data" notice).
pub const PLOT_AREA: &str = "plot-area";
/// Okabe-Ito, reordered so the low-contrast yellow comes last: safe for the common colour-vision
/// deficiencies. Index 6 (black) is used for what belongs to no group.
pub(super) const PALETTE: [&str; 8] =
    ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];
/// The palette index for entries that belong to no group (a pooled fit, T_opt).
pub const NEUTRAL: usize = 6;
/// The document being written and the boxes of the text already placed.
pub(super) struct Canvas {
    pub(super) out: String,
    pub(super) boxes: Vec<TextBox>,
}

impl Canvas {
    pub(super) fn new(title: &str, metadata: &[(String, String)], height: f64) -> Canvas {
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{h}\" \
             viewBox=\"0 0 {WIDTH} {h}\" font-family=\"{FONT}\" font-size=\"12\">\n<title>{}</title>\n",
            escape(&plain(title)),
            h = num(height),
        );
        if !metadata.is_empty() {
            out += "<metadata>\n";
            for (k, v) in metadata {
                out += &format!("<entry key=\"{}\">{}</entry>\n", escape(k), escape(v));
            }
            out += "</metadata>\n";
        }
        out += &rect(0.0, 0.0, WIDTH, height, "fill=\"white\"");
        let mut canvas = Canvas { out, boxes: Vec::new() };
        // A title too wide for the page is set smaller rather than cut.
        let w = measure(title, 15.0).0;
        let size = if w > WIDTH - 20.0 { 15.0 * (WIDTH - 20.0) / w } else { 15.0 };
        canvas.text(WIDTH / 2.0, 22.0, "middle", size, title, "");
        canvas
    }

    /// Text at (x, baseline y); returns its box.
    pub(super) fn text(&mut self, x: f64, y: f64, anchor: &str, size: f64, markup: &str, extra: &str) -> TextBox {
        let (w, _) = measure(markup, size);
        let x0 = match anchor {
            "middle" => x - w / 2.0,
            "end" => x - w,
            _ => x,
        };
        let b = TextBox { x0, y0: y - 0.95 * size, x1: x0 + w, y1: y + 0.3 * size };
        self.out += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" font-size=\"{}\"{extra}>{}</text>\n",
            num(x),
            num(y),
            num(size),
            rich(markup, size)
        );
        self.boxes.push(b);
        b
    }

    /// The y-axis title, rotated, centred on `mid_y` at x = 18.
    pub(super) fn vertical_text(&mut self, x: f64, mid_y: f64, size: f64, markup: &str) {
        let (w, _) = measure(markup, size);
        self.out += &format!(
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" font-size=\"{}\" transform=\"rotate(-90 {x} {})\">{}</text>\n",
            num(mid_y),
            num(size),
            num(mid_y),
            rich(markup, size)
        );
        self.boxes.push(TextBox { x0: x - 0.95 * size, y0: mid_y - w / 2.0, x1: x + 0.3 * size, y1: mid_y + w / 2.0 });
    }
}

pub(super) fn rect(x: f64, y: f64, w: f64, h: f64, attrs: &str) -> String {
    format!("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" {attrs}/>\n", num(x), num(y), num(w), num(h))
}

pub(super) fn line(x1: f64, y1: f64, x2: f64, y2: f64, attrs: &str) -> String {
    format!("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" {attrs}/>\n", num(x1), num(y1), num(x2), num(y2))
}

/// A marker, with its tooltip when it has one (SVG `<title>`: the browser shows it on hover).
pub(super) fn marker(x: f64, y: f64, r: f64, attrs: &str, hover: Option<&str>) -> String {
    match hover {
        Some(h) => format!(
            "<circle class=\"point\" cx=\"{}\" cy=\"{}\" r=\"{r}\" {attrs}><title>{}</title></circle>\n",
            num(x),
            num(y),
            escape(h)
        ),
        None => format!("<circle cx=\"{}\" cy=\"{}\" r=\"{r}\" {attrs}/>\n", num(x), num(y)),
    }
}

pub(super) fn coords(pts: &[(f64, f64)]) -> String {
    pts.iter().map(|&(x, y)| format!("{},{}", num(x), num(y))).collect::<Vec<_>>().join(" ")
}

pub(super) fn polyline(pts: &[(f64, f64)], colour: &str, width: f64, dashed: bool) -> String {
    let dash = if dashed { " stroke-dasharray=\"6 4\"" } else { "" };
    format!("<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\"{dash}/>\n", coords(pts))
}

pub(super) fn band_polygon(upper: &[(f64, f64)], lower: &[(f64, f64)], colour: &str) -> String {
    let poly: Vec<(f64, f64)> = upper.iter().copied().chain(lower.iter().rev().copied()).collect();
    format!("<polygon class=\"band\" points=\"{}\" fill=\"{colour}\" fill-opacity=\"0.18\"/>\n", coords(&poly))
}

/// The frame of the plotting area; text must stay out of it.
pub(super) fn frame(left: f64, top: f64, right: f64, bottom: f64) -> String {
    format!(
        "<rect id=\"{PLOT_AREA}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n",
        num(left),
        num(top),
        num(right - left),
        num(bottom - top)
    )
}
