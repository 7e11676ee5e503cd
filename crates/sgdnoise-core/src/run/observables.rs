//! What a run reports: one record with the stop, the errors, how far the weights moved, and a
//! log-spaced trajectory.

use serde::{Deserialize, Serialize};

use super::names::Status;

/// ‖w−w0‖ of one weight tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerChange {
    pub name: String,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub rel_dw: f64,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub dw_norm: f64,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub w0_norm: f64,
}

/// A point of the trajectory: full training loss and unfitted count, test error every other
/// checkpoint (steps 0, 1, 4, 16, …) and at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryPoint {
    pub step: u64,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub t: f64,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub train_loss: f64,
    pub unfitted: usize,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_err: Option<f64>,
}

/// The outcome of one training run (the parameters are added by the caller).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub status: Status,
    /// SGD steps done (zero-gradient steps included).
    pub steps: u64,
    /// Steps whose batch loss was positive, i.e. that changed the weights.
    pub updates: u64,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub dt: f64,
    /// t = dt·steps at the end of the run.
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub t: f64,
    /// t at the first step of zero training loss; null when the run did not converge.
    pub t_star: Option<f64>,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub train_loss: f64,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub train_err: f64,
    /// Training points with α·y·f < 1 at the end.
    pub unfitted: usize,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub test_err: f64,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub test_loss: f64,
    /// ‖w−w0‖/‖w0‖ over all weights.
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub rel_dw: f64,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub dw_norm: f64,
    #[serde(deserialize_with = "crate::json_float::f64")]
    pub w0_norm: f64,
    pub layers: Vec<LayerChange>,
    /// Perceptron: the component of w−w0 along the teacher (x1).
    pub w1: Option<f64>,
    /// Perceptron: ‖w−w0‖ orthogonal to the teacher.
    pub w_perp: Option<f64>,
    pub trajectory: Vec<TrajectoryPoint>,
    /// Full training-set passes made to detect the stop.
    pub full_checks: u64,
    /// Trainable scalars.
    pub n_params: i64,
    /// How long it took: printed by `sgdnoise train` and recorded in provenance, never part of
    /// a stored output (re-executions compare bitwise).
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
}

/// The clock of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Wall time of the training loop (data loading excluded).
    pub wall_s: f64,
    pub steps_per_s: f64,
    /// Wall time of the full training-set passes that detect the stop.
    pub check_wall_s: f64,
}

impl RunRecord {
    /// The run's clock (zero for a record read back from the store, which has none).
    pub fn clock(&self) -> Timing {
        self.timing.clone().unwrap_or_default()
    }
}
