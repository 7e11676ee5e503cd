//! What a node and the coordinator exchange besides the job files: the result file a node leaves
//! for each instance (`slurm/results/KEY.json`), and where it ran.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::engine::exec::ExecResult;
use crate::store::Store;

/// What a node leaves for the coordinator: `slurm/results/KEY.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeResult {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<ExecResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub started_at: String,
    pub seconds: f64,
    /// Where it ran: node, Slurm job id, array index, devices.
    pub place: Map<String, Value>,
}

/// The result file of `key`.
pub fn result_path(store: &Store, key: &str) -> PathBuf {
    store.root().join("slurm/results").join(format!("{key}.json"))
}

/// Where this node task runs, from Slurm's environment.
pub fn node_place() -> Map<String, Value> {
    let var = |name: &str| std::env::var(name).ok();
    let mut place = Map::new();
    place.insert("node".into(), json!(var("SLURMD_NODENAME").unwrap_or_else(crate::engine::clock::hostname)));
    place.insert("executor".into(), json!("slurm"));
    if let Some(id) = var("SLURM_ARRAY_JOB_ID").or_else(|| var("SLURM_JOB_ID")) {
        place.insert("slurm_job_id".into(), json!(id));
    }
    if let Some(i) = var("SLURM_ARRAY_TASK_ID") {
        place.insert("slurm_array_index".into(), json!(i));
    }
    if let Some(d) = var("CUDA_VISIBLE_DEVICES") {
        place.insert("cuda_visible_devices".into(), json!(d));
    }
    place
}
