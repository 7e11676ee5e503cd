//! The legend, right of the plotting area, and the rows in which the labels of marker lines
//! stack above it.

use super::canvas::{marker, polyline, rect, Canvas, PALETTE};
use super::measure::measure;

/// One legend row: the sample drawn for it and its label.
pub(super) struct LegendEntry {
    pub(super) label: String,
    pub(super) colour: usize,
    pub(super) line: bool,
    pub(super) dashed: bool,
    pub(super) marker: bool,
    pub(super) band: bool,
}

pub(super) const LEGEND_ROW: f64 = 17.0;
/// Height of a row of marker-line labels above the frame.
pub(super) const MARK_ROW: f64 = 18.0;
pub(super) const LEGEND_SAMPLE: f64 = 30.0;

pub(super) fn legend_width(entries: &[LegendEntry]) -> f64 {
    entries.iter().map(|e| measure(&e.label, 11.0).0).fold(0.0, f64::max) + LEGEND_SAMPLE + 8.0
}

/// Draws the legend with its top-left corner at (x0, y0), one entry per row.
pub(super) fn legend(c: &mut Canvas, entries: &[LegendEntry], x0: f64, y0: f64) {
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
pub(super) fn stack_rows(spans: &[(f64, f64)]) -> Vec<usize> {
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
