//! The paper's SGD dynamics, with an exact stop at the first step of zero training loss.
//!
//! f(w, x) = F(w, x) − F(w0, x); per-sample loss max(0, 1 − α·y·f)/α; every step draws B
//! distinct indices of the P training points and does w ← w − dt·∇(batch mean); dt = T·h·B and
//! t = dt·steps. The one idea to know: once the full training loss is zero no batch has a
//! gradient, so the first n with L(w_n) = 0 is found by checking the full set only at steps whose
//! batch loss is zero and only when the weights moved since the last check. That is exact and
//! costs a full-set pass only a handful of times per run.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::model::{ArchSpec, Net};
use super::observables::{LayerChange, RunRecord, TrajectoryPoint};
use crate::datasets::RunData;
use crate::rng::{DistinctSampler, Rng, Stream};

/// Floating-point precision of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    #[default]
    F32,
    F64,
}

impl Dtype {
    pub fn kind(self) -> Kind {
        match self {
            Dtype::F32 => Kind::Float,
            Dtype::F64 => Kind::Double,
        }
    }

    pub fn parse(name: &str) -> Option<Dtype> {
        match name {
            "f32" | "float32" => Some(Dtype::F32),
            "f64" | "float64" => Some(Dtype::F64),
            _ => None,
        }
    }
}

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

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Converged,
    StepLimit,
    TimeLimit,
    Diverged,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Converged => "converged",
            Status::StepLimit => "step_limit",
            Status::TimeLimit => "time_limit",
            Status::Diverged => "diverged",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid training configuration: {0}")]
    Invalid(String),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
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

/// A dataset on the device with the centring outputs F(w0, x).
pub(super) struct DeviceSet {
    pub(super) x: Tensor,
    pub(super) y: Tensor,
    pub(super) f0: Tensor,
}

const EVAL_CHUNK_FC: i64 = 8192;
const EVAL_CHUNK_CONV: i64 = 256;

/// A run in progress: the net, its weights and data on the device.
pub struct Trainer<'a> {
    pub(super) config: &'a TrainConfig,
    pub(super) net: Net,
    pub(super) w0: Vec<Tensor>,
    pub(super) w: Vec<Tensor>,
    pub(super) train: DeviceSet,
    pub(super) test: DeviceSet,
    pub(super) chunk: i64,
}

impl<'a> Trainer<'a> {
    pub fn new(config: &'a TrainConfig, data: &RunData) -> Result<Self, TrainError> {
        validate(config, data)?;
        let _guard = tch::no_grad_guard();
        let net = Net::new(config.arch, &data.sample_shape).map_err(TrainError::Invalid)?;
        let kind = config.dtype.kind();
        let device = config.device;
        let w0 = net.init(config.seed, kind, device);
        let w: Vec<Tensor> = w0.iter().map(|t| t.copy().set_requires_grad(true)).collect();
        let chunk =
            if matches!(config.arch.kind, super::model::ArchKind::Mnas) { EVAL_CHUNK_CONV } else { EVAL_CHUNK_FC };
        let mut shape = vec![0i64];
        shape.extend(data.sample_shape.iter().map(|&s| s as i64));
        let mut to_set = |x: &[f32], y: &[f32]| -> DeviceSet {
            shape[0] = y.len() as i64;
            let x = Tensor::from_slice(x).reshape(shape.as_slice()).to_kind(kind).to_device(device);
            let y = Tensor::from_slice(y).to_kind(kind).to_device(device);
            let f0 = chunked_forward(&net, &w0, &x, chunk);
            DeviceSet { x, y, f0 }
        };
        let train = to_set(&data.x_train, &data.y_train);
        let test = to_set(&data.x_test, &data.y_test);
        Ok(Trainer { config, net, w0, w, train, test, chunk })
    }

    pub fn net(&self) -> &Net {
        &self.net
    }

    /// Full-set statistics of the training set at the current weights.
    pub fn train_stats(&self) -> SetStats {
        self.stats(&self.train)
    }

    pub fn test_stats(&self) -> SetStats {
        self.stats(&self.test)
    }

    fn stats(&self, set: &DeviceSet) -> SetStats {
        let _guard = tch::no_grad_guard();
        let margins = self.margins(set);
        stats_of(&margins, self.config.alpha)
    }

    /// α·y·f for every point of `set`, in chunks, as float64 on the device.
    pub(super) fn margins(&self, set: &DeviceSet) -> Tensor {
        let _guard = tch::no_grad_guard();
        let n = set.y.size()[0];
        let alpha = self.config.alpha;
        let parts: Vec<Tensor> = (0..n)
            .step_by(self.chunk.max(1) as usize)
            .map(|start| {
                let len = self.chunk.min(n - start);
                let f = self.net.forward(&self.w, &set.x.narrow(0, start, len)) - set.f0.narrow(0, start, len);
                (f * set.y.narrow(0, start, len) * alpha).to_kind(Kind::Double)
            })
            .collect();
        if parts.is_empty() {
            return Tensor::zeros([0], (Kind::Double, self.config.device));
        }
        Tensor::cat(&parts, 0)
    }

    /// α·y·f of the training points at `idx`.
    pub(super) fn margins_at(&self, idx: &Tensor) -> Tensor {
        let _guard = tch::no_grad_guard();
        let f = self.net.forward(&self.w, &self.train.x.index_select(0, idx)) - self.train.f0.index_select(0, idx);
        f * self.train.y.index_select(0, idx) * self.config.alpha
    }

    /// Trains until the first zero-loss step or a limit, and returns the run's record.
    pub fn run(mut self) -> RunRecord {
        let start = Instant::now();
        let config = self.config;
        let dt = config.dt();
        let alpha = config.alpha;
        let batch = config.batch;
        let device = config.device;
        let mut sampler =
            DistinctSampler::new(self.train.y.size()[0] as usize, Rng::stream(config.seed, Stream::Batches));
        let mut trajectory = Vec::new();
        let mut next_ckpt: u64 = 0;
        let mut steps: u64 = 0;
        let mut moved = true;
        let mut checks: u64 = 0;
        let mut suspects: Option<Tensor> = None;
        let mut check_wall = 0.0;
        let status = loop {
            if config.trajectory && steps == next_ckpt {
                trajectory.push(self.checkpoint(
                    steps,
                    dt,
                    next_ckpt.is_power_of_two() && next_ckpt.trailing_zeros().is_multiple_of(2) || steps == 0,
                ));
                next_ckpt = if next_ckpt == 0 { 1 } else { next_ckpt * 2 };
            }
            if steps >= config.max_steps {
                break Status::StepLimit;
            }
            if steps.is_multiple_of(64) {
                if let Some(limit) = config.max_wall {
                    if start.elapsed().as_secs_f64() > limit {
                        break Status::TimeLimit;
                    }
                }
            }
            let idx = Tensor::from_slice(sampler.draw(batch)).to_device(device);
            let xb = self.train.x.index_select(0, &idx);
            let yb = self.train.y.index_select(0, &idx);
            let f0b = self.train.f0.index_select(0, &idx);
            let f = self.net.forward(&self.w, &xb) - f0b;
            let loss = (1.0f64 - f * yb * alpha).relu().mean(None::<Kind>) * (1.0 / alpha);
            let value = loss.double_value(&[]);
            if !value.is_finite() {
                break Status::Diverged;
            }
            if value > 0.0 {
                let grads = Tensor::run_backward(&[&loss], &self.w, false, false);
                let _guard = tch::no_grad_guard();
                for (w, g) in self.w.iter_mut().zip(&grads) {
                    let _ = w.g_sub_(&(g * dt));
                }
                moved = true;
            } else if moved {
                // Candidate stop. The points closest to the margin at the last full check are the
                // likeliest still unfitted: finding one proves L(w) > 0 at the cost of a tiny
                // forward pass; only when all of them are fitted do we pass over the full set.
                let t0 = Instant::now();
                moved = false;
                let suspect_unfitted = match &suspects {
                    Some(idx) => {
                        let m = self.margins_at(idx);
                        // NaN compares false: a non-finite suspect sends us to the full check.
                        bool::try_from(m.lt(1.0).any()).unwrap_or(false)
                    }
                    None => false,
                };
                if !suspect_unfitted {
                    let margins = self.margins(&self.train);
                    let stats = stats_of(&margins, alpha);
                    checks += 1;
                    if stats.non_finite {
                        check_wall += t0.elapsed().as_secs_f64();
                        break Status::Diverged;
                    }
                    if stats.unfitted == 0 {
                        check_wall += t0.elapsed().as_secs_f64();
                        break Status::Converged;
                    }
                    let k = (stats.unfitted as i64).max(SUSPECTS).min(margins.size()[0]);
                    suspects = Some(margins.topk(k, 0, false, false).1.to_device(device));
                }
                check_wall += t0.elapsed().as_secs_f64();
            }
            steps += 1;
        };
        let wall_train = start.elapsed().as_secs_f64();
        self.finish(status, steps, dt, trajectory, wall_train, checks, check_wall)
    }

    pub(super) fn checkpoint(&self, steps: u64, dt: f64, with_test: bool) -> TrajectoryPoint {
        let train = self.train_stats();
        let test_err = if with_test { Some(self.test_stats().err) } else { None };
        TrajectoryPoint {
            step: steps,
            t: dt * steps as f64,
            train_loss: train.loss,
            unfitted: train.unfitted,
            test_err,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish(
        self,
        status: Status,
        steps: u64,
        dt: f64,
        mut trajectory: Vec<TrajectoryPoint>,
        wall_train: f64,
        checks: u64,
        check_wall: f64,
    ) -> RunRecord {
        let train = self.train_stats();
        let test = self.test_stats();
        let status = settle(status, &train, &test, steps, dt, self.config.trajectory.then_some(&mut trajectory));
        let _guard = tch::no_grad_guard();
        let mut layers = Vec::new();
        let (mut dw2, mut w02) = (0.0, 0.0);
        for ((name, w), w0) in self.net.param_names().into_iter().zip(&self.w).zip(&self.w0) {
            let d2 = sq_norm(&(w - w0));
            let n2 = sq_norm(w0);
            dw2 += d2;
            w02 += n2;
            layers.push(LayerChange {
                name: name.to_owned(),
                dw_norm: d2.sqrt(),
                w0_norm: n2.sqrt(),
                rel_dw: (d2 / n2).sqrt(),
            });
        }
        let (w1, w_perp) = if matches!(self.config.arch.kind, super::model::ArchKind::Linear) {
            let dw: Vec<f64> =
                Vec::<f64>::try_from((&self.w[0] - &self.w0[0]).to_kind(Kind::Double).to_device(Device::Cpu))
                    .unwrap_or_default();
            let w1 = dw.first().copied().unwrap_or(f64::NAN);
            let perp = dw.iter().skip(1).map(|v| v * v).sum::<f64>().sqrt();
            (Some(w1), Some(perp))
        } else {
            (None, None)
        };
        let wall_s = wall_train;
        RunRecord {
            status,
            steps,
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
            wall_s,
            steps_per_s: if wall_s > 0.0 { steps as f64 / wall_s } else { 0.0 },
            full_checks: checks,
            check_wall_s: check_wall,
            n_params: self.net.param_count(),
        }
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

/// Loss, error and unfitted count from the margins α·y·f; a non-finite output is an error and
/// unfitted.
pub(super) fn stats_of(margins: &Tensor, alpha: f64) -> SetStats {
    let n = margins.size()[0];
    if n == 0 {
        return SetStats { loss: 0.0, err: 0.0, unfitted: 0, non_finite: false };
    }
    let finite = margins.isfinite();
    let non_finite = !bool::try_from(finite.all()).unwrap_or(false);
    let not_finite = finite.logical_not();
    let loss = f64::try_from((1.0f64 - margins).relu().sum(Kind::Double)).unwrap_or(f64::NAN) / alpha;
    let err = i64::try_from(margins.le(0.0).logical_or(&not_finite).sum(Kind::Int64)).unwrap_or(n);
    let unfitted = i64::try_from(margins.lt(1.0).logical_or(&not_finite).sum(Kind::Int64)).unwrap_or(n);
    SetStats { loss: loss / n as f64, err: err as f64 / n as f64, unfitted: unfitted as usize, non_finite }
}

/// How many of the lowest-margin points of the last full check are re-checked first.
pub(super) const SUSPECTS: i64 = 32;

fn sq_norm(t: &Tensor) -> f64 {
    f64::try_from(t.to_kind(Kind::Double).square().sum(Kind::Double)).unwrap_or(f64::NAN)
}

pub(super) fn chunked_forward(net: &Net, w: &[Tensor], x: &Tensor, chunk: i64) -> Tensor {
    let n = x.size()[0];
    if n <= chunk {
        return net.forward(w, x);
    }
    let parts: Vec<Tensor> =
        (0..n).step_by(chunk as usize).map(|s| net.forward(w, &x.narrow(0, s, chunk.min(n - s)))).collect();
    Tensor::cat(&parts, 0)
}

pub(super) fn validate(c: &TrainConfig, data: &RunData) -> Result<(), TrainError> {
    let p = data.p();
    let bad = |m: String| Err(TrainError::Invalid(m));
    if !(c.alpha > 0.0 && c.alpha.is_finite()) {
        return bad(format!("alpha must be positive and finite, got {}", c.alpha));
    }
    if !(c.temperature > 0.0 && c.temperature.is_finite()) {
        return bad(format!("T must be positive and finite, got {}", c.temperature));
    }
    if c.batch == 0 || c.batch > p {
        return bad(format!("batch B = {} must be between 1 and P = {p}", c.batch));
    }
    if data.x_train.len() != p * data.sample_len() || data.x_test.len() != data.y_test.len() * data.sample_len() {
        return bad("data arrays do not match the sample shape".into());
    }
    Ok(())
}

/// Trains one run: the library function behind `sgdnoise train` and the pipeline's train stage.
/// The perceptron on the CPU takes the plain-Rust path (same definitions, init and batches).
pub fn train(config: &TrainConfig, data: &RunData) -> Result<RunRecord, TrainError> {
    if config.arch.kind == super::model::ArchKind::Linear && config.device == Device::Cpu {
        validate(config, data)?;
        return Ok(super::perceptron::train_perceptron(config, data));
    }
    train_with_libtorch(config, data)
}

/// Trains one run through libtorch, whatever the architecture.
pub fn train_with_libtorch(config: &TrainConfig, data: &RunData) -> Result<RunRecord, TrainError> {
    Ok(Trainer::new(config, data)?.run())
}
