//! What a run is, by name: its architecture, its float type and how it ended. Plain types,
//! shared by the coordinator (which plans, keys and reads records) and the training code.

use serde::{Deserialize, Serialize};

use super::act::Activation;

crate::named_enum! {
    /// The family of a net.
    pub enum ArchKind {
        Linear = "linear",
        Fc = "fc",
        Mnas = "mnas",
    }
}

/// An architecture with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ArchSpec {
    pub kind: ArchKind,
    /// Hidden layers L (fc only).
    pub depth: usize,
    /// Width h (fc, mnas); 1 for the perceptron.
    pub width: usize,
    pub act: Activation,
}

impl ArchSpec {
    /// The h in T = dt / (h·B).
    pub fn h(&self) -> usize {
        match self.kind {
            ArchKind::Linear => 1,
            _ => self.width,
        }
    }
}

crate::named_enum! {
    /// The float type of the weights and data.
    pub enum Dtype {
        F32 = "f32" | "float32",
        F64 = "f64" | "float64",
    }
}

#[allow(clippy::derivable_impls)] // the enum's derives come from `named_enum!`
impl Default for Dtype {
    fn default() -> Self {
        Dtype::F32
    }
}

crate::named_enum! {
    /// Why a run ended.
    pub enum Status {
        Converged = "converged",
        StepLimit = "step_limit",
        TimeLimit = "time_limit",
        Diverged = "diverged",
    }
}
