//! What a run reports: one record with the stop, the errors, how far the weights moved, and a
//! log-spaced trajectory.

use serde::{Deserialize, Serialize};

use super::dynamics::Status;

/// ‖w−w0‖ of one weight tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerChange {
    pub name: String,
    pub rel_dw: f64,
    pub dw_norm: f64,
    pub w0_norm: f64,
}

/// A point of the trajectory: full training loss and unfitted count, test error every other
/// checkpoint (steps 0, 1, 4, 16, …) and at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryPoint {
    pub step: u64,
    pub t: f64,
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
    pub dt: f64,
    /// t = dt·steps at the end of the run.
    pub t: f64,
    /// t at the first step of zero training loss; null when the run did not converge.
    pub t_star: Option<f64>,
    pub train_loss: f64,
    pub train_err: f64,
    /// Training points with α·y·f < 1 at the end.
    pub unfitted: usize,
    pub test_err: f64,
    pub test_loss: f64,
    /// ‖w−w0‖/‖w0‖ over all weights.
    pub rel_dw: f64,
    pub dw_norm: f64,
    pub w0_norm: f64,
    pub layers: Vec<LayerChange>,
    /// Perceptron: the component of w−w0 along the teacher (x1).
    pub w1: Option<f64>,
    /// Perceptron: ‖w−w0‖ orthogonal to the teacher.
    pub w_perp: Option<f64>,
    pub trajectory: Vec<TrajectoryPoint>,
    /// Wall time of the training loop (data loading excluded).
    pub wall_s: f64,
    pub steps_per_s: f64,
    /// Full training-set passes made to detect the stop.
    pub full_checks: u64,
    pub check_wall_s: f64,
    /// Trainable scalars.
    pub n_params: i64,
}
