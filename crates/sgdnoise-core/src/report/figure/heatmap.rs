//! Heatmaps over a (T, α) grid, coloured by viridis, with overlays (T_opt, fitted lines).

use super::axis::Scale;
use super::canvas::{frame, line, marker, polyline, rect, Canvas, BOTTOM, HEIGHT, LEFT, NEUTRAL, TOP, WIDTH};
use super::legend::{legend, LegendEntry, LEGEND_ROW, LEGEND_SAMPLE};
use super::measure::measure;
use super::plot::Overlay;
use super::text::{escape, num, pow2_or_sig3, sig3};

/// Viridis sampled at five stops (perceptually uniform and colour-blind safe).
pub(super) const VIRIDIS: [(u8, u8, u8); 5] =
    [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)];
pub const MISSING_FILL: &str = "#d9d9d9";

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

pub(super) fn viridis(t: f64) -> String {
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
pub(super) fn grid_px(anchors: &[(f64, f64)], v: f64) -> Option<f64> {
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
pub(super) fn tick_stride(n: usize, cell: f64, widths: impl Iterator<Item = f64>) -> usize {
    let widest = widths.fold(0.0, f64::max) + 6.0;
    ((widest / cell.max(1e-9)).ceil() as usize).clamp(1, n.max(1))
}
