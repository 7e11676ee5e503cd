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

use std::time::Instant;

use tch::{Kind, Tensor};

use super::dynamics::{stats_of, validate, DeviceSet, Status, TrainConfig, TrainError, Trainer, SUSPECTS};
use super::model::{ArchKind, Net};
use super::observables::{RunRecord, TrajectoryPoint};
use crate::datasets::RunData;
use crate::rng::{DistinctSampler, Rng, Stream};

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
        if d.p() != d0.p() || d.sample_shape != d0.sample_shape || d.x_test != d0.x_test || d.y_test != d0.y_test {
            return Some("replicas must share P, the input shape and the test set".into());
        }
    }
    None
}

struct Replica {
    sampler: DistinctSampler,
    dt: f64,
    alpha: f64,
    moved: bool,
    active: bool,
    next_ckpt: u64,
    trajectory: Vec<TrajectoryPoint>,
    checks: u64,
    check_wall: f64,
    suspects: Option<Tensor>,
}

/// Trains `runs` as replicas; `on_done(i, record)` is called for run `i` when it stops.
pub fn train_replicas(
    runs: &[(TrainConfig, &RunData)],
    on_done: &mut dyn FnMut(usize, RunRecord),
) -> Result<(), TrainError> {
    if let Some(why) = incompatibility(runs) {
        return Err(TrainError::Invalid(why));
    }
    for (c, d) in runs {
        validate(c, d)?;
    }
    let r = runs.len() as i64;
    let (c0, d0) = (&runs[0].0, runs[0].1);
    let (kind, device) = (c0.dtype.kind(), c0.device);
    let net = Net::new(c0.arch, &d0.sample_shape).map_err(TrainError::Invalid)?;
    let p = d0.p() as i64;
    let batch = c0.batch as i64;
    let start = Instant::now();

    // Stacked initial weights, data and centring outputs.
    let (w0, w): (Vec<Tensor>, Vec<Tensor>) = {
        let _guard = tch::no_grad_guard();
        let per: Vec<Vec<Tensor>> = runs.iter().map(|(c, _)| net.init(c.seed, kind, device)).collect();
        let w0: Vec<Tensor> = (0..per[0].len())
            .map(|l| Tensor::stack(&per.iter().map(|w| w[l].shallow_clone()).collect::<Vec<_>>(), 0))
            .collect();
        let w = w0.iter().map(|t| t.copy().set_requires_grad(true)).collect();
        (w0, w)
    };
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
    let f0 = tch::no_grad(|| net.forward_replicas(&w0, &x));
    let mut test_shape = vec![d0.y_test.len() as i64];
    test_shape.extend(d0.sample_shape.iter().map(|&s| s as i64));
    let x_test = Tensor::from_slice(&d0.x_test).reshape(test_shape.as_slice()).to_kind(kind).to_device(device);
    let y_test = Tensor::from_slice(&d0.y_test).to_kind(kind).to_device(device);
    // f(w0, x_test) per replica, computed once.
    let f0_test: Vec<Tensor> = (0..r)
        .map(|i| {
            let wi: Vec<Tensor> = w0.iter().map(|t| t.select(0, i)).collect();
            tch::no_grad(|| super::dynamics::chunked_forward(&net, &wi, &x_test, 8192))
        })
        .collect();
    let x_flat = x.flatten(0, 1);
    let y_flat = y.flatten(0, 1);
    let f0_flat = f0.flatten(0, 1);
    let alphas = Tensor::from_slice(&runs.iter().map(|(c, _)| c.alpha).collect::<Vec<f64>>())
        .to_kind(kind)
        .to_device(device)
        .unsqueeze(1);

    let mut reps: Vec<Replica> = runs
        .iter()
        .map(|(c, d)| Replica {
            sampler: DistinctSampler::new(d.p(), Rng::stream(c.seed, Stream::Batches)),
            dt: c.dt(),
            alpha: c.alpha,
            moved: true,
            active: true,
            next_ckpt: 0,
            trajectory: Vec::new(),
            checks: 0,
            check_wall: 0.0,
            suspects: None,
        })
        .collect();

    // A single-run view of replica i: its weight slices and data, for checks and records.
    let view = |i: usize, w: &[Tensor]| -> Trainer<'_> {
        let ii = i as i64;
        Trainer {
            config: &runs[i].0,
            net: net.clone(),
            w0: w0.iter().map(|t| t.select(0, ii)).collect(),
            w: w.iter().map(|t| t.detach().select(0, ii)).collect(),
            train: DeviceSet { x: x.select(0, ii), y: y.select(0, ii), f0: f0.select(0, ii) },
            test: DeviceSet { x: x_test.shallow_clone(), y: y_test.shallow_clone(), f0: f0_test[i].shallow_clone() },
            chunk: 8192,
        }
    };

    let mut w = w;
    let mut steps: u64 = 0;
    let mut finish = |i: usize, status: Status, steps: u64, reps: &mut Vec<Replica>, w: &[Tensor]| {
        let rep = &mut reps[i];
        rep.active = false;
        let trajectory = std::mem::take(&mut rep.trajectory);
        let record = view(i, w).finish(
            status,
            steps,
            rep.dt,
            trajectory,
            start.elapsed().as_secs_f64(),
            rep.checks,
            rep.check_wall,
        );
        on_done(i, record);
    };
    loop {
        // Checkpoints, limits.
        for i in 0..reps.len() {
            if !reps[i].active {
                continue;
            }
            let c = &runs[i].0;
            if c.trajectory && steps == reps[i].next_ckpt {
                let next = reps[i].next_ckpt;
                let with_test = steps == 0 || next.trailing_zeros().is_multiple_of(2);
                let point = tch::no_grad(|| view(i, &w).checkpoint(steps, reps[i].dt, with_test));
                reps[i].trajectory.push(point);
                reps[i].next_ckpt = if next == 0 { 1 } else { next * 2 };
            }
            if steps >= c.max_steps {
                finish(i, Status::StepLimit, steps, &mut reps, &w);
            } else if c.max_wall.is_some_and(|limit| steps.is_multiple_of(64) && start.elapsed().as_secs_f64() > limit)
            {
                finish(i, Status::TimeLimit, steps, &mut reps, &w);
            }
        }
        if reps.iter().all(|rep| !rep.active) {
            break;
        }
        // One batched step.
        let idx: Vec<i64> = reps
            .iter_mut()
            .enumerate()
            .flat_map(|(i, rep)| {
                rep.sampler.draw(batch as usize).iter().map(move |&j| i as i64 * p + j).collect::<Vec<_>>()
            })
            .collect();
        let idx = Tensor::from_slice(&idx).to_device(device);
        let mut xb_shape = vec![r, batch];
        xb_shape.extend(d0.sample_shape.iter().map(|&s| s as i64));
        let xb = x_flat.index_select(0, &idx).reshape(xb_shape.as_slice());
        let yb = y_flat.index_select(0, &idx).reshape([r, batch]);
        let f0b = f0_flat.index_select(0, &idx).reshape([r, batch]);
        let f = net.forward_replicas(&w, &xb) - f0b;
        let losses = ((1.0f64 - f * yb * &alphas).relu() / &alphas).mean_dim([1i64].as_slice(), false, None::<Kind>);
        let values: Vec<f64> =
            Vec::<f64>::try_from(losses.to_kind(Kind::Double).to_device(tch::Device::Cpu)).unwrap_or_default();
        let mut scale = vec![0.0f64; reps.len()];
        let mut to_check = Vec::new();
        for (i, rep) in reps.iter_mut().enumerate() {
            if !rep.active {
                continue;
            }
            let v = values.get(i).copied().unwrap_or(f64::NAN);
            if !v.is_finite() {
                to_check.push((i, true));
            } else if v > 0.0 {
                scale[i] = rep.dt;
                rep.moved = true;
            } else if rep.moved {
                to_check.push((i, false));
            }
        }
        for &(i, diverged) in &to_check {
            if diverged {
                finish(i, Status::Diverged, steps, &mut reps, &w);
            }
        }
        if scale.iter().any(|&s| s > 0.0) {
            // Inactive and fitted replicas get a zero step; the others w ← w − dt·∇.
            let total = losses.sum(Kind::Double);
            let grads = Tensor::run_backward(&[&total], &w, false, false);
            let neg_scale: Vec<f64> = scale.iter().map(|s| -s).collect();
            let scale_t = Tensor::from_slice(&neg_scale).to_kind(kind).to_device(device);
            let _guard = tch::no_grad_guard();
            for (wl, g) in w.iter_mut().zip(&grads) {
                let mut shape = vec![r];
                shape.extend(std::iter::repeat_n(1, g.dim() - 1));
                // w += (−dt)·g in one pass (the replicas' weights do not fit in cache).
                let _ = wl.addcmul_(g, &scale_t.reshape(shape.as_slice()));
            }
        }
        // Candidate stops: the same exact check as a single run, on each replica's weights.
        for &(i, diverged) in &to_check {
            if diverged || !reps[i].active {
                continue;
            }
            let t0 = Instant::now();
            reps[i].moved = false;
            let v = view(i, &w);
            let proven_positive = match &reps[i].suspects {
                Some(sus) => bool::try_from(tch::no_grad(|| v.margins_at(sus)).lt(1.0).any()).unwrap_or(false),
                None => false,
            };
            let mut outcome = None;
            if !proven_positive {
                let margins = tch::no_grad(|| v.margins(&v.train));
                let stats = stats_of(&margins, reps[i].alpha);
                reps[i].checks += 1;
                if stats.non_finite {
                    outcome = Some(Status::Diverged);
                } else if stats.unfitted == 0 {
                    outcome = Some(Status::Converged);
                } else {
                    let k = (stats.unfitted as i64).max(SUSPECTS).min(margins.size()[0]);
                    reps[i].suspects = Some(margins.topk(k, 0, false, false).1.to_device(device));
                }
            }
            reps[i].check_wall += t0.elapsed().as_secs_f64();
            if let Some(status) = outcome {
                finish(i, status, steps, &mut reps, &w);
            }
        }
        steps += 1;
    }
    Ok(())
}
