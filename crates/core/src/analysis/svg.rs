//! Dependency-free SVG figures for the HTML report: line/scatter plots with error bars, fitted laws and
//! confidence bands on linear or log axes, and heatmaps over a (T, alpha) grid. The one idea to know: every
//! value goes through `Scale::apply` first, which returns `None` for anything not drawable (non-finite, or
//! non-positive on a log axis), so bad data is dropped point by point and no NaN ever reaches the SVG.

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = HEIGHT - 55.0;
/// Okabe-Ito, reordered so the low-contrast yellow comes last.
const PALETTE: [&str; 8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];
/// Viridis sampled at five stops; linear interpolation between them is close enough for a report.
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

#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Absolute (low, high) ends of each point's error bar, not offsets from y.
    pub y_err: Option<Vec<(f64, f64)>>,
    pub line: bool,
    pub dashed: bool,
    /// (x, y_low, y_high), drawn as a shaded polygon under the series.
    pub band: Option<Vec<(f64, f64, f64)>>,
    /// Palette index; by default the series' position (a fit shares its points' colour).
    pub colour: Option<usize>,
}

impl Series {
    /// Markers only; set the other fields for lines, error bars or bands.
    pub fn new(label: &str, points: Vec<(f64, f64)>) -> Series {
        Series { label: label.into(), points, y_err: None, line: false, dashed: false, band: None, colour: None }
    }
}

#[derive(Debug, Clone)]
pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: Scale,
    pub y_scale: Scale,
    pub series: Vec<Series>,
    pub vlines: Vec<(f64, String)>,
    pub metadata: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    /// values[row][col], row i at ys[i]; None (e.g. diverged) and missing cells are drawn grey.
    pub values: Vec<Vec<Option<f64>>>,
    /// A curve in data coordinates (e.g. T_opt(alpha)), placed by log2 interpolation between cell centres.
    pub overlay: Vec<(f64, f64)>,
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
            _ => format!("{v:.2e}"),
        },
    }
}

fn text(x: f64, y: f64, anchor: &str, extra: &str, body: &str) -> String {
    format!("<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\"{extra}>{}</text>\n", num(x), num(y), escape(body))
}

fn rect(x: f64, y: f64, w: f64, h: f64, attrs: &str) -> String {
    format!("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" {attrs}/>\n", num(x), num(y), num(w), num(h))
}

fn line(x1: f64, y1: f64, x2: f64, y2: f64, attrs: &str) -> String {
    format!("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" {attrs}/>\n", num(x1), num(y1), num(x2), num(y2))
}

fn circle(x: f64, y: f64, r: f64, attrs: &str) -> String {
    format!("<circle cx=\"{}\" cy=\"{}\" r=\"{r}\" {attrs}/>\n", num(x), num(y))
}

fn coords(pts: &[(f64, f64)]) -> String {
    pts.iter().map(|&(x, y)| format!("{},{}", num(x), num(y))).collect::<Vec<_>>().join(" ")
}

fn polyline(pts: &[(f64, f64)], colour: &str, width: f64, dashed: bool) -> String {
    let dash = if dashed { " stroke-dasharray=\"6 4\"" } else { "" };
    format!("<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\"{dash}/>\n", coords(pts))
}

fn header(title: &str, entries: &[(String, String)]) -> String {
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n<title>{}</title>\n",
        escape(title)
    );
    if !entries.is_empty() {
        out += "<metadata>\n";
        for (k, v) in entries {
            out += &format!("<entry key=\"{}\">{}</entry>\n", escape(k), escape(v));
        }
        out += "</metadata>\n";
    }
    out + &rect(0.0, 0.0, WIDTH, HEIGHT, "fill=\"white\"")
        + &text(WIDTH / 2.0, 22.0, "middle", " font-size=\"15\"", title)
}

/// Axis titles, the frame around the plotting area, and (for an empty figure) the "no data" notice.
fn furniture(x_label: &str, y_label: &str, right: f64, empty: bool) -> String {
    let mid_y = (TOP + BOTTOM) / 2.0;
    let mut out = text((LEFT + right) / 2.0, HEIGHT - 15.0, "middle", "", x_label)
        + &text(18.0, mid_y, "middle", &format!(" transform=\"rotate(-90 18 {})\"", num(mid_y)), y_label)
        + &rect(LEFT, TOP, right - LEFT, BOTTOM - TOP, "fill=\"none\" stroke=\"#333\"");
    if empty {
        out += &text((LEFT + right) / 2.0, mid_y, "middle", " fill=\"#666\"", "no data");
    }
    out
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

    /// (pixel, label) pairs: integer powers on log axes, 1-2-5 steps on linear ones.
    fn ticks(&self) -> Vec<(f64, String)> {
        let mut ticks: Vec<(f64, String)> = Vec::new();
        let base: f64 = match self.scale {
            Scale::Log2 => 2.0,
            Scale::Log10 => 10.0,
            Scale::Linear => {
                let raw = (self.hi - self.lo) / 5.0;
                let mag = 10f64.powf(raw.log10().floor());
                let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(mag * 10.0);
                let decimals = (-step.log10().floor()).clamp(0.0, 10.0) as usize;
                let mut k = (self.lo / step).ceil();
                while k * step <= self.hi + 1e-9 * step {
                    let v = k * step;
                    let big = v.abs() >= 1e5 || (v != 0.0 && v.abs() < 1e-4);
                    ticks.push((self.px(v), if big { sig3(v) } else { format!("{:.*}", decimals, v + 0.0) }));
                    k += 1.0;
                }
                return ticks;
            }
        };
        let (first, last) = (self.lo.ceil() as i64, self.hi.floor() as i64);
        let stride = ((last - first + 1) as f64 / 8.0).ceil().max(1.0) as i64;
        for k in (first..=last).filter(|k| k.rem_euclid(stride) == 0) {
            ticks.push((self.px(k as f64), format!("{base}^{k}")));
        }
        // Less than one power in view would leave one tick or none: name the data's own extremes too.
        if let Some((dlo, dhi)) = self.data.filter(|(lo, hi)| hi - lo < 1.0) {
            for t in [dlo, dhi] {
                let p = self.px(t);
                if ticks.iter().all(|(q, _)| (p - q).abs() > 12.0) {
                    ticks.push((p, sig3(base.powf(t))));
                }
            }
        }
        ticks
    }
}

impl Plot {
    pub fn new(title: &str, x_label: &str, y_label: &str, x_scale: Scale, y_scale: Scale) -> Plot {
        let (title, x_label, y_label) = (title.into(), x_label.into(), y_label.into());
        Plot { title, x_label, y_label, x_scale, y_scale, series: vec![], vlines: vec![], metadata: vec![] }
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

    /// The figure as a standalone SVG document (width 640, height 420, viewBox set).
    pub fn to_svg(&self) -> String {
        let right = WIDTH - 20.0;
        let extent = self.extent();
        let mut xs: Vec<f64> = extent.iter().map(|p| p.0).collect();
        // Markers alone never make a figure non-empty, but once there is data they must be in view.
        if !extent.is_empty() {
            xs.extend(self.vlines.iter().filter_map(|(x, _)| self.x_scale.apply(*x)));
        }
        let ys: Vec<f64> = extent.iter().map(|p| p.1).collect();
        let ax = Axis::fit(self.x_scale, &xs, LEFT, right);
        let ay = Axis::fit(self.y_scale, &ys, BOTTOM, TOP);
        let at = |x: f64, y: f64| self.pair(x, y).map(|(x, y)| (ax.px(x), ay.px(y)));

        let mut out =
            header(&self.title, &self.metadata) + &furniture(&self.x_label, &self.y_label, right, extent.is_empty());
        for (p, label) in ax.ticks() {
            out += &line(p, BOTTOM, p, BOTTOM + 5.0, "stroke=\"#333\"");
            out += &text(p, BOTTOM + 18.0, "middle", " font-size=\"11\"", &label);
        }
        for (p, label) in ay.ticks() {
            out += &line(LEFT - 5.0, p, LEFT, p, "stroke=\"#333\"");
            out += &text(LEFT - 8.0, p + 4.0, "end", " font-size=\"11\"", &label);
        }
        if extent.is_empty() {
            return out + "</svg>\n";
        }
        for (x, label) in &self.vlines {
            let Some(x) = self.x_scale.apply(*x).map(|t| ax.px(t)) else { continue };
            out += &line(x, TOP, x, BOTTOM, "stroke=\"#888\" stroke-dasharray=\"3 3\"");
            out += &text(x + 3.0, TOP + 12.0, "start", " font-size=\"10\" fill=\"#555\"", label);
        }
        let mut drawn = Vec::new();
        for (i, s) in self.series.iter().enumerate() {
            let colour = PALETTE[s.colour.unwrap_or(i) % PALETTE.len()];
            let band: Vec<((f64, f64), (f64, f64))> =
                s.band.iter().flatten().filter_map(|&(x, lo, hi)| Some((at(x, lo)?, at(x, hi)?))).collect();
            if band.len() >= 2 {
                let poly: Vec<(f64, f64)> = band.iter().map(|b| b.1).chain(band.iter().rev().map(|b| b.0)).collect();
                out += &format!("<polygon points=\"{}\" fill=\"{colour}\" fill-opacity=\"0.18\"/>\n", coords(&poly));
            }
            let stroke = format!("stroke=\"{colour}\"");
            for (&(x, _), &(lo, hi)) in s.points.iter().zip(s.y_err.iter().flatten()) {
                if let (Some((px, p_lo)), Some((_, p_hi))) = (at(x, lo), at(x, hi)) {
                    out += &line(px, p_lo, px, p_hi, &stroke);
                    out += &line(px - 3.0, p_lo, px + 3.0, p_lo, &stroke);
                    out += &line(px - 3.0, p_hi, px + 3.0, p_hi, &stroke);
                }
            }
            let pts: Vec<(f64, f64)> = s.points.iter().filter_map(|&(x, y)| at(x, y)).collect();
            if s.line && pts.len() >= 2 {
                out += &polyline(&pts, colour, 1.8, s.dashed);
            }
            // A dashed series is a fitted law evaluated on a fine grid: markers there would be noise.
            if !s.dashed {
                pts.iter().for_each(|&(x, y)| out += &circle(x, y, 3.0, &format!("fill=\"{colour}\"")));
            }
            drawn.extend(pts);
        }
        out + &self.legend(right, &drawn) + "</svg>\n"
    }

    /// Legend in whichever top corner hides fewer of the drawn points.
    fn legend(&self, right: f64, drawn: &[(f64, f64)]) -> String {
        let entries: Vec<(usize, &Series)> =
            self.series.iter().enumerate().filter(|(_, s)| !s.label.is_empty()).collect();
        if entries.is_empty() {
            return String::new();
        }
        let longest = entries.iter().map(|(_, s)| s.label.chars().count()).max().unwrap_or(0);
        let (w, h) = (36.0 + 6.5 * longest as f64, 8.0 + 16.0 * entries.len() as f64);
        let hidden = |x0: f64| drawn.iter().filter(|&&(x, y)| x >= x0 && x <= x0 + w && y <= TOP + 6.0 + h).count();
        let x0 = if hidden(LEFT + 6.0) < hidden(right - w - 6.0) { LEFT + 6.0 } else { right - w - 6.0 };
        let mut out = rect(x0, TOP + 6.0, w, h, "fill=\"white\" fill-opacity=\"0.85\" stroke=\"#999\"");
        for (row, (i, s)) in entries.iter().enumerate() {
            let colour = PALETTE[s.colour.unwrap_or(*i) % PALETTE.len()];
            let y = TOP + 18.0 + 16.0 * row as f64;
            if s.line || s.dashed {
                out += &polyline(&[(x0 + 6.0, y), (x0 + 26.0, y)], colour, 1.8, s.dashed);
            }
            if !s.dashed {
                out += &circle(x0 + 16.0, y, 3.0, &format!("fill=\"{colour}\""));
            }
            out += &text(x0 + 32.0, y + 4.0, "start", " font-size=\"11\"", &s.label);
        }
        out
    }
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

/// Label of a grid coordinate: `2^k` when it is a power of two, else three significant digits.
fn log2_label(v: f64) -> String {
    match Scale::Log2.apply(v) {
        Some(t) if (t - t.round()).abs() < 1e-9 => format!("2^{}", t.round() as i64),
        _ => sig3(v),
    }
}

/// Pixel of a log2 data coordinate, interpolated between cell centres so a non-uniform grid still lines up.
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
        let right = WIDTH - 100.0;
        let (nc, nr) = (self.xs.len(), self.ys.len());
        let mut out =
            header(&self.title, &self.metadata) + &furniture(&self.x_label, &self.y_label, right, nc * nr == 0);
        if nc * nr == 0 {
            return out + "</svg>\n";
        }
        let cell = |r: usize, c: usize| {
            self.values.get(r).and_then(|row| row.get(c)).copied().flatten().filter(|v| v.is_finite())
        };
        let (lo, hi) = (0..nr * nc)
            .filter_map(|i| cell(i / nc, i % nc))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let (cw, ch) = ((right - LEFT) / nc as f64, (BOTTOM - TOP) / nr as f64);
        let (cx, cy) = (|c: usize| LEFT + (c as f64 + 0.5) * cw, |r: usize| BOTTOM - (r as f64 + 0.5) * ch);
        for (r, c) in (0..nr).flat_map(|r| (0..nc).map(move |c| (r, c))) {
            let fill = match cell(r, c) {
                Some(v) if hi > lo => viridis((v - lo) / (hi - lo)),
                Some(_) => viridis(0.5),
                None => MISSING_FILL.into(),
            };
            // The 0.3 overlap hides hairline seams that anti-aliasing leaves between abutting cells.
            out += &rect(cx(c) - cw / 2.0, cy(r) - ch / 2.0, cw + 0.3, ch + 0.3, &format!("fill=\"{fill}\""));
        }
        for c in (0..nc).step_by(nc.div_ceil(10)) {
            out += &text(cx(c), BOTTOM + 18.0, "middle", " font-size=\"11\"", &log2_label(self.xs[c]));
        }
        for r in (0..nr).step_by(nr.div_ceil(10)) {
            out += &text(LEFT - 8.0, cy(r) + 4.0, "end", " font-size=\"11\"", &log2_label(self.ys[r]));
        }
        let anchors = |coords: &[f64], px: &dyn Fn(usize) -> f64| -> Vec<(f64, f64)> {
            coords.iter().enumerate().filter_map(|(i, &v)| Some((Scale::Log2.apply(v)?, px(i)))).collect()
        };
        let (ax, ay) = (anchors(&self.xs, &cx), anchors(&self.ys, &cy));
        let inside = |&(x, y): &(f64, f64)| (LEFT..=right).contains(&x) && (TOP..=BOTTOM).contains(&y);
        let curve: Vec<(f64, f64)> = self
            .overlay
            .iter()
            .filter_map(|&(x, y)| Some((grid_px(&ax, x)?, grid_px(&ay, y)?)))
            .filter(inside)
            .collect();
        // Black under white keeps the curve visible on both the dark and the bright end of viridis.
        if curve.len() >= 2 {
            out += &(polyline(&curve, "black", 3.5, false) + &polyline(&curve, "white", 1.6, false));
        }
        curve.iter().for_each(|&(x, y)| out += &circle(x, y, 3.5, "fill=\"white\" stroke=\"black\""));
        if lo <= hi {
            let (bx, steps) = (right + 25.0, 32);
            let sh = (BOTTOM - TOP) / steps as f64;
            for i in 0..steps {
                let fill = format!("fill=\"{}\"", viridis((i as f64 + 0.5) / steps as f64));
                out += &rect(bx, BOTTOM - (i + 1) as f64 * sh, 16.0, sh + 0.3, &fill);
            }
            out += &text(bx + 20.0, TOP + 8.0, "start", " font-size=\"11\"", &sig3(hi));
            out += &text(bx + 20.0, BOTTOM, "start", " font-size=\"11\"", &sig3(lo));
        }
        out + "</svg>\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `<tag` is closed by `</tag>` or self-closed, in order; text never holds a raw `<` or `&`.
    fn assert_balanced(svg: &str) {
        let mut stack: Vec<&str> = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            let end = rest[i..].find('>').expect("unterminated tag") + i;
            let tag = &rest[i + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop(), Some(name), "mismatched close in {svg}");
            } else if !tag.ends_with('/') {
                stack.push(tag.split_whitespace().next().expect("empty tag"));
            }
            rest = &rest[end + 1..];
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        for amp in svg.match_indices('&') {
            let tail = &svg[amp.0..];
            assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().any(|e| tail.starts_with(e)));
        }
    }

    #[test]
    fn log_log_plot_is_balanced_and_labelled() {
        let mut plot = Plot::new("Error <vs> T & \"P\"", "T", "test error", Scale::Log2, Scale::Log10);
        let pts: Vec<(f64, f64)> = (-8..=-2).map(|k| (2f64.powi(k), 0.01 * 2f64.powi(-k))).collect();
        plot.series.push(Series {
            y_err: Some(pts.iter().map(|&(_, y)| (0.8 * y, 1.2 * y)).collect()),
            ..Series::new("data", pts.clone())
        });
        plot.series.push(Series { line: true, dashed: true, ..Series::new("fit T^-1", pts) });
        plot.vlines.push((2f64.powi(-5), "T_c".into()));
        let svg = plot.to_svg();
        assert_balanced(&svg);
        assert!(svg.contains("Error &lt;vs&gt; T &amp; &quot;P&quot;"));
        for k in -8..=-2 {
            assert!(svg.contains(&format!(">2^{k}</text>")), "missing tick 2^{k}");
        }
        assert!(svg.contains(">10^-1</text>") && svg.contains(">10^0</text>"));
        assert!(svg.contains("stroke-dasharray=\"6 4\""));
        assert!(!svg.contains("no data"));
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
        plot.vlines.push((f64::NEG_INFINITY, "bad".into()));
        let svg = plot.to_svg();
        assert_balanced(&svg);
        assert_eq!(svg.matches("<circle").count(), 2 + 1, "two drawable points plus the legend marker");
        let lower = svg.to_lowercase();
        assert!(!lower.contains("nan") && !lower.contains("inf"), "{svg}");
    }

    #[test]
    fn empty_plot_says_no_data() {
        let mut plot = Plot::new("empty", "x", "y", Scale::Log2, Scale::Linear);
        plot.series.push(Series::new("nothing", vec![(0.0, 1.0), (f64::NAN, 1.0)]));
        let svg = plot.to_svg();
        assert_balanced(&svg);
        assert!(svg.contains(">no data</text>"));
        assert!(svg.contains("<rect x=\"70\" y=\"40\""), "axes frame still drawn");
    }

    #[test]
    fn heatmap_marks_missing_cells_and_labels_colour_bar() {
        let map = Heatmap {
            title: "test error".into(),
            x_label: "T".into(),
            y_label: "alpha".into(),
            xs: vec![2f64.powi(-6), 2f64.powi(-5), 2f64.powi(-4)],
            ys: vec![0.5, 1.0],
            values: vec![vec![Some(0.125), Some(0.25), None], vec![Some(0.5), Some(0.375), Some(0.25)]],
            overlay: vec![(2f64.powi(-6), 0.5), (2f64.powi(-4), 1.0)],
            metadata: Vec::new(),
        };
        let svg = map.to_svg();
        assert_balanced(&svg);
        assert_eq!(svg.matches(&format!("fill=\"{MISSING_FILL}\"")).count(), 1);
        assert!(svg.contains(">0.125</text>") && svg.contains(">0.5</text>"), "colour bar min/max");
        assert!(svg.contains(">2^-6</text>") && svg.contains(">2^-1</text>"));
        assert!(svg.contains("stroke=\"white\""));
    }

    #[test]
    fn metadata_is_escaped() {
        let mut plot = Plot::new("m", "x", "y", Scale::Linear, Scale::Linear);
        plot.series.push(Series::new("s", vec![(0.0, 1.0), (2.5, 3.0)]));
        plot.metadata.push(("law <fit>".into(), "y = C·T^'δ' & \"more\"".into()));
        let svg = plot.to_svg();
        assert_balanced(&svg);
        assert!(svg.contains("<entry key=\"law &lt;fit&gt;\">y = C·T^&apos;δ&apos; &amp; &quot;more&quot;</entry>"));
        assert!(svg.contains(">0</text>") && svg.contains(">1.5</text>") && !svg.contains("-0<"), "1-2-5 ticks");
    }
}
