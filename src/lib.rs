//! sgdnoise: reproduce, end to end and incrementally, how SGD noise acts in the lazy and
//! feature-learning regimes of deep nets (Sclocchi, Geiger & Wyart, ICML 2023).
//!
//! Data flows one way: pipeline file → validated spec (`pipeline`) → instances, keys and plan
//! (`engine`) → dispatcher → stage kinds (`stages`, on `datasets` and `nn`) → store + provenance
//! (`provenance`) → analysis (`analysis`). The command line (`cli`) drives it.

#[macro_use]
pub mod named;

pub mod analysis;
pub mod cli;
pub mod datasets;
pub mod engine;
pub mod json_float;
pub mod nn;
pub mod pipeline;
pub mod provenance;
pub mod rng;
pub mod run;
pub mod stages;
