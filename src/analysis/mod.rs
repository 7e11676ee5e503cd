//! Analysis of collected runs: power-law fits with bootstrap intervals.

pub mod powerlaw;
