//! sgdnoise: reproduce, end to end and incrementally, how SGD noise acts in the lazy and
//! feature-learning regimes of deep nets (Sclocchi, Geiger & Wyart, ICML 2023).
//!
//! Data flows one way: datasets → training runs on libtorch (`nn`) → records; the command line
//! (`cli`) drives it.

pub mod cli;
pub mod datasets;
pub mod nn;
pub mod rng;
pub mod run;
