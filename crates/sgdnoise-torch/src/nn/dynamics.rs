//! The paper's SGD dynamics, with an exact stop at the first step of zero training loss.
//!
//! f(w, x) = F(w, x) − F(w0, x); per-sample loss max(0, 1 − α·y·f)/α; every step draws B
//! distinct indices of the P training points and does w ← w − dt·∇(batch mean); dt = T·h·B and
//! t = dt·steps. The one idea to know: once the full training loss is zero no batch has a
//! gradient, so the first n with L(w_n) = 0 is found by examining the full set only after a
//! stretch of zero-loss batches at unchanged, unchecked weights ([`StopDetector`]). That is exact
//! and costs a full-set pass only a handful of times per run. The loop ([`run`]) drives anything
//! that implements [`Dynamics`]: libtorch's [`Trainer`] (fully connected nets with a hand-written
//! step, `fc.rs`; the others with autograd's gradient) and the CPU's own float32 FC net
//! (`fc_cpu`).

use std::time::Instant;

use tch::{Device, Kind, Tensor};

use super::fc::{first_layer_layout, to_host, FcStep};
use super::model::Net;
use super::skeleton::{
    record, start_point, LoopCounts, LoopEnd, Movement, Schedule, SetStats, TrainConfig, TRAJECTORY_TEST_POINTS,
};
use sgdnoise_core::datasets::RunData;
use sgdnoise_core::rng::{DistinctSampler, Rng, Stream};
use sgdnoise_core::run::{ArchKind, Dtype, RunRecord, Status, TrajectoryPoint};

/// The libtorch kind of a float type.
pub trait TorchKind {
    fn kind(self) -> Kind;
}

impl TorchKind for Dtype {
    fn kind(self) -> Kind {
        match self {
            Dtype::F32 => Kind::Float,
            Dtype::F64 => Kind::Double,
        }
    }
}

/// A single run's hand-written fully connected step: the training set flattened on the device,
/// its labels and centring outputs on the host.
pub(super) struct FcRun {
    step: FcStep,
    x: Tensor,
    y: Vec<f64>,
    f0: Vec<f64>,
    u: Vec<f64>,
}

impl FcRun {
    fn new(trainer: &Trainer) -> FcRun {
        let x = trainer.train.x.flatten(1, -1);
        FcRun {
            step: FcStep::new(&trainer.net, trainer.config.dtype.kind()),
            x,
            y: to_host(&trainer.train.y),
            f0: to_host(&trainer.train.f0),
            u: Vec::new(),
        }
    }

    /// One step on the batch `idx` (see [`Trainer::autograd_step`]).
    fn step(&mut self, w: &mut [Tensor], idx: &[i64], alpha: f64, dt: f64) -> f64 {
        let _guard = tch::no_grad_guard();
        let device = self.x.device();
        let xb = self.x.index_select(0, &Tensor::from_slice(idx).to_device(device));
        let raw = to_host(&self.step.forward(w, xb));
        self.u.resize(idx.len(), 0.0);
        let value = self.step.hinge.loss(&raw, idx, &self.y, &self.f0, alpha, dt, &mut self.u);
        if value.is_finite() && value > 0.0 {
            let u = Tensor::from_slice(&self.u).to_kind(self.x.kind()).to_device(device);
            self.step.descend(w, &u);
        }
        value
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid training configuration: {0}")]
    Invalid(String),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// A dataset on the device with the centring outputs F(w0, x).
pub(super) struct DeviceSet {
    pub(super) x: Tensor,
    pub(super) y: Tensor,
    pub(super) f0: Tensor,
}

pub(super) const EVAL_CHUNK_FC: i64 = 1024;
const EVAL_CHUNK_CONV: i64 = 256;
/// Floats the widest activation of one chunk of a full-set pass may hold (16 MB in f32): a
/// MnasNet h = 64 pass over 256 images held 77 MB per activation, and glibc maps and unmaps
/// blocks that large at every use, which spent as much time in the kernel as in the net.
const EVAL_BUDGET_FLOATS: usize = 1 << 22;

/// A run in progress: the net, its weights and data on the device.
pub struct Trainer<'a> {
    pub(super) config: &'a TrainConfig,
    pub(super) net: Net,
    pub(super) w0: Vec<Tensor>,
    pub(super) w: Vec<Tensor>,
    pub(super) train: DeviceSet,
    pub(super) test: DeviceSet,
    pub(super) chunk: i64,
    /// Seconds per row of the last full-set pass, to foresee whether a trajectory point still
    /// fits in `max_wall`.
    pub(super) pass_seconds_per_row: std::cell::Cell<Option<f64>>,
    /// Take the gradient from autograd even where a hand-written step exists (the reference).
    pub(super) autograd: bool,
    /// The hand-written step's buffers, once the run starts (fully connected nets).
    pub(super) fc: Option<FcRun>,
}

impl<'a> Trainer<'a> {
    pub fn new(config: &'a TrainConfig, data: &RunData) -> Result<Self, TrainError> {
        validate(config, data)?;
        let _guard = tch::no_grad_guard();
        let net = Net::new(config.arch, &data.sample_shape).map_err(|e| TrainError::Invalid(e.to_string()))?;
        let kind = config.dtype.kind();
        let device = config.device;
        let w0 = net.init(config.seed, kind, device);
        let mut w: Vec<Tensor> = w0.iter().map(|t| t.copy().set_requires_grad(true)).collect();
        if config.arch.kind == ArchKind::Fc {
            w[0] = first_layer_layout(&w[0]).set_requires_grad(true);
        }
        let chunk = if matches!(config.arch.kind, super::model::ArchKind::Mnas) {
            (EVAL_BUDGET_FLOATS / net.widest_activation(&data.sample_shape).max(1)).clamp(1, EVAL_CHUNK_CONV as usize)
                as i64
        } else {
            EVAL_CHUNK_FC
        };
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
        Ok(Trainer {
            config,
            net,
            w0,
            w,
            train,
            test,
            chunk,
            pass_seconds_per_row: Default::default(),
            autograd: false,
            fc: None,
        })
    }

    pub fn net(&self) -> &Net {
        &self.net
    }

    /// The current weights, in layer order (to set them in tests and experiments).
    pub fn weights_mut(&mut self) -> &mut [Tensor] {
        &mut self.w
    }

    /// Full-set statistics of the training set at the current weights.
    pub fn train_stats(&self) -> Result<SetStats, TrainError> {
        let _guard = tch::no_grad_guard();
        stats_of(&self.train_margins(), self.config.alpha)
    }

    pub fn test_stats(&self) -> Result<SetStats, TrainError> {
        self.stats(&self.test)
    }

    fn stats(&self, set: &DeviceSet) -> Result<SetStats, TrainError> {
        let _guard = tch::no_grad_guard();
        let margins = self.margins(set);
        stats_of(&margins, self.config.alpha)
    }

    /// α·y·f for every point of `set`, in chunks, as float64 on the device.
    pub(super) fn margins(&self, set: &DeviceSet) -> Tensor {
        let _guard = tch::no_grad_guard();
        let started = Instant::now();
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
        let margins = Tensor::cat(&parts, 0);
        self.pass_seconds_per_row.set(Some(started.elapsed().as_secs_f64() / n as f64));
        margins
    }

    /// What a trajectory point at this step would cost, from the last full pass's rate.
    fn checkpoint_cost(&self, with_test: bool) -> f64 {
        let rows = self.train.y.size()[0]
            + if with_test { self.test.y.size()[0].min(TRAJECTORY_TEST_POINTS as i64) } else { 0 };
        self.pass_seconds_per_row.get().unwrap_or(0.0) * rows as f64
    }

    /// α·y·f of every training point, as float64, with the steps' arithmetic (see
    /// [`Trainer::margins_at`]).
    pub fn train_margins(&self) -> Tensor {
        if !self.in_batches() {
            return self.margins(&self.train);
        }
        self.train_margins_in_batches()
    }

    /// α·y·f of every training point evaluated B rows at a time (for tests of the above).
    pub fn train_margins_in_batches(&self) -> Tensor {
        self.margins_of(&self.all_train(), true)
    }

    fn all_train(&self) -> Tensor {
        Tensor::arange(self.train.y.size()[0], (Kind::Int64, self.config.device))
    }

    /// α·y·f of the training points at `idx`, as float64. With the hand-written FC step the
    /// points are evaluated B rows at a time by the step's own products where a larger product
    /// could round differently ([`Trainer::in_batches`]), so that a point counts as fitted in a
    /// stop check or the record exactly when it does in a step: a point right at the margin
    /// cannot be unfitted for the check yet fitted for every batch, which would stall the run
    /// with its weights frozen.
    pub(super) fn margins_at(&self, idx: &Tensor) -> Tensor {
        self.margins_of(idx, self.in_batches())
    }

    fn margins_of(&self, idx: &Tensor, in_batches: bool) -> Tensor {
        let _guard = tch::no_grad_guard();
        let outputs = if in_batches {
            self.outputs_in_batches(idx)
        } else {
            self.net.forward(&self.w, &self.train.x.index_select(0, idx))
        };
        let f = outputs - self.train.f0.index_select(0, idx);
        (f * self.train.y.index_select(0, idx) * self.config.alpha).to_kind(Kind::Double)
    }

    /// Whether training points must be evaluated B rows at a time to get the steps' rounding.
    /// For ReLU nets on one CPU thread MKL's products give each row the same bits whatever the
    /// number of rows (a test pins this), so the large passes are exact there; with more
    /// threads, on a GPU, or through GELU's kernels (column-major activations) they are not.
    fn in_batches(&self) -> bool {
        let exact_large =
            self.config.device == Device::Cpu && super::runtime::threads() == 1 && self.net.fc_scales().folded;
        self.hand_written() && !exact_large
    }

    /// Whether this run takes the hand-written FC step rather than autograd's gradient.
    fn hand_written(&self) -> bool {
        self.config.arch.kind == ArchKind::Fc && !self.autograd
    }

    /// F(w, x) of the training points at `idx`, B rows at a time like the steps (the last group
    /// padded with repeats of its first point).
    fn outputs_in_batches(&self, idx: &Tensor) -> Tensor {
        let b = self.config.batch;
        let idx: Vec<i64> = Vec::try_from(idx.to_device(Device::Cpu)).expect("indices are int64 on the host");
        let x = self.train.x.flatten(1, -1);
        let mut step = FcStep::new(&self.net, self.config.dtype.kind());
        let parts: Vec<Tensor> = idx
            .chunks(b)
            .map(|group| {
                let mut rows = group.to_vec();
                rows.resize(b, group[0]);
                let xb = x.index_select(0, &Tensor::from_slice(&rows).to_device(self.config.device));
                step.forward(&self.w, xb).narrow(0, 0, group.len() as i64)
            })
            .collect();
        if parts.is_empty() {
            return Tensor::zeros([0], (self.config.dtype.kind(), self.config.device));
        }
        Tensor::cat(&parts, 0) * self.net.fc_scales().out
    }

    /// Trains until the first zero-loss step or a limit, and returns the run's record.
    pub fn run(mut self) -> Result<RunRecord, TrainError> {
        self.fc = self.hand_written().then(|| FcRun::new(&self));
        run(self)
    }

    /// One step through autograd on the batch `idx`: returns the batch loss, and moves the
    /// weights when it is positive and finite.
    fn autograd_step(&mut self, idx: &[i64], dt: f64) -> f64 {
        let alpha = self.config.alpha;
        let idx = Tensor::from_slice(idx).to_device(self.config.device);
        let xb = self.train.x.index_select(0, &idx);
        let yb = self.train.y.index_select(0, &idx);
        let f0b = self.train.f0.index_select(0, &idx);
        let f = self.net.forward(&self.w, &xb) - f0b;
        let loss = (1.0f64 - f * yb * alpha).relu().mean(None::<Kind>) * (1.0 / alpha);
        let value = loss.double_value(&[]);
        if value.is_finite() && value > 0.0 {
            let grads = Tensor::run_backward(&[&loss], &self.w, false, false);
            let _guard = tch::no_grad_guard();
            for (w, g) in self.w.iter_mut().zip(&grads) {
                let _ = w.g_sub_(&(g * dt));
            }
        }
        value
    }
}

impl Dynamics for Trainer<'_> {
    type Suspects = Tensor;

    fn config(&self) -> &TrainConfig {
        self.config
    }

    fn train_size(&self) -> usize {
        self.train.y.size()[0] as usize
    }

    fn step(&mut self, idx: &[i64], dt: f64) -> f64 {
        match &mut self.fc {
            Some(fc) => fc.step(&mut self.w, idx, self.config.alpha, dt),
            None => self.autograd_step(idx, dt),
        }
    }

    fn any_unfitted(&self, suspects: &Tensor) -> Result<bool, TrainError> {
        let _guard = tch::no_grad_guard();
        // NaN compares false: a non-finite suspect sends the check to the full set.
        Ok(bool::try_from(self.margins_at(suspects).lt(1.0).any())?)
    }

    fn full_check(&self) -> Result<(SetStats, Tensor), TrainError> {
        let _guard = tch::no_grad_guard();
        let margins = self.train_margins();
        let stats = stats_of(&margins, self.config.alpha)?;
        let k = suspect_count(stats.unfitted, margins.size()[0] as usize) as i64;
        let suspects = margins.topk(k, 0, false, false).1.to_device(self.config.device);
        Ok((stats, suspects))
    }

    fn checkpoint_cost(&self, with_test: bool) -> f64 {
        Trainer::checkpoint_cost(self, with_test)
    }

    fn checkpoint(&self, steps: u64, dt: f64, with_test: bool) -> Result<TrajectoryPoint, TrainError> {
        if steps == 0 {
            return Ok(start_point(self.train_size(), self.config.alpha, with_test));
        }
        // Not a stop decision: the fast full-set pass will do.
        let train = self.stats(&self.train)?;
        let test_err = if with_test {
            let n = (self.test.y.size()[0]).min(TRAJECTORY_TEST_POINTS as i64);
            let set = &self.test;
            let head = DeviceSet { x: set.x.narrow(0, 0, n), y: set.y.narrow(0, 0, n), f0: set.f0.narrow(0, 0, n) };
            Some(self.stats(&head)?.err)
        } else {
            None
        };
        Ok(TrajectoryPoint {
            step: steps,
            t: dt * steps as f64,
            train_loss: train.loss,
            unfitted: train.unfitted,
            test_err,
        })
    }

    /// The run's record: final statistics of both sets and how far each weight tensor moved.
    fn finish(self, end: LoopEnd) -> Result<RunRecord, TrainError> {
        let train = self.train_stats()?;
        let test = self.test_stats()?;
        let _guard = tch::no_grad_guard();
        let mut moved = Movement::new();
        for ((name, w), w0) in self.net.param_names().into_iter().zip(&self.w).zip(&self.w0) {
            moved.add(name, sq_norm(&(w - w0))?, sq_norm(w0)?);
        }
        if matches!(self.config.arch.kind, ArchKind::Linear) {
            let dw: Vec<f64> =
                Vec::<f64>::try_from((&self.w[0] - &self.w0[0]).to_kind(Kind::Double).to_device(Device::Cpu))?;
            moved.w1 = Some(dw.first().copied().unwrap_or(f64::NAN));
            moved.w_perp = Some(dw.iter().skip(1).map(|v| v * v).sum::<f64>().sqrt());
        }
        Ok(record(end, &train, &test, moved, self.config.trajectory, self.net.param_count()))
    }
}

/// What the training loop asks of a net under training: libtorch's ([`Trainer`]) or the CPU's
/// own fully connected net (`fc_cpu`).
pub(super) trait Dynamics {
    /// The points a stop check tries first: the lowest margins of the last full check.
    type Suspects;

    fn config(&self) -> &TrainConfig;

    /// P.
    fn train_size(&self) -> usize;

    /// One step on the batch `idx`: returns the batch loss, and moves the weights when it is
    /// positive and finite.
    fn step(&mut self, idx: &[i64], dt: f64) -> f64;

    /// Whether one of `suspects` is unfitted (a non-finite margin is not: it sends the check on
    /// to the full set).
    fn any_unfitted(&self, suspects: &Self::Suspects) -> Result<bool, TrainError>;

    /// The training set's statistics with the steps' rounding, and its [`suspect_count`]
    /// lowest-margin points.
    fn full_check(&self) -> Result<(SetStats, Self::Suspects), TrainError>;

    /// A trajectory point at `steps` (the test set's error too when `with_test`).
    fn checkpoint(&self, steps: u64, dt: f64, with_test: bool) -> Result<TrajectoryPoint, TrainError>;

    /// What a trajectory point at this step would cost, in seconds.
    fn checkpoint_cost(&self, with_test: bool) -> f64;

    /// The run's record: final statistics of both sets and how far each weight tensor moved.
    fn finish(self, end: LoopEnd) -> Result<RunRecord, TrainError>;
}

/// How many points a stop check keeps as suspects: the unfitted ones, at least [`SUSPECTS`].
pub(super) fn suspect_count(unfitted: usize, p: usize) -> usize {
    unfitted.max(SUSPECTS).min(p)
}

/// Trains until the first zero-loss step or a limit, and returns the run's record.
pub(super) fn run<D: Dynamics>(mut net: D) -> Result<RunRecord, TrainError> {
    let start = Instant::now();
    let config = net.config().clone();
    let dt = config.dt();
    let batch = config.batch;
    let mut sampler = DistinctSampler::new(net.train_size(), Rng::stream(config.seed, Stream::Batches));
    let mut trajectory = Vec::new();
    let mut schedule = Schedule::new(&config, Schedule::NET_STRIDE);
    let mut steps: u64 = 0;
    let mut stop = StopDetector::new(net.train_size(), batch);
    let mut updates: u64 = 0;
    let (status, steps) = loop {
        if let Some(with_test) = schedule.point_due(steps) {
            // A point that would end past max_wall is not begun: the run ends at its limit
            // now rather than a whole pass later (a MnasNet pass can take longer than the limit).
            let cost = if steps == 0 { 0.0 } else { net.checkpoint_cost(with_test) };
            if schedule.over_wall(start.elapsed().as_secs_f64() + cost) {
                break stop.at_limit(&net, Status::TimeLimit, steps, start.elapsed().as_secs_f64())?;
            }
            trajectory.push(net.checkpoint(steps, dt, with_test)?);
        }
        if steps >= config.max_steps {
            break stop.at_limit(&net, Status::StepLimit, steps, start.elapsed().as_secs_f64())?;
        }
        if schedule.past_wall(steps, || start.elapsed().as_secs_f64()) {
            break stop.at_limit(&net, Status::TimeLimit, steps, start.elapsed().as_secs_f64())?;
        }
        let value = net.step(sampler.draw(batch), dt);
        if !value.is_finite() {
            break (Status::Diverged, steps);
        }
        updates += u64::from(value > 0.0);
        if stop.after_step(steps, value > 0.0, start.elapsed().as_secs_f64()) {
            if let Some(end) = stop.check(&net, start.elapsed().as_secs_f64())? {
                break end;
            }
        }
        steps += 1;
    };
    let wall_train = start.elapsed().as_secs_f64();
    net.finish(LoopEnd { status, steps, dt, trajectory, wall_s: wall_train, counts: stop.counts(updates) })
}

/// Loss, error and unfitted count from the margins α·y·f; a non-finite output is an error and
/// unfitted.
pub(super) fn stats_of(margins: &Tensor, alpha: f64) -> Result<SetStats, TrainError> {
    let n = margins.size()[0];
    if n == 0 {
        return Ok(SetStats { loss: 0.0, err: 0.0, unfitted: 0, non_finite: false });
    }
    let finite = margins.isfinite();
    let non_finite = !bool::try_from(finite.all())?;
    let not_finite = finite.logical_not();
    let loss = f64::try_from((1.0f64 - margins).relu().sum(Kind::Double))? / alpha;
    let err = i64::try_from(margins.le(0.0).logical_or(&not_finite).sum(Kind::Int64))?;
    let unfitted = i64::try_from(margins.lt(1.0).logical_or(&not_finite).sum(Kind::Int64))?;
    Ok(SetStats { loss: loss / n as f64, err: err as f64 / n as f64, unfitted: unfitted as usize, non_finite })
}

/// How many of the lowest-margin points of the last full check are re-checked first.
const SUSPECTS: usize = 32;

/// The exact stop's bookkeeping. The weights only change at steps whose batch loss is positive,
/// so the first step n with L(w_n) = 0 is the first step of a stretch of constant weights whose
/// full training loss is zero. A stretch starts being a candidate at its first zero-loss batch;
/// any later positive batch in it proves L > 0 for free, so the full set is only examined once
/// the stretch has lasted `quiet` zero-loss batches (half the training set drawn without finding
/// an unfitted point) or a limit is reached. Then the lowest-margin points of the last full check
/// are tried first, and only when all of them are fitted is the full set passed over. The run's
/// record is taken at n (the extra batches did not change the weights; their time counts as stop
/// detection).
pub(super) struct StopDetector<S> {
    /// The first step of the current stretch of constant weights, and when it began on the run's
    /// clock, while they are unchecked and its batches have had zero loss.
    candidate: Option<(u64, f64)>,
    /// Whether the weights changed since the last check.
    unchecked: bool,
    quiet: u64,
    suspects: Option<S>,
    checks: u64,
    wall: f64,
}

impl<S> StopDetector<S> {
    pub(super) fn new(p: usize, batch: usize) -> StopDetector<S> {
        let quiet = (p / (2 * batch.max(1))).clamp(4, 512) as u64;
        StopDetector { candidate: None, unchecked: true, quiet, suspects: None, checks: 0, wall: 0.0 }
    }

    /// After step `step`, whose batch loss was positive (`moved`) or zero, at `clock` seconds of
    /// the run's time: whether the weights are to be examined now ([`StopDetector::check`]).
    pub(super) fn after_step(&mut self, step: u64, moved: bool, clock: f64) -> bool {
        if moved {
            self.candidate = None;
            self.unchecked = true;
            return false;
        }
        self.unchecked && step + 1 - self.candidate.get_or_insert((step, clock)).0 >= self.quiet
    }

    pub(super) fn counts(&self, updates: u64) -> LoopCounts {
        LoopCounts { updates, checks: self.checks, check_wall: self.wall }
    }

    /// At a step or time limit: a pending candidate may be where the run converged.
    pub(super) fn at_limit(
        &mut self,
        trainer: &impl Dynamics<Suspects = S>,
        limit: Status,
        steps: u64,
        clock: f64,
    ) -> Result<(Status, u64), TrainError> {
        let ended = if self.candidate.is_some() { self.check(trainer, clock)? } else { None };
        Ok(ended.unwrap_or((limit, steps)))
    }

    /// Examines the current weights (those of the candidate stretch), `clock` seconds into the
    /// run's time: the run's end and its step count (the stretch's first step) when it ends
    /// there.
    pub(super) fn check(
        &mut self,
        trainer: &impl Dynamics<Suspects = S>,
        clock: f64,
    ) -> Result<Option<(Status, u64)>, TrainError> {
        let t0 = Instant::now();
        let (first, began) = self.candidate.take().unwrap_or((0, clock));
        self.unchecked = false;
        let suspect_unfitted = match &self.suspects {
            Some(suspects) => trainer.any_unfitted(suspects)?,
            None => false,
        };
        let mut end = None;
        if !suspect_unfitted {
            let (stats, suspects) = trainer.full_check()?;
            self.checks += 1;
            if stats.non_finite {
                end = Some(Status::Diverged);
            } else if stats.unfitted == 0 {
                end = Some(Status::Converged);
            } else {
                self.suspects = Some(suspects);
            }
        }
        // When the run ends at `first`, the batches drawn since were spent on detecting it.
        let waited = if end.is_some() { clock - began } else { 0.0 };
        self.wall += waited + t0.elapsed().as_secs_f64();
        Ok(end.map(|status| (status, first)))
    }
}

fn sq_norm(t: &Tensor) -> Result<f64, TrainError> {
    Ok(f64::try_from(t.to_kind(Kind::Double).square().sum(Kind::Double))?)
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
/// On the CPU the perceptron and the float32 fully connected nets take plain-Rust paths (same
/// definitions, init and batches; `perceptron`, `fc_cpu`).
pub fn train(config: &TrainConfig, data: &RunData) -> Result<RunRecord, TrainError> {
    if config.arch.kind == super::model::ArchKind::Linear && config.device == Device::Cpu {
        validate(config, data)?;
        return Ok(super::perceptron::train_perceptron(config, data));
    }
    if super::fc_cpu::applies(config) {
        return super::fc_cpu::train_fc_cpu(config, data, super::kernels::Path::fastest());
    }
    train_with_libtorch(config, data)
}

/// Trains one run through libtorch, whatever the architecture.
pub fn train_with_libtorch(config: &TrainConfig, data: &RunData) -> Result<RunRecord, TrainError> {
    Trainer::new(config, data)?.run()
}

/// Trains one run through libtorch with autograd's gradients (the reference for the
/// hand-written fully connected step).
pub fn train_with_autograd(config: &TrainConfig, data: &RunData) -> Result<RunRecord, TrainError> {
    let mut trainer = Trainer::new(config, data)?;
    trainer.autograd = true;
    trainer.run()
}
