//! sgdnoise: reproduce, end to end and incrementally, how SGD noise acts in the lazy and
//! feature-learning regimes of deep nets (Sclocchi, Geiger & Wyart, ICML 2023).
//!
//! Two crates: `sgdnoise_core` has everything that needs no libtorch (pipelines, keys, store,
//! provenance, dispatcher and executors, analyses, the light `sgdnoise` coordinator); this crate
//! adds the training on libtorch (`nn`, `training`, `run`) and the `sgdnoise-torch` binary that
//! runs `train`, `exec`, `doctor` and `verify`. Its modules re-export the core's under the same
//! names, so `sgdnoise::engine::…` and `sgdnoise::stages::…` work as before.

pub use sgdnoise_core::{
    analysis, datasets, engine, host, json_float, named, named_enum, pipeline, provenance, rng, stages,
};

/// The plain types of a run, as the core crate defines them.
pub(crate) use sgdnoise_core::nn as core_nn;

pub mod cli;
pub mod nn;
pub mod run;
pub mod training;
