//! Pipelines: the YAML file (`spec`), sweeps and instance ids (`sweep`), the stage graph
//! (`graph`), target selection (`targets`), the bounds on input (`limits`), and the located tree that lets every error point at the text (`located`).

pub mod graph;
pub mod limits;
pub mod located;
pub mod overrides;
pub mod spec;
pub mod sweep;
pub mod targets;

pub use spec::{load, load_with, InstanceSpec, Pipeline, PipelineError, Stage};
