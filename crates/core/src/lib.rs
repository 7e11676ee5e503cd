//! sgdnoise without libtorch: everything but the training itself. Pipelines, keys, the store,
//! provenance, the dispatcher and its executors (local workers, Slurm), the stage kinds'
//! declarations and the analyses, and the light `sgdnoise` coordinator binary, which plans, keys
//! and records without loading libtorch and hands training to `sgdnoise-torch`.
//!
//! Data flows one way: pipeline file → validated spec (`pipeline`) → instances, keys and plan
//! (`engine`) → dispatcher → executors → stage kinds (`stages`) → store + provenance
//! (`provenance`) → analysis (`analysis`). The command line (`cli`) drives it.

#[macro_use]
pub mod named;

pub mod analysis;
pub mod cli;
pub mod datasets;
pub mod engine;
pub mod host;
pub mod json_float;
pub mod nn;
pub mod pipeline;
pub mod provenance;
pub mod rng;
pub mod run;
pub mod stages;
