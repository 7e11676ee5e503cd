//! Scatter plots with seed spread, fitted laws with bootstrap bands and marker lines: [`Plot`]
//! and what it draws.

use super::axis::{Axis, Scale};
use super::canvas::{band_polygon, frame, line, marker, polyline, Canvas, HEIGHT, LEFT, NEUTRAL, PALETTE, TOP, WIDTH};
use super::legend::{legend, legend_width, stack_rows, LegendEntry, LEGEND_ROW, MARK_ROW};
use super::measure::measure;
use super::text::num;

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
    /// Shaded ranges of x (a fit's window), drawn under everything else.
    pub vbands: Vec<(f64, f64)>,
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
            vbands: vec![],
            hlines: vec![],
            metadata: vec![],
        }
    }

    pub(super) fn pair(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        Some((self.x_scale.apply(x)?, self.y_scale.apply(y)?))
    }

    /// Every drawable (x, y) the series need room for, in axis space: points, error-bar ends, band edges.
    pub(super) fn extent(&self) -> Vec<(f64, f64)> {
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

    pub(super) fn legend_entries(&self) -> Vec<LegendEntry> {
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
        for &(lo, hi) in &self.vbands {
            if let (Some(a), Some(b)) = (self.x_scale.apply(lo), self.x_scale.apply(hi)) {
                let (a, b) = (ax.px(a), ax.px(b));
                c.out += &format!(
                    "<rect class=\"window\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#888\" fill-opacity=\"0.15\"/>\n",
                    num(a.min(b)),
                    num(top),
                    num((a - b).abs()),
                    num(bottom - top)
                );
            }
        }
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
pub(super) fn clamp_span(a: f64, b: f64, right: f64) -> (f64, f64) {
    let shift = if a < LEFT {
        LEFT - a
    } else if b > right {
        right - b
    } else {
        0.0
    };
    (a + shift, b + shift)
}
