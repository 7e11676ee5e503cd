//! The skeleton every training loop shares (the FC net's, the perceptron's, batched replicas'):
//! its configuration, its [`Schedule`] (when a trajectory point is taken and when the wall clock
//! is read), and how its end becomes a record ([`record`], with the exact stop settled once).
//! The loops differ only in their step and in how they detect the first zero-loss step.

use sgdnoise_core::run::{ArchSpec, Dtype, LayerChange, RunRecord, Status, Timing, TrajectoryPoint};
use tch::Device;

/// Everything about a run except its data.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub arch: ArchSpec,
    pub alpha: f64,
    pub temperature: f64,
    pub batch: usize,
    pub seed: u64,
    pub max_steps: u64,
    /// Wall-clock limit in seconds.
    pub max_wall: Option<f64>,
    pub dtype: Dtype,
    pub device: Device,
    /// Record the log-spaced trajectory (a full-set pass at steps 0, 1, 2, 4, …).
    pub trajectory: bool,
}

impl TrainConfig {
    /// dt = T·h·B.
    pub fn dt(&self) -> f64 {
        self.temperature * self.arch.h() as f64 * self.batch as f64
    }
}

/// When a loop takes a trajectory point and reads the wall clock.
///
/// - Trajectory points at steps 0, 1, 2, 4, 8, …; the test set is measured at step 0 and at the
///   powers of 4 (on its first [`TRAJECTORY_TEST_POINTS`] points).
/// - The clock is read against `max_wall` every `wall_stride` steps (see the strides below): a
///   limit is a limit to within one stride, and a run that ends at it is marked `time_limit`.
pub(super) struct Schedule {
    trajectory: bool,
    next_point: u64,
    max_wall: Option<f64>,
    wall_stride: u64,
}

impl Schedule {
    /// A net's step can take a noticeable part of a second (MnasNet on a CPU core): every step.
    pub(super) const NET_STRIDE: u64 = 1;
    /// Batched replicas: each step is R replicas' steps, each on its own share of the clock.
    pub(super) const REPLICAS_STRIDE: u64 = 64;
    /// A perceptron step costs tens of nanoseconds, about what reading the clock costs.
    pub(super) const PERCEPTRON_STRIDE: u64 = 4096;

    pub(super) fn new(config: &TrainConfig, wall_stride: u64) -> Schedule {
        Schedule { trajectory: config.trajectory, next_point: 0, max_wall: config.max_wall, wall_stride }
    }

    /// Whether a trajectory point is due at `steps`, and if so whether it measures the test set;
    /// the point counts as taken.
    pub(super) fn point_due(&mut self, steps: u64) -> Option<bool> {
        if !self.trajectory || steps != self.next_point {
            return None;
        }
        let with_test = steps == 0 || self.next_point.trailing_zeros().is_multiple_of(2);
        self.next_point = if self.next_point == 0 { 1 } else { self.next_point * 2 };
        Some(with_test)
    }

    /// Whether the clock is read at `steps` and `clock()` (the run's seconds) is past the limit.
    #[inline]
    pub(super) fn past_wall(&self, steps: u64, clock: impl FnOnce() -> f64) -> bool {
        match self.max_wall {
            Some(limit) => steps.is_multiple_of(self.wall_stride) && clock() > limit,
            None => false,
        }
    }

    /// The first step from `steps` on at which [`Schedule::point_due`] or [`Schedule::past_wall`]
    /// may fire: a loop may take the steps before it without asking either.
    pub(super) fn next_due(&self, steps: u64) -> u64 {
        let point = if self.trajectory { self.next_point } else { u64::MAX };
        let wall = if self.max_wall.is_some() { steps.next_multiple_of(self.wall_stride) } else { u64::MAX };
        point.min(wall)
    }

    /// Whether `seconds` (now plus what the next piece of work will cost) is past the limit.
    pub(super) fn over_wall(&self, seconds: f64) -> bool {
        self.max_wall.is_some_and(|limit| seconds > limit)
    }
}

/// The full-set statistics of a set of points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SetStats {
    /// Mean hinge loss max(0, 1 − α·y·f)/α.
    pub loss: f64,
    /// Fraction with y·f ≤ 0 (or a non-finite output).
    pub err: f64,
    /// Points with α·y·f < 1 (non-zero loss).
    pub unfitted: usize,
    /// Any non-finite output.
    pub non_finite: bool,
}

impl SetStats {
    /// From the margins α·y·f of a set's points; a non-finite margin counts as an error and
    /// unfitted, and makes the loss NaN.
    pub(super) fn of_margins(margins: &[f64], alpha: f64) -> SetStats {
        let (mut loss, mut err, mut unfitted, mut non_finite) = (0.0, 0usize, 0usize, false);
        for &m in margins {
            if !m.is_finite() {
                non_finite = true;
                err += 1;
                unfitted += 1;
                loss = f64::NAN;
                continue;
            }
            if m <= 0.0 {
                err += 1;
            }
            if m < 1.0 {
                unfitted += 1;
                loss += (1.0 - m) / alpha;
            }
        }
        let n = margins.len().max(1) as f64;
        SetStats { loss: loss / n, err: err as f64 / n, unfitted, non_finite }
    }
}

/// The trajectory point at step 0 of a net's run: f(w0, x) = F(w0, x) − F(w0, x) = 0 by
/// definition, so every one of the `p` training points has loss 1/α, is unfitted and (y·f = 0)
/// counts as an error. No pass needed, and no rounding.
pub(super) fn start_point(p: usize, alpha: f64, with_test: bool) -> TrajectoryPoint {
    TrajectoryPoint { step: 0, t: 0.0, train_loss: 1.0 / alpha, unfitted: p, test_err: with_test.then_some(1.0) }
}

/// The test error along the trajectory is measured on the first this many test points (the final
/// test error on all of them): a full 8192-point pass at every checkpoint was 40% of a short run.
pub(super) const TRAJECTORY_TEST_POINTS: usize = 2048;

/// What a training loop counted, for the record.
pub(super) struct LoopCounts {
    pub(super) updates: u64,
    pub(super) checks: u64,
    pub(super) check_wall: f64,
}

/// How a training loop ended, and what it counted.
pub(super) struct LoopEnd {
    pub(super) status: Status,
    pub(super) steps: u64,
    pub(super) dt: f64,
    pub(super) trajectory: Vec<TrajectoryPoint>,
    /// Wall time of the loop.
    pub(super) wall_s: f64,
    pub(super) counts: LoopCounts,
}

/// How far the weights moved from w0: per tensor, in all (squared), and for the perceptron along
/// the teacher direction and orthogonally to it.
pub(super) struct Movement {
    pub(super) layers: Vec<LayerChange>,
    pub(super) dw2: f64,
    pub(super) w02: f64,
    pub(super) w1: Option<f64>,
    pub(super) w_perp: Option<f64>,
}

impl Movement {
    /// No tensor yet, no perceptron components.
    pub(super) fn new() -> Movement {
        Movement { layers: Vec::new(), dw2: 0.0, w02: 0.0, w1: None, w_perp: None }
    }

    /// Adds the tensor `name`, which moved by ‖w−w0‖² = `d2` from ‖w0‖² = `n2`.
    pub(super) fn add(&mut self, name: &str, d2: f64, n2: f64) {
        self.dw2 += d2;
        self.w02 += n2;
        self.layers.push(LayerChange {
            name: name.to_owned(),
            dw_norm: d2.sqrt(),
            w0_norm: n2.sqrt(),
            rel_dw: (d2 / n2).sqrt(),
        });
    }
}

/// A run's record, whichever path trained it, from its loop's end, the final statistics of the
/// training and test sets, and the weights' movement.
pub(super) fn record(
    end: LoopEnd,
    train: &SetStats,
    test: &SetStats,
    moved: Movement,
    with_trajectory: bool,
    n_params: i64,
) -> RunRecord {
    let LoopEnd { status, steps, dt, mut trajectory, wall_s, counts } = end;
    // Points recorded after the stop, while it was pending, were taken at the same weights.
    trajectory.retain(|p| p.step <= steps);
    let status = settle(status, train, test, steps, dt, with_trajectory.then_some(&mut trajectory));
    let Movement { layers, dw2, w02, w1, w_perp } = moved;
    RunRecord {
        status,
        steps,
        updates: counts.updates,
        dt,
        t: dt * steps as f64,
        t_star: (status == Status::Converged).then_some(dt * steps as f64),
        train_loss: train.loss,
        train_err: train.err,
        unfitted: train.unfitted,
        test_err: test.err,
        test_loss: test.loss,
        rel_dw: (dw2 / w02).sqrt(),
        dw_norm: dw2.sqrt(),
        w0_norm: w02.sqrt(),
        layers,
        w1,
        w_perp,
        trajectory,
        full_checks: counts.checks,
        n_params,
        timing: Some(Timing {
            wall_s,
            steps_per_s: if wall_s > 0.0 { steps as f64 / wall_s } else { 0.0 },
            check_wall_s: counts.check_wall,
        }),
    }
}

/// The run's final status given the full training set at its end (a limit reached exactly at
/// the first zero-loss step is convergence; a non-finite output is divergence), and the last
/// trajectory point when one is recorded.
pub(super) fn settle(
    mut status: Status,
    train: &SetStats,
    test: &SetStats,
    steps: u64,
    dt: f64,
    trajectory: Option<&mut Vec<TrajectoryPoint>>,
) -> Status {
    if status != Status::Diverged && (train.non_finite || !train.loss.is_finite()) {
        status = Status::Diverged;
    }
    if matches!(status, Status::StepLimit | Status::TimeLimit) && train.unfitted == 0 && !train.non_finite {
        status = Status::Converged;
    }
    if let Some(trajectory) = trajectory {
        if trajectory.last().map(|p| p.step) != Some(steps) {
            trajectory.push(TrajectoryPoint {
                step: steps,
                t: dt * steps as f64,
                train_loss: train.loss,
                unfitted: train.unfitted,
                test_err: Some(test.err),
            });
        }
    }
    status
}
