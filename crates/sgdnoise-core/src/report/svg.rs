//! Dependency-light SVG figures for the report: scatter plots with seed spread, fitted laws with
//! bootstrap bands, marker lines, on linear or log axes, and heatmaps over a (T, α) grid; plus
//! their PNG twins and the check that no label covers data or another label.
//!
//! Three ideas to know:
//! - Every value goes through `Scale::apply` first, which returns `None` for anything not
//!   drawable (non-finite, or non-positive on a log axis), so bad data is dropped point by point
//!   and no NaN ever reaches the SVG.
//! - Text never sits on the plotting area: tick labels, axis titles, the legend (right) and the
//!   labels of marker lines (stacked in rows above the frame) are all placed outside it, with
//!   widths measured by laying the text out with the embedded DejaVu Sans, the font the PNGs use.
//!   [`text_boxes`] measures the finished figure the same way, and the tests check the boxes.
//! - Labels take a small markup, `^{…}` for a superscript and `_{…}` for a subscript
//!   (`T·P^{γ/δ}`, `2^{−5}`), written as `<tspan>`s.

use std::sync::{Arc, OnceLock};

use resvg::usvg;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 84.0;
const BOTTOM: f64 = HEIGHT - 58.0;
/// Top of the plotting area when nothing is stacked above it.
const TOP: f64 = 44.0;
const FONT: &str = "DejaVu Sans, Verdana, sans-serif";
/// The id of the plotting area's frame: no text may enter it (but the "no data" notice).
pub const PLOT_AREA: &str = "plot-area";
/// Okabe-Ito, reordered so the low-contrast yellow comes last: safe for the common colour-vision
/// deficiencies. Index 6 (black) is used for what belongs to no group.
const PALETTE: [&str; 8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];
/// The palette index for entries that belong to no group (a pooled fit, T_opt).
pub const NEUTRAL: usize = 6;
/// Viridis sampled at five stops (perceptually uniform and colour-blind safe).
const VIRIDIS: [(u8, u8, u8); 5] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)];
pub const MISSING_FILL: &str = "#d9d9d9";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log2,
    Log10,
}

impl Scale {
    /// The value in axis space (log of it on log axes), or `None` when it cannot be drawn.
    pub fn apply(self, v: f64) -> Option<f64> {
        let t = match self {
            Scale::Linear => v,
            _ if v <= 0.0 => return None,
            Scale::Log2 => v.log2(),
            Scale::Log10 => v.log10(),
        };
        t.is_finite().then_some(t)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Legend text (markup allowed); empty keeps the series out of the legend.
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Absolute (low, high) ends of each point's bar (the seed spread), not offsets from y.
    pub y_err: Option<Vec<(f64, f64)>>,
    /// A tooltip per point (instance keys and values), shown on hover.
    pub hover: Option<Vec<String>>,
    pub line: bool,
    pub dashed: bool,
    /// No markers (a fitted law drawn through its own points).
    pub no_markers: bool,
    /// (x, y_low, y_high), drawn as a shaded polygon under the series.
    pub band: Option<Vec<(f64, f64, f64)>>,
    /// Palette index; by default the series' position.
    pub colour: Option<usize>,
}

impl Series {
    /// Markers only; set the other fields for lines, error bars or bands.
    pub fn new(label: &str, points: Vec<(f64, f64)>) -> Series {
        Series { label: label.into(), points, ..Default::default() }
    }

    /// A dashed line without markers, with an optional band: a fitted law.
    pub fn law(label: &str, points: Vec<(f64, f64)>, band: Option<Vec<(f64, f64, f64)>>, colour: usize) -> Series {
        Series {
            label: label.into(),
            points,
            line: true,
            dashed: true,
            no_markers: true,
            band,
            colour: Some(colour),
            ..Default::default()
        }
    }
}

/// A vertical marker line (T_c), labelled above the frame in its own colour.
#[derive(Debug, Clone)]
pub struct VLine {
    pub x: f64,
    pub label: String,
    pub colour: Option<usize>,
}

/// A horizontal reference line across the plot (a theory value), with an optional band.
#[derive(Debug, Clone)]
pub struct HLine {
    pub y: f64,
    pub band: Option<(f64, f64)>,
    pub label: String,
    pub dashed: bool,
    pub colour: usize,
}

#[derive(Debug, Clone)]
pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: Scale,
    pub y_scale: Scale,
    pub series: Vec<Series>,
    pub vlines: Vec<VLine>,
    pub hlines: Vec<HLine>,
    pub metadata: Vec<(String, String)>,
}

/// A curve drawn over a heatmap, in data coordinates (x, y).
#[derive(Debug, Clone)]
pub struct Overlay {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub hover: Option<Vec<String>>,
    pub markers: bool,
    pub dashed: bool,
}

#[derive(Debug, Clone)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// What the colours are (the colour bar's title).
    pub z_label: String,
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    /// values[row][col], row i at ys[i]; None (e.g. diverged) and missing cells are drawn grey.
    pub values: Vec<Vec<Option<f64>>>,
    /// Cells whose value is over some of their runs only (the others diverged): drawn hatched.
    /// Same shape as `values`; missing rows or columns are not partial.
    pub partial: Vec<Vec<bool>>,
    /// A tooltip per cell, same shape as `values`.
    pub hover: Vec<Vec<String>>,
    /// Curves placed by log2 interpolation between cell centres (T_opt(α), fitted and predicted laws).
    pub overlays: Vec<Overlay>,
    pub metadata: Vec<(String, String)>,
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').into()
    } else {
        s
    }
}

/// A coordinate with at most two decimals; a non-finite one would make the whole file invalid, so it
/// degrades to 0 rather than poisoning the document.
fn num(v: f64) -> String {
    // Rounding first (and adding 0.0, which turns -0.0 into 0.0) keeps "-0" out of the output.
    trim_zeros(format!("{:.2}", if v.is_finite() { (v * 100.0).round() / 100.0 + 0.0 } else { 0.0 }))
}

/// Three significant digits, switching to exponent form where fixed notation would be unreadable.
pub fn sig3(v: f64) -> String {
    match v {
        _ if !v.is_finite() => "?".into(),
        0.0 => "0".into(),
        _ => match v.abs().log10().floor() as i32 {
            e if (-3..5).contains(&e) => trim_zeros(format!("{v:.*}", (2 - e).max(0) as usize)),
            _ => {
                let e = v.abs().log10().floor() as i32;
                format!("{}·10^{{{}}}", trim_zeros(format!("{:.2}", v / 10f64.powi(e))), minus(e))
            }
        },
    }
}

/// An integer with a typographic minus sign.
pub fn minus(k: i32) -> String {
    if k < 0 {
        format!("−{}", -k)
    } else {
        k.to_string()
    }
}

/// `base^{k}` in label markup.
pub fn power(base: u32, k: i32) -> String {
    format!("{base}^{{{}}}", minus(k))
}

/// A value as `2^{k}` when it is a power of two, else three significant digits.
pub fn pow2_or_sig3(v: f64) -> String {
    match Scale::Log2.apply(v) {
        Some(t) if (t - t.round()).abs() < 1e-9 && t.round() != 0.0 => power(2, t.round() as i32),
        _ => sig3(v),
    }
}

/// Label markup as SVG text content: `^{…}` and `_{…}` become shifted, smaller `<tspan>`s, and so
/// do `^word` and `_word` (a run of letters, digits and minus signs: `T^δ`, `P^−a`, `T_c`), so a
/// claim written in plain text reads as the paper writes it.
fn rich(markup: &str, size: f64) -> String {
    let markup = minus_signs(markup);
    let small = num(size * 0.72);
    let mut out = String::new();
    let mut rest = markup.as_str();
    while let Some(i) = rest.find(['^', '_']) {
        let shift = if rest[i..].starts_with('^') { "super" } else { "sub" };
        let after = &rest[i + 1..];
        let (body, next) = match after.strip_prefix('{').and_then(|b| Some((b, b.find('}')?))) {
            Some((b, end)) => (&b[..end], &b[end + 1..]),
            None => {
                let end = after.find(|c: char| !(c.is_alphanumeric() || c == '−')).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        out += &escape(&rest[..i]);
        if body.is_empty() {
            out += &escape(&rest[i..=i]);
        } else {
            out += &format!("<tspan baseline-shift=\"{shift}\" font-size=\"{small}\">{}</tspan>", escape(body));
        }
        rest = next;
    }
    out + &escape(rest)
}

/// A hyphen before a digit, at the start or after a space, `(`, `=` or `/`, as a minus sign.
fn minus_signs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev = ' ';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let digit_next = chars.peek().is_some_and(|n| n.is_ascii_digit() || *n == '.');
        out.push(if c == '-' && digit_next && matches!(prev, ' ' | '(' | '=' | '/' | '[' | ',') { '−' } else { c });
        prev = c;
    }
    out
}

/// The markup as plain text (for tooltips, captions and Markdown): `T·P^(γ/δ)`.
pub fn plain(markup: &str) -> String {
    let mut out = String::new();
    let mut rest = markup;
    while let Some(i) = rest.find(['^', '_']) {
        let Some((body, end)) = rest[i + 1..].strip_prefix('{').and_then(|b| Some((b, b.find('}')?))) else {
            out += &rest[..=i];
            rest = &rest[i + 1..];
            continue;
        };
        let (body, sub) = (&body[..end], rest[i..].starts_with('_'));
        let word = body.chars().all(|c| c.is_alphanumeric() || c == '−');
        out += &rest[..i];
        out += &match (sub, word) {
            // w_{0} → w0: a digit index reads as one.
            (true, true) if body.chars().all(|c| c.is_ascii_digit()) => body.to_owned(),
            (true, true) => format!("_{body}"),
            (false, true) => format!("^{body}"),
            (true, false) => format!("_({body})"),
            (false, false) => format!("^({body})"),
        };
        rest = &rest[i + 1 + 1 + end + 1..];
    }
    out + rest
}

fn options() -> &'static usvg::Options<'static> {
    static OPTIONS: OnceLock<usvg::Options<'static>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(dejavu::sans::regular().to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        usvg::Options { fontdb: Arc::new(db), font_family: "DejaVu Sans".into(), ..Default::default() }
    })
}

/// Width and height of one label as DejaVu Sans lays it out.
fn measure(markup: &str, size: f64) -> (f64, f64) {
    let doc = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"2000\" height=\"200\" font-family=\"{FONT}\">\
         <text x=\"0\" y=\"100\" font-size=\"{}\">{}</text></svg>",
        num(size),
        rich(markup, size)
    );
    match usvg::Tree::from_str(&doc, options()) {
        Ok(tree) if tree.root().has_children() => {
            let b = tree.root().abs_bounding_box();
            (b.width() as f64, b.height() as f64)
        }
        // An empty or blank label takes no room.
        _ => (0.0, 0.0),
    }
}

/// An axis-aligned box in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl TextBox {
    pub fn overlaps(&self, o: &TextBox, gap: f64) -> bool {
        self.x0 < o.x1 + gap && o.x0 < self.x1 + gap && self.y0 < o.y1 + gap && o.y0 < self.y1 + gap
    }
}

/// The document being written and the boxes of the text already placed.
struct Canvas {
    out: String,
    boxes: Vec<TextBox>,
}

impl Canvas {
    fn new(title: &str, metadata: &[(String, String)], height: f64) -> Canvas {
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
    fn text(&mut self, x: f64, y: f64, anchor: &str, size: f64, markup: &str, extra: &str) -> TextBox {
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
    fn vertical_text(&mut self, x: f64, mid_y: f64, size: f64, markup: &str) {
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

fn rect(x: f64, y: f64, w: f64, h: f64, attrs: &str) -> String {
    format!("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" {attrs}/>\n", num(x), num(y), num(w), num(h))
}

fn line(x1: f64, y1: f64, x2: f64, y2: f64, attrs: &str) -> String {
    format!("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" {attrs}/>\n", num(x1), num(y1), num(x2), num(y2))
}

/// A marker, with its tooltip when it has one (SVG `<title>`: the browser shows it on hover).
fn marker(x: f64, y: f64, r: f64, attrs: &str, hover: Option<&str>) -> String {
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

fn coords(pts: &[(f64, f64)]) -> String {
    pts.iter().map(|&(x, y)| format!("{},{}", num(x), num(y))).collect::<Vec<_>>().join(" ")
}

fn polyline(pts: &[(f64, f64)], colour: &str, width: f64, dashed: bool) -> String {
    let dash = if dashed { " stroke-dasharray=\"6 4\"" } else { "" };
    format!("<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\"{dash}/>\n", coords(pts))
}

fn band_polygon(upper: &[(f64, f64)], lower: &[(f64, f64)], colour: &str) -> String {
    let poly: Vec<(f64, f64)> = upper.iter().copied().chain(lower.iter().rev().copied()).collect();
    format!("<polygon class=\"band\" points=\"{}\" fill=\"{colour}\" fill-opacity=\"0.18\"/>\n", coords(&poly))
}

/// The frame of the plotting area; text must stay out of it.
fn frame(left: f64, top: f64, right: f64, bottom: f64) -> String {
    format!(
        "<rect id=\"{PLOT_AREA}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n",
        num(left),
        num(top),
        num(right - left),
        num(bottom - top)
    )
}

/// One axis: a range in axis space (after `Scale::apply`) mapped onto a pixel interval.
struct Axis {
    scale: Scale,
    lo: f64,
    hi: f64,
    data: Option<(f64, f64)>,
    p0: f64,
    p1: f64,
}

impl Axis {
    fn fit(scale: Scale, values: &[f64], p0: f64, p1: f64) -> Axis {
        let data = values
            .iter()
            .fold(None, |acc: Option<(f64, f64)>, &v| Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v)))));
        let (mut lo, mut hi) = data.unwrap_or((0.0, 1.0));
        if hi - lo < 1e-12 {
            let pad = if scale == Scale::Linear { (lo.abs() * 0.1).max(0.5) } else { 0.5 };
            (lo, hi) = (lo - pad, hi + pad);
        }
        let pad = 0.05 * (hi - lo);
        Axis { scale, lo: lo - pad, hi: hi + pad, data, p0, p1 }
    }

    fn px(&self, t: f64) -> f64 {
        self.p0 + (t - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)
    }

    /// (pixel, label markup) pairs: integer powers on log axes (`2^{−5}`), 1-2-5 steps on linear ones.
    fn ticks(&self) -> Vec<(f64, String)> {
        let mut ticks: Vec<(f64, String)> = Vec::new();
        let base: u32 = match self.scale {
            Scale::Log2 => 2,
            Scale::Log10 => 10,
            Scale::Linear => {
                let raw = (self.hi - self.lo) / 5.0;
                let mag = 10f64.powf(raw.log10().floor());
                let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(mag * 10.0);
                let decimals = (-step.log10().floor()).clamp(0.0, 10.0) as usize;
                let mut k = (self.lo / step).ceil();
                while k * step <= self.hi + 1e-9 * step {
                    let v = k * step;
                    let big = v.abs() >= 1e5 || (v != 0.0 && v.abs() < 1e-4);
                    let label = if big { sig3(v) } else { format!("{:.*}", decimals, v + 0.0) };
                    ticks.push((self.px(v), label.replace('-', "−")));
                    k += 1.0;
                }
                return ticks;
            }
        };
        let (first, last) = (self.lo.ceil() as i64, self.hi.floor() as i64);
        let stride = ((last - first + 1) as f64 / 8.0).ceil().max(1.0) as i64;
        for k in (first..=last).filter(|k| k.rem_euclid(stride) == 0) {
            ticks.push((self.px(k as f64), power(base, k as i32)));
        }
        // Fewer than three decades in view: name 2·10^k and 5·10^k too.
        if base == 10 && last - first < 2 {
            for k in first - 1..=last {
                for m in [2.0f64, 5.0] {
                    let t = k as f64 + m.log10();
                    if (self.lo..=self.hi).contains(&t) {
                        ticks.push((self.px(t), sig3(m * 10f64.powi(k as i32))));
                    }
                }
            }
            ticks.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        // Less than one power in view would leave one tick or none: name the data's own extremes too.
        if let Some((dlo, dhi)) = self.data.filter(|(lo, hi)| hi - lo < 1.0) {
            for t in [dlo, dhi] {
                let p = self.px(t);
                if ticks.iter().all(|(q, _)| (p - q).abs() > 30.0) {
                    ticks.push((p, sig3((base as f64).powf(t))));
                }
            }
        }
        ticks
    }
}

/// One legend row: the sample drawn for it and its label.
struct LegendEntry {
    label: String,
    colour: usize,
    line: bool,
    dashed: bool,
    marker: bool,
    band: bool,
}

const LEGEND_ROW: f64 = 17.0;
/// Height of a row of marker-line labels above the frame.
const MARK_ROW: f64 = 18.0;
const LEGEND_SAMPLE: f64 = 30.0;

fn legend_width(entries: &[LegendEntry]) -> f64 {
    entries.iter().map(|e| measure(&e.label, 11.0).0).fold(0.0, f64::max) + LEGEND_SAMPLE + 8.0
}

/// Draws the legend with its top-left corner at (x0, y0), one entry per row.
fn legend(c: &mut Canvas, entries: &[LegendEntry], x0: f64, y0: f64) {
    for (row, e) in entries.iter().enumerate() {
        let colour = PALETTE[e.colour % PALETTE.len()];
        let y = y0 + 8.0 + LEGEND_ROW * row as f64;
        if e.band {
            c.out += &rect(x0, y - 5.0, 24.0, 10.0, &format!("fill=\"{colour}\" fill-opacity=\"0.18\""));
        }
        if e.line {
            c.out += &polyline(&[(x0, y), (x0 + 24.0, y)], colour, 1.8, e.dashed);
        }
        if e.marker {
            c.out += &marker(x0 + 12.0, y, 3.2, &format!("fill=\"{colour}\""), None);
        }
        c.text(x0 + LEGEND_SAMPLE, y + 4.0, "start", 11.0, &e.label, "");
    }
}

/// Rows for labels placed left to right above the frame: each label goes in the first row where
/// it overlaps nothing. Returns each label's row.
fn stack_rows(spans: &[(f64, f64)]) -> Vec<usize> {
    let mut rows: Vec<Vec<(f64, f64)>> = Vec::new();
    spans
        .iter()
        .map(|&(a, b)| {
            let r = rows.iter().position(|row| row.iter().all(|&(c, d)| b + 4.0 < c || d + 4.0 < a));
            let r = r.unwrap_or_else(|| {
                rows.push(Vec::new());
                rows.len() - 1
            });
            rows[r].push((a, b));
            r
        })
        .collect()
}

impl Plot {
    pub fn new(title: &str, x_label: &str, y_label: &str, x_scale: Scale, y_scale: Scale) -> Plot {
        let (title, x_label, y_label) = (title.into(), x_label.into(), y_label.into());
        Plot {
            title,
            x_label,
            y_label,
            x_scale,
            y_scale,
            series: vec![],
            vlines: vec![],
            hlines: vec![],
            metadata: vec![],
        }
    }

    fn pair(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        Some((self.x_scale.apply(x)?, self.y_scale.apply(y)?))
    }

    /// Every drawable (x, y) the series need room for, in axis space: points, error-bar ends, band edges.
    fn extent(&self) -> Vec<(f64, f64)> {
        let mut all = Vec::new();
        for s in &self.series {
            all.extend(s.points.iter().filter_map(|&(x, y)| self.pair(x, y)));
            for (&(x, _), &(lo, hi)) in s.points.iter().zip(s.y_err.iter().flatten()) {
                all.extend(self.pair(x, lo).into_iter().chain(self.pair(x, hi)));
            }
            for &(x, lo, hi) in s.band.iter().flatten() {
                all.extend(self.pair(x, lo).into_iter().chain(self.pair(x, hi)));
            }
        }
        all
    }

    fn legend_entries(&self) -> Vec<LegendEntry> {
        let mut entries: Vec<LegendEntry> = self
            .series
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.label.is_empty())
            .map(|(i, s)| LegendEntry {
                label: s.label.clone(),
                colour: s.colour.unwrap_or(i),
                line: s.line,
                dashed: s.dashed,
                marker: !s.no_markers,
                band: s.band.is_some(),
            })
            .collect();
        entries.extend(self.hlines.iter().filter(|h| !h.label.is_empty()).map(|h| LegendEntry {
            label: h.label.clone(),
            colour: h.colour,
            line: true,
            dashed: h.dashed,
            marker: false,
            band: h.band.is_some(),
        }));
        entries
    }

    /// The figure as a standalone SVG document (width 760, height 440 or more, viewBox set).
    pub fn to_svg(&self) -> String {
        let entries = self.legend_entries();
        let right = if entries.is_empty() { WIDTH - 20.0 } else { WIDTH - 16.0 - legend_width(&entries) };
        let extent = self.extent();
        let mut xs: Vec<f64> = extent.iter().map(|p| p.0).collect();
        // Markers alone never make a figure non-empty, but once there is data they must be in view.
        if !extent.is_empty() {
            xs.extend(self.vlines.iter().filter_map(|v| self.x_scale.apply(v.x)));
        }
        let ax = Axis::fit(self.x_scale, &xs, LEFT, right);
        // Marker-line labels: stacked in rows between the title and the frame.
        let labels: Vec<(f64, &VLine, f64)> = if extent.is_empty() {
            Vec::new()
        } else {
            self.vlines
                .iter()
                .filter_map(|v| {
                    let p = ax.px(self.x_scale.apply(v.x)?);
                    Some((p, v, measure(&v.label, 10.0).0))
                })
                .collect()
        };
        let spans: Vec<(f64, f64)> =
            labels.iter().map(|&(p, _, w)| (p - w / 2.0, p + w / 2.0)).map(|(a, b)| clamp_span(a, b, right)).collect();
        let rows = stack_rows(&spans);
        let n_rows = rows.iter().max().map_or(0, |r| r + 1);
        let top = TOP + MARK_ROW * n_rows as f64;
        let legend_rows = entries.len() as f64 * LEGEND_ROW + 8.0;
        let height = HEIGHT.max(top + legend_rows + 58.0 + 10.0);
        let bottom = height - 58.0;
        let mut ys: Vec<f64> = extent.iter().map(|p| p.1).collect();
        if !extent.is_empty() {
            for h in &self.hlines {
                let band = h.band.map(|b| [b.0, b.1]).unwrap_or([h.y, h.y]);
                ys.extend([h.y, band[0], band[1]].into_iter().filter_map(|v| self.y_scale.apply(v)));
            }
        }
        let ay = Axis::fit(self.y_scale, &ys, bottom, top);
        let at = |x: f64, y: f64| self.pair(x, y).map(|(x, y)| (ax.px(x), ay.px(y)));

        let mut c = Canvas::new(&self.title, &self.metadata, height);
        let mid_y = (top + bottom) / 2.0;
        c.text((LEFT + right) / 2.0, height - 14.0, "middle", 13.0, &self.x_label, "");
        c.vertical_text(20.0, mid_y, 13.0, &self.y_label);
        for (p, label) in ax.ticks() {
            c.out += &line(p, bottom, p, bottom + 5.0, "stroke=\"#333\"");
            c.text(p, bottom + 20.0, "middle", 11.0, &label, "");
        }
        for (p, label) in ay.ticks() {
            c.out += &line(LEFT - 5.0, p, LEFT, p, "stroke=\"#333\"");
            c.text(LEFT - 8.0, p + 4.0, "end", 11.0, &label, "");
        }
        if extent.is_empty() {
            c.out += &frame(LEFT, top, right, bottom);
            c.text((LEFT + right) / 2.0, mid_y, "middle", 12.0, "no data", " id=\"no-data\" fill=\"#666\"");
            return c.out + "</svg>\n";
        }
        // Everything drawn inside the frame is clipped to it, so a band or a law never spills out.
        c.out += &format!(
            "<clipPath id=\"clip\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>\n<g clip-path=\"url(#clip)\">\n",
            num(LEFT),
            num(top),
            num(right - LEFT),
            num(bottom - top)
        );
        for h in &self.hlines {
            let colour = PALETTE[h.colour % PALETTE.len()];
            if let Some((lo, hi)) = h.band {
                if let (Some(a), Some(b)) = (self.y_scale.apply(lo), self.y_scale.apply(hi)) {
                    let (a, b) = (ay.px(a), ay.px(b));
                    c.out += &format!(
                        "<rect class=\"band\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{colour}\" fill-opacity=\"0.18\"/>\n",
                        num(LEFT),
                        num(a.min(b)),
                        num(right - LEFT),
                        num((a - b).abs())
                    );
                }
            }
            if let Some(y) = self.y_scale.apply(h.y).map(|t| ay.px(t)) {
                c.out += &polyline(&[(LEFT, y), (right, y)], colour, 1.5, h.dashed);
            }
        }
        for &(p, v, _) in &labels {
            let colour = PALETTE[v.colour.unwrap_or(NEUTRAL) % PALETTE.len()];
            c.out += &line(p, top, p, bottom, &format!("stroke=\"{colour}\" stroke-dasharray=\"3 3\""));
        }
        for (i, s) in self.series.iter().enumerate() {
            let colour = PALETTE[s.colour.unwrap_or(i) % PALETTE.len()];
            let band: Vec<((f64, f64), (f64, f64))> =
                s.band.iter().flatten().filter_map(|&(x, lo, hi)| Some((at(x, lo)?, at(x, hi)?))).collect();
            if band.len() >= 2 {
                let (lower, upper): (Vec<_>, Vec<_>) = band.into_iter().unzip();
                c.out += &band_polygon(&upper, &lower, colour);
            }
            let stroke = format!("stroke=\"{colour}\"");
            for (&(x, _), &(lo, hi)) in s.points.iter().zip(s.y_err.iter().flatten()) {
                if let (Some((px, p_lo)), Some((_, p_hi))) = (at(x, lo), at(x, hi)) {
                    c.out += &line(px, p_lo, px, p_hi, &stroke);
                    c.out += &line(px - 3.0, p_lo, px + 3.0, p_lo, &stroke);
                    c.out += &line(px - 3.0, p_hi, px + 3.0, p_hi, &stroke);
                }
            }
            let pts: Vec<(f64, f64)> = s.points.iter().filter_map(|&(x, y)| at(x, y)).collect();
            if s.line && pts.len() >= 2 {
                c.out += &polyline(&pts, colour, 1.8, s.dashed);
            }
        }
        c.out += "</g>\n";
        // Markers last, unclipped (they are inside by construction), so every one can be hovered.
        for (i, s) in self.series.iter().enumerate().filter(|(_, s)| !s.no_markers) {
            let colour = PALETTE[s.colour.unwrap_or(i) % PALETTE.len()];
            for (j, &(x, y)) in s.points.iter().enumerate() {
                if let Some((px, py)) = at(x, y) {
                    let hover = s.hover.as_ref().and_then(|h| h.get(j)).map(String::as_str);
                    c.out += &marker(px, py, 3.2, &format!("fill=\"{colour}\""), hover);
                }
            }
        }
        c.out += &frame(LEFT, top, right, bottom);
        for (&(_, v, _), (&(a, _), row)) in labels.iter().zip(spans.iter().zip(&rows)) {
            let colour = PALETTE[v.colour.unwrap_or(NEUTRAL) % PALETTE.len()];
            c.text(
                a,
                top - 7.0 - MARK_ROW * (n_rows - 1 - row) as f64,
                "start",
                10.0,
                &v.label,
                &format!(" fill=\"{colour}\""),
            );
        }
        legend(&mut c, &entries, right + 12.0, top);
        c.out + "</svg>\n"
    }
}

/// A label span [a, b] moved inside [LEFT, right] without changing its width.
fn clamp_span(a: f64, b: f64, right: f64) -> (f64, f64) {
    let shift = if a < LEFT {
        LEFT - a
    } else if b > right {
        right - b
    } else {
        0.0
    };
    (a + shift, b + shift)
}

fn viridis(t: f64) -> String {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let pos = t * (VIRIDIS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + f * (q as f64 - p as f64)).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Pixel of a log2 data coordinate, interpolated between cell centres so a non-uniform grid still
/// lines up (and extrapolated linearly past the outer cells).
fn grid_px(anchors: &[(f64, f64)], v: f64) -> Option<f64> {
    let t = Scale::Log2.apply(v)?;
    match anchors {
        [] => None,
        [(_, p)] => Some(*p),
        _ => {
            let i = anchors.windows(2).position(|w| t <= w[1].0).unwrap_or(anchors.len() - 2);
            let ((t0, p0), (t1, p1)) = (anchors[i], anchors[i + 1]);
            (t1 != t0).then(|| p0 + (t - t0) / (t1 - t0) * (p1 - p0))
        }
    }
}

impl Heatmap {
    /// The map as a standalone SVG document, columns and rows equally spaced (the grid is log2-uniform).
    pub fn to_svg(&self) -> String {
        let right = WIDTH - 150.0;
        let (nc, nr) = (self.xs.len(), self.ys.len());
        // The overlays' legend: one row above the frame.
        let entries: Vec<LegendEntry> = self
            .overlays
            .iter()
            .filter(|o| !o.label.is_empty())
            .map(|o| LegendEntry {
                label: o.label.clone(),
                colour: NEUTRAL,
                line: !o.markers && o.points.len() >= 2,
                dashed: o.dashed,
                marker: o.markers,
                band: false,
            })
            .collect();
        let top = if entries.is_empty() { TOP } else { TOP + LEGEND_ROW + 4.0 };
        let bottom = BOTTOM;
        let mut c = Canvas::new(&self.title, &self.metadata, HEIGHT);
        let mid_y = (top + bottom) / 2.0;
        c.text((LEFT + right) / 2.0, HEIGHT - 14.0, "middle", 13.0, &self.x_label, "");
        c.vertical_text(20.0, mid_y, 13.0, &self.y_label);
        if nc * nr == 0 {
            c.out += &frame(LEFT, top, right, bottom);
            c.text((LEFT + right) / 2.0, mid_y, "middle", 12.0, "no data", " id=\"no-data\" fill=\"#666\"");
            return c.out + "</svg>\n";
        }
        let cell = |r: usize, col: usize| {
            self.values.get(r).and_then(|row| row.get(col)).copied().flatten().filter(|v| v.is_finite())
        };
        let (lo, hi) = (0..nr * nc)
            .filter_map(|i| cell(i / nc, i % nc))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let (cw, ch) = ((right - LEFT) / nc as f64, (bottom - top) / nr as f64);
        let (cx, cy) = (|col: usize| LEFT + (col as f64 + 0.5) * cw, |r: usize| bottom - (r as f64 + 0.5) * ch);
        for (r, col) in (0..nr).flat_map(|r| (0..nc).map(move |col| (r, col))) {
            let fill = match cell(r, col) {
                Some(v) if hi > lo => viridis((v - lo) / (hi - lo)),
                Some(_) => viridis(0.5),
                None => MISSING_FILL.into(),
            };
            // The 0.3 overlap hides hairline seams that anti-aliasing leaves between abutting cells.
            let (x, y) = (cx(col) - cw / 2.0, cy(r) - ch / 2.0);
            match self.hover.get(r).and_then(|row| row.get(col)) {
                Some(h) => {
                    c.out += &format!(
                        "<rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"><title>{}</title></rect>\n",
                        num(x),
                        num(y),
                        num(cw + 0.3),
                        num(ch + 0.3),
                        escape(h)
                    )
                }
                None => c.out += &rect(x, y, cw + 0.3, ch + 0.3, &format!("fill=\"{fill}\"")),
            }
        }
        // Hatching over the cells averaged over only some of their runs; it lets the hover through.
        let partial = |r: usize, col: usize| {
            cell(r, col).is_some() && self.partial.get(r).and_then(|row| row.get(col)).copied().unwrap_or(false)
        };
        if (0..nr * nc).any(|i| partial(i / nc, i % nc)) {
            c.out += "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"white\" stroke-opacity=\"0.7\" stroke-width=\"1.6\"/></pattern></defs>\n";
            for (r, col) in (0..nr).flat_map(|r| (0..nc).map(move |col| (r, col))).filter(|&(r, col)| partial(r, col)) {
                let (x, y) = (cx(col) - cw / 2.0, cy(r) - ch / 2.0);
                c.out += &rect(x, y, cw, ch, "class=\"partial\" fill=\"url(#hatch)\" pointer-events=\"none\"");
            }
        }
        // Ticks at the integer powers of two only (a half-octave grid has cells between them),
        // every k-th of them so the labels never touch.
        let powers = |v: &[f64]| -> Vec<usize> {
            let p: Vec<usize> = (0..v.len())
                .filter(|&i| Scale::Log2.apply(v[i]).is_some_and(|t| (t - t.round()).abs() < 1e-9))
                .collect();
            if p.is_empty() {
                (0..v.len()).collect()
            } else {
                p
            }
        };
        let (px, py) = (powers(&self.xs), powers(&self.ys));
        let x_gap = (right - LEFT) / nc as f64 * (nc as f64 / px.len() as f64);
        let x_every = tick_stride(px.len(), x_gap, px.iter().map(|&i| measure(&pow2_or_sig3(self.xs[i]), 11.0).0));
        for &col in px.iter().step_by(x_every) {
            c.out += &line(cx(col), bottom, cx(col), bottom + 5.0, "stroke=\"#333\"");
            c.text(cx(col), bottom + 20.0, "middle", 11.0, &pow2_or_sig3(self.xs[col]), "");
        }
        let y_gap = ch * nr as f64 / py.len() as f64;
        for &r in py.iter().step_by(tick_stride(py.len(), y_gap, std::iter::once(16.0))) {
            c.out += &line(LEFT - 5.0, cy(r), LEFT, cy(r), "stroke=\"#333\"");
            c.text(LEFT - 8.0, cy(r) + 4.0, "end", 11.0, &pow2_or_sig3(self.ys[r]), "");
        }
        let anchors = |coords: &[f64], px: &dyn Fn(usize) -> f64| -> Vec<(f64, f64)> {
            coords.iter().enumerate().filter_map(|(i, &v)| Some((Scale::Log2.apply(v)?, px(i)))).collect()
        };
        let (ax, ay) = (anchors(&self.xs, &cx), anchors(&self.ys, &cy));
        let inside = |&(x, y): &(f64, f64)| (LEFT..=right).contains(&x) && (top..=bottom).contains(&y);
        c.out += &format!(
            "<clipPath id=\"clip\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>\n",
            num(LEFT),
            num(top),
            num(right - LEFT),
            num(bottom - top)
        );
        for o in &self.overlays {
            let curve: Vec<(f64, f64)> =
                o.points.iter().filter_map(|&(x, y)| Some((grid_px(&ax, x)?, grid_px(&ay, y)?))).collect();
            // Black under white keeps a curve visible on both the dark and the bright end of viridis.
            if curve.len() >= 2 && !o.markers {
                c.out += "<g clip-path=\"url(#clip)\">\n";
                c.out += &polyline(&curve, "white", 3.6, false);
                c.out += &polyline(&curve, "black", 1.6, o.dashed);
                c.out += "</g>\n";
            }
            if o.markers {
                for (j, p) in curve.iter().enumerate().filter(|(_, p)| inside(p)) {
                    let hover = o.hover.as_ref().and_then(|h| h.get(j)).map(String::as_str);
                    c.out += &marker(p.0, p.1, 3.8, "fill=\"white\" stroke=\"black\"", hover);
                }
            }
        }
        c.out += &frame(LEFT, top, right, bottom);
        // The overlays' legend in a row above the frame, the colour bar and its title on the right.
        let mut x0 = LEFT;
        for e in &entries {
            legend(&mut c, std::slice::from_ref(e), x0, top - LEGEND_ROW - 2.0);
            x0 += measure(&e.label, 11.0).0 + LEGEND_SAMPLE + 18.0;
        }
        if lo <= hi {
            let (bx, steps) = (right + 16.0, 32);
            let sh = (bottom - top) / steps as f64;
            for i in 0..steps {
                let fill = format!("fill=\"{}\"", viridis((i as f64 + 0.5) / steps as f64));
                c.out += &rect(bx, bottom - (i + 1) as f64 * sh, 14.0, sh + 0.3, &fill);
            }
            c.out += &rect(bx, top, 14.0, bottom - top, "fill=\"none\" stroke=\"#333\"");
            let mid = (lo + hi) / 2.0;
            for (v, y) in [(hi, top + 8.0), (mid, mid_y + 4.0), (lo, bottom)] {
                if hi > lo || v == lo {
                    c.text(bx + 20.0, y, "start", 11.0, &sig3(v), "");
                }
            }
            c.vertical_text(WIDTH - 18.0, mid_y, 13.0, &self.z_label);
        }
        c.out + "</svg>\n"
    }
}

/// Label every k-th cell so labels of `width` each fit side by side in cells of `cell` pixels.
fn tick_stride(n: usize, cell: f64, widths: impl Iterator<Item = f64>) -> usize {
    let widest = widths.fold(0.0, f64::max) + 6.0;
    ((widest / cell.max(1e-9)).ceil() as usize).clamp(1, n.max(1))
}

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
    fn walk(g: &usvg::Group, out: &mut Vec<(String, TextBox)>) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let sups: Vec<&str> = doc
            .descendants()
            .filter(|n| n.attribute("baseline-shift") == Some("super"))
            .filter_map(|n| n.text())
            .collect();
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
}
