//! The report people read: claims with their verdicts, tables, the HTML and Markdown pages
//! (`page`) and the figures (`svg`, rendered to PNG). It only reads the stored outputs.

pub mod page;
pub mod svg;
