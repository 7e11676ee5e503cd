//! Dependency-light SVG figures for the report: scatter plots with seed spread, fitted laws with
//! bootstrap bands, marker lines, on linear or log axes, and heatmaps over a (T, α) grid; plus
//! their PNG twins and the check that no label covers data or another label. One concept a file:
//! text, measure, canvas, axis, legend, plot, heatmap, render.
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

mod axis;
mod canvas;
mod heatmap;
mod legend;
mod measure;
mod plot;
mod render;
#[cfg(test)]
mod tests;
mod text;

pub use axis::Scale;
pub use canvas::{NEUTRAL, PLOT_AREA};
pub use heatmap::{Heatmap, MISSING_FILL};
pub use measure::TextBox;
pub use plot::{HLine, Overlay, Plot, Series, VLine};
pub use render::{check_layout, png, text_boxes, FigureError, PNG_SCALE};
pub use text::{escape, minus, plain, pow2_or_sig3, power, sig3};
