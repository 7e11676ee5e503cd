//! The report people read: the claims with their verdicts (`claims`, put together by `build`), in
//! the paper's notation (`notation`), their figures (`charts`, drawn by `figure`, rendered to
//! PNG), as one HTML page (`html`) and a Markdown twin (`markdown`). It only reads the stored
//! outputs.

pub mod audit;
mod build;
mod charts;
pub mod claims;
mod crossover;
pub mod figure;
mod html;
mod markdown;
pub mod notation;
#[cfg(test)]
mod tests;
pub mod verdict;

pub use build::build;
pub use claims::{ClaimRow, Figure, Report, Result, Section, Verdict};
