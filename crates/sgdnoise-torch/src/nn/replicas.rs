//! Batched replicas: R independent runs of the fully connected net that share the architecture,
//! P, B and the test set but differ in seed, temperature, α and limits, trained as one batched
//! computation (batched matrix products over a replica dimension). One FC-5L step at B = 16 is
//! ~16 MFLOP, far too little to keep a core busy; R of them in one batched product amortise the
//! per-operation overhead.
//!
//! Each replica keeps exactly what it would have alone: its data subset, initial weights and
//! batch stream come from its own seed, it stops at its own first zero-loss step (same exact
//! check, on its own weights), and a stopped or diverged replica stops changing. Its record is
//! made by the single-run code on a view of its weights, the moment it stops, and handed to
//! `on_done`. Results equal the single run's up to float rounding (batched products sum in
//! another order); the tests check equal step counts.

use std::sync::Arc;
use std::time::Instant;

use tch::Tensor;

use super::dynamics::{validate, DeviceSet, Dynamics, StopDetector, TorchKind, TrainError, Trainer, EVAL_CHUNK_FC};
use super::fc::{first_layer_layout, to_host, FcStep};
use super::fc_cpu;
use super::kernels::Path;
use super::model::{ArchKind, Net};
use super::skeleton::{LoopEnd, Schedule, TrainConfig};
use sgdnoise_core::datasets::RunData;
use sgdnoise_core::rng::{DistinctSampler, Rng, Stream};
use sgdnoise_core::run::observables::{RunRecord, TrajectoryPoint};
use sgdnoise_core::run::Status;

/// Why a set of runs cannot be trained as replicas of one another.
pub fn incompatibility(runs: &[(TrainConfig, &RunData)]) -> Option<String> {
    let (c0, d0) = runs.first().map(|(c, d)| (c, *d))?;
    if c0.arch.kind != ArchKind::Fc {
        return Some(format!("batched replicas are implemented for fc, not {}", c0.arch.kind.name()));
    }
    for (c, d) in runs {
        if c.arch != c0.arch || c.batch != c0.batch || c.dtype != c0.dtype || c.device != c0.device {
            return Some("replicas must share the architecture, batch size, dtype and device".into());
        }
        if d.p() != d0.p()
            || d.sample_shape != d0.sample_shape
            || (!Arc::ptr_eq(&d.x_test, &d0.x_test) && d.x_test != d0.x_test)
            || d.y_test != d0.y_test
        {
            return Some("replicas must share P, the input shape and the test set".into());
        }
    }
    None
}

struct Replica {
    sampler: DistinctSampler,
    dt: f64,
    alpha: f64,
    active: bool,
    schedule: Schedule,
    trajectory: Vec<TrajectoryPoint>,
    stop: StopDetector<Tensor>,
    updates: u64,
    /// Seconds of the batch's time that are this replica's: its share of each batched step (the
    /// step's time over the replicas in it), its own checks and checkpoints. Its `max_wall` and
    /// its record's wall time are on this clock, so a limit means what it means alone.
    clock: f64,
    /// Labels and centring outputs of its training set, on the host.
    y: Vec<f64>,
    f0: Vec<f64>,
}

/// The replicas' weights, stacked along a first dimension: `live[k]` is the run at position k.
/// Finished replicas get zero steps until a quarter of the stack has finished; then they are
/// dropped (a copy of the remaining weights), so they cost little after their last step.
struct Stack {
    live: Vec<usize>,
    w: Vec<Tensor>,
}

impl Stack {
    /// Drops the finished replicas once they are a quarter of the stack.
    fn compact(&mut self, reps: &[Replica]) {
        let keep: Vec<i64> = (0..self.live.len()).filter(|&k| reps[self.live[k]].active).map(|k| k as i64).collect();
        if 4 * (self.live.len() - keep.len()) < self.live.len() && !keep.is_empty() {
            return;
        }
        let _guard = tch::no_grad_guard();
        let keep_t = Tensor::from_slice(&keep).to_device(self.w[0].device());
        self.live = keep.iter().map(|&k| self.live[k as usize]).collect();
        self.w = self.w.iter().map(|t| t.index_select(0, &keep_t)).collect();
        self.w[0] = first_layer_layout(&self.w[0]);
    }
}

/// Trains `runs` as replicas; `on_done(i, record)` is called for run `i` when it stops. On the
/// CPU in float32 they run one after the other through `fc_cpu`: its step has no per-operation
/// cost for a batch to share, and each record is then the single run's, bit for bit.
pub fn train_replicas(
    runs: &[(TrainConfig, &RunData)],
    on_done: &mut dyn FnMut(usize, RunRecord),
) -> Result<(), TrainError> {
    if let Some(why) = incompatibility(runs) {
        return Err(TrainError::Invalid(why));
    }
    if fc_cpu::applies(&runs[0].0) {
        for (i, (c, d)) in runs.iter().enumerate() {
            on_done(i, fc_cpu::train_fc_cpu(c, d, Path::fastest())?);
        }
        return Ok(());
    }
    train_replicas_batched(runs, on_done)
}

/// Trains `runs` as one batched libtorch computation (the GPU's way; on the CPU the previous
/// one, which the benchmark compares against).
pub fn train_replicas_batched(
    runs: &[(TrainConfig, &RunData)],
    on_done: &mut dyn FnMut(usize, RunRecord),
) -> Result<(), TrainError> {
    if let Some(why) = incompatibility(runs) {
        return Err(TrainError::Invalid(why));
    }
    for (c, d) in runs {
        validate(c, d)?;
    }
    let _guard = tch::no_grad_guard();
    let r = runs.len() as i64;
    let (c0, d0) = (&runs[0].0, runs[0].1);
    let (kind, device) = (c0.dtype.kind(), c0.device);
    let net = Net::new(c0.arch, &d0.sample_shape).map_err(|e| TrainError::Invalid(e.to_string()))?;
    let p = d0.p() as i64;
    let batch = c0.batch;
    let d = d0.sample_len() as i64;
    let start = Instant::now();

    // Stacked initial weights, data and centring outputs.
    let per: Vec<Vec<Tensor>> = runs.iter().map(|(c, _)| net.init(c.seed, kind, device)).collect();
    let w0: Vec<Tensor> = (0..per[0].len())
        .map(|l| Tensor::stack(&per.iter().map(|w| w[l].shallow_clone()).collect::<Vec<_>>(), 0))
        .collect();
    let mut w: Vec<Tensor> = w0.iter().map(|t| t.copy()).collect();
    w[0] = first_layer_layout(&w[0]);
    let mut shape = vec![r, p];
    shape.extend(d0.sample_shape.iter().map(|&s| s as i64));
    let x = Tensor::from_slice(&runs.iter().flat_map(|(_, d)| d.x_train.iter().copied()).collect::<Vec<f32>>())
        .reshape(shape.as_slice())
        .to_kind(kind)
        .to_device(device);
    let y = Tensor::from_slice(&runs.iter().flat_map(|(_, d)| d.y_train.iter().copied()).collect::<Vec<f32>>())
        .reshape([r, p])
        .to_kind(kind)
        .to_device(device);
    let f0 = net.forward_replicas(&w0, &x);
    let mut test_shape = vec![d0.y_test.len() as i64];
    test_shape.extend(d0.sample_shape.iter().map(|&s| s as i64));
    let x_test =
        Tensor::from_slice(d0.x_test.as_slice()).reshape(test_shape.as_slice()).to_kind(kind).to_device(device);
    let y_test = Tensor::from_slice(&d0.y_test).to_kind(kind).to_device(device);
    // f(w0, x_test) per replica, computed once.
    let f0_test: Vec<Tensor> = (0..r)
        .map(|i| {
            let wi: Vec<Tensor> = w0.iter().map(|t| t.select(0, i)).collect();
            super::dynamics::chunked_forward(&net, &wi, &x_test, EVAL_CHUNK_FC)
        })
        .collect();

    let mut reps: Vec<Replica> = runs
        .iter()
        .enumerate()
        .map(|(i, (c, d))| Replica {
            sampler: DistinctSampler::new(d.p(), Rng::stream(c.seed, Stream::Batches)),
            dt: c.dt(),
            alpha: c.alpha,
            active: true,
            schedule: Schedule::new(c, Schedule::REPLICAS_STRIDE),
            trajectory: Vec::new(),
            stop: StopDetector::new(d.p(), batch),
            updates: 0,
            clock: 0.0,
            y: to_host(&y.select(0, i as i64)),
            f0: to_host(&f0.select(0, i as i64)),
        })
        .collect();
    let mut stack = Stack { live: (0..runs.len()).collect(), w };

    // A single-run view of the replica at position k: its weight slices and data, for checks and
    // records.
    let view = |k: usize, stack: &Stack| -> Trainer<'_> {
        let i = stack.live[k];
        let (ii, kk) = (i as i64, k as i64);
        Trainer {
            config: &runs[i].0,
            net: net.clone(),
            w0: w0.iter().map(|t| t.select(0, ii)).collect(),
            w: stack.w.iter().map(|t| t.select(0, kk)).collect(),
            train: DeviceSet { x: x.select(0, ii), y: y.select(0, ii), f0: f0.select(0, ii) },
            test: DeviceSet { x: x_test.shallow_clone(), y: y_test.shallow_clone(), f0: f0_test[i].shallow_clone() },
            chunk: EVAL_CHUNK_FC,
            pass_seconds_per_row: Default::default(),
            autograd: false,
            fc: None,
        }
    };

    let mut step = FcStep::new(&net, kind);
    let mut steps: u64 = 0;
    let setup = start.elapsed().as_secs_f64() / r as f64;
    for rep in &mut reps {
        rep.clock = setup;
    }
    let mut finish = |k: usize, status: Status, steps: u64, reps: &mut Vec<Replica>, stack: &Stack| {
        let i = stack.live[k];
        let rep = &mut reps[i];
        rep.active = false;
        let trajectory = std::mem::take(&mut rep.trajectory);
        let end =
            LoopEnd { status, steps, dt: rep.dt, trajectory, wall_s: rep.clock, counts: rep.stop.counts(rep.updates) };
        on_done(i, view(k, stack).finish(end)?);
        Ok::<(), TrainError>(())
    };
    // Each position's batch: indices into its own training set, and into the stacked inputs.
    let (mut local, mut idx, mut u) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        // Checkpoints, limits.
        for k in 0..stack.live.len() {
            let i = stack.live[k];
            if !reps[i].active {
                continue;
            }
            let c = &runs[i].0;
            if let Some(with_test) = reps[i].schedule.point_due(steps) {
                let t0 = Instant::now();
                let point = view(k, &stack).checkpoint(steps, reps[i].dt, with_test)?;
                reps[i].clock += t0.elapsed().as_secs_f64();
                reps[i].trajectory.push(point);
            }
            let clock = reps[i].clock;
            let limit = if steps >= c.max_steps {
                Some(Status::StepLimit)
            } else if reps[i].schedule.past_wall(steps, || clock) {
                Some(Status::TimeLimit)
            } else {
                None
            };
            if let Some(limit) = limit {
                let clock = reps[i].clock;
                let (status, n) = reps[i].stop.at_limit(&view(k, &stack), limit, steps, clock)?;
                finish(k, status, n, &mut reps, &stack)?;
            }
        }
        if reps.iter().all(|rep| !rep.active) {
            break;
        }
        stack.compact(&reps);
        let n = stack.live.len();
        // One batched step: the forward pass, each replica's loss on the host, one descent.
        let t_step = Instant::now();
        let in_step: Vec<usize> = stack.live.iter().copied().filter(|&i| reps[i].active).collect();
        local.clear();
        for &i in &stack.live {
            if reps[i].active {
                local.extend_from_slice(reps[i].sampler.draw(batch));
            } else {
                local.extend(0..batch as i64);
            }
        }
        idx.clear();
        idx.extend(local.iter().enumerate().map(|(r, &j)| stack.live[r / batch] as i64 * p + j));
        let xb = x.view([-1, d]).index_select(0, &Tensor::from_slice(&idx).to_device(device));
        let raw = to_host(&step.forward(&stack.w, xb.view([n as i64, batch as i64, d])));
        u.resize(n * batch, 0.0);
        let mut to_check = Vec::new();
        let mut diverged = Vec::new();
        let mut updating = Vec::new();
        for (k, &i) in stack.live.iter().enumerate() {
            let rep = &mut reps[i];
            let rows = k * batch..(k + 1) * batch;
            if !rep.active {
                u[rows].fill(0.0);
                continue;
            }
            let (batch_raw, batch_idx) = (&raw[rows.clone()], &local[rows.clone()]);
            let value = step.hinge.loss(batch_raw, batch_idx, &rep.y, &rep.f0, rep.alpha, rep.dt, &mut u[rows.clone()]);
            if !value.is_finite() {
                u[rows].fill(0.0);
                diverged.push(k);
            } else if rep.stop.after_step(steps, value > 0.0, rep.clock) {
                to_check.push(k);
            }
            if value > 0.0 {
                rep.updates += 1;
                updating.push(k);
            }
        }
        for &k in &diverged {
            finish(k, Status::Diverged, steps, &mut reps, &stack)?;
        }
        if !updating.is_empty() {
            let u_t = Tensor::from_slice(&u).to_kind(kind).to_device(device).view([n as i64, batch as i64]);
            if 3 * updating.len() > 2 * n {
                // Fitted and diverged replicas get a zero step.
                step.descend(&mut stack.w, &u_t);
            } else {
                step.descend_some(&stack.w, &u_t, &updating);
            }
        }
        let share = t_step.elapsed().as_secs_f64() / in_step.len().max(1) as f64;
        for &i in &in_step {
            reps[i].clock += share;
        }
        // Due stop checks: the same exact check as a single run, on each replica's weights (a
        // replica due for one had a zero-loss batch, so the step left it unchanged).
        for &k in &to_check {
            let i = stack.live[k];
            let t0 = Instant::now();
            let clock = reps[i].clock;
            let ended = reps[i].stop.check(&view(k, &stack), clock)?;
            reps[i].clock += t0.elapsed().as_secs_f64();
            if let Some((status, n)) = ended {
                finish(k, status, n, &mut reps, &stack)?;
            }
        }
        steps += 1;
    }
    Ok(())
}
