//! Analysis of collected runs: power-law fits with bootstrap intervals over seeds, crossover
//! temperatures, optimal temperatures, and the SVG figures of the report.

pub mod crossover;
pub mod optimum;
pub mod powerlaw;
pub mod report;
pub mod svg;
pub mod table;
