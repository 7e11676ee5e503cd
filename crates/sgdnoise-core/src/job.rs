//! A planned instance as it travels to whoever executes it: the [`Job`] (written to
//! `cache/jobs/KEY.json` for `sgdnoise exec` and Slurm nodes) and the upstream [`Input`]s it
//! reads. Plain data: the engine makes jobs, the stage kinds execute them, and the stored
//! outputs are read through their inputs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::canonical::Params;

/// One upstream instance as a job sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub stage: String,
    pub kind: String,
    pub instance: String,
    pub key: String,
    pub params: Params,
    /// Output name → object hash.
    pub outputs: BTreeMap<String, String>,
}

/// Everything needed to execute one instance; written to `cache/jobs/KEY.json` for
/// `sgdnoise exec --key KEY`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub key: String,
    pub stage: String,
    pub instance: String,
    pub kind: String,
    pub params: Params,
    pub inputs: Vec<Input>,
    /// libtorch intra-op threads for this job.
    pub threads: usize,
    /// `cpu`, `cuda`, `cuda:N`.
    pub device: String,
    /// Set when an aggregate runs over part of its upstream (`--partial`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
    /// The libtorch version the key was made with (kinds that use libtorch): the worker that
    /// loads another one refuses the job rather than record it under a key that lies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libtorch: Option<String>,
}

/// How much of its upstream an aggregate computed with `--partial` saw: instances done (its
/// inputs) of those planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partial {
    pub done: usize,
    pub planned: usize,
}
