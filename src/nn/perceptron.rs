//! The perceptron's dynamics in plain Rust: same definitions, initial weights and batch stream as
//! the libtorch path, without libtorch's per-operation overhead. A perceptron step is two dot
//! products of length d; through libtorch it costs ~40 µs of dispatch, here tens of nanoseconds,
//! which is what makes the perceptron's large-P sweeps (10⁵–10⁷ steps per run) affordable.
//!
//! f(x) = (w − w0)·x/√d is computed from v = w − w0 directly (the centred output, exactly as
//! defined; the libtorch path subtracts F(w0, x) instead, equal up to rounding).

use std::time::Instant;

use super::dynamics::{
    record, Dtype, LoopCounts, LoopEnd, Movement, SetStats, Status, TrainConfig, TRAJECTORY_TEST_POINTS,
};
use super::observables::{LayerChange, RunRecord, TrajectoryPoint};
use crate::datasets::RunData;
use crate::rng::{DistinctSampler, Rng, Stream};

/// f32 or f64 arithmetic, as the run's dtype says.
trait Real: Copy + PartialOrd + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> + std::ops::AddAssign {
    fn of(x: f64) -> Self;
    fn get(self) -> f64;
    const ZERO: Self;
}

impl Real for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
    fn get(self) -> f64 {
        self as f64
    }
    const ZERO: Self = 0.0;
}

impl Real for f64 {
    fn of(x: f64) -> Self {
        x
    }
    fn get(self) -> f64 {
        self
    }
    const ZERO: Self = 0.0;
}

/// Trains the perceptron on the CPU.
pub fn train_perceptron(config: &TrainConfig, data: &RunData) -> RunRecord {
    match config.dtype {
        Dtype::F32 => Run::<f32>::new(config, data).run(),
        Dtype::F64 => Run::<f64>::new(config, data).run(),
    }
}

struct Run<'a, F: Real> {
    config: &'a TrainConfig,
    d: usize,
    x_train: Vec<F>,
    y_train: Vec<F>,
    x_test: Vec<F>,
    y_test: Vec<F>,
    w0: Vec<f64>,
    v: Vec<F>,
    scale: F,
}

impl<'a, F: Real> Run<'a, F> {
    fn new(config: &'a TrainConfig, data: &RunData) -> Self {
        let d = data.sample_len();
        let mut rng = Rng::stream(config.seed, Stream::Init);
        let w0: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        let conv = |xs: &[f32]| xs.iter().map(|&x| F::of(x as f64)).collect::<Vec<F>>();
        Run {
            config,
            d,
            x_train: conv(&data.x_train),
            y_train: conv(&data.y_train),
            x_test: conv(&data.x_test),
            y_test: conv(&data.y_test),
            w0,
            v: vec![F::ZERO; d],
            scale: F::of(1.0 / (d as f64).sqrt()),
        }
    }

    /// α·y·f of point `i` of (x, y).
    fn margin(&self, x: &[F], y: &[F], i: usize) -> f64 {
        let row = &x[i * self.d..(i + 1) * self.d];
        let mut dot = F::ZERO;
        for (a, b) in row.iter().zip(&self.v) {
            dot += *a * *b;
        }
        (dot * self.scale * y[i]).get() * self.config.alpha
    }

    fn stats(&self, x: &[F], y: &[F]) -> SetStats {
        let n = y.len();
        let alpha = self.config.alpha;
        let (mut loss, mut err, mut unfitted, mut non_finite) = (0.0, 0usize, 0usize, false);
        for i in 0..n {
            let m = self.margin(x, y, i);
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
        let n = n.max(1) as f64;
        SetStats { loss: loss / n, err: err as f64 / n, unfitted, non_finite }
    }

    fn checkpoint(&self, steps: u64, dt: f64, with_test: bool) -> TrajectoryPoint {
        let s = self.stats(&self.x_train, &self.y_train);
        let test_err = with_test.then(|| {
            let n = self.y_test.len().min(TRAJECTORY_TEST_POINTS);
            self.stats(&self.x_test[..n * self.d], &self.y_test[..n]).err
        });
        TrajectoryPoint { step: steps, t: dt * steps as f64, train_loss: s.loss, unfitted: s.unfitted, test_err }
    }

    fn run(mut self) -> RunRecord {
        let start = Instant::now();
        let c = self.config;
        let (dt, alpha, batch) = (c.dt(), c.alpha, c.batch);
        let p = self.y_train.len();
        let mut sampler = DistinctSampler::new(p, Rng::stream(c.seed, Stream::Batches));
        let mut trajectory = Vec::new();
        let mut next_ckpt: u64 = 0;
        let (mut steps, mut checks, mut check_wall, mut updates) = (0u64, 0u64, 0.0f64, 0u64);
        let mut moved = true;
        // Points unfitted at the last full check: one of them still unfitted proves L > 0.
        let mut suspects: Vec<usize> = Vec::new();
        let step_scale = F::of(dt / batch as f64) * self.scale;
        let status = loop {
            if c.trajectory && steps == next_ckpt {
                let with_test = steps == 0 || next_ckpt.trailing_zeros().is_multiple_of(2);
                trajectory.push(self.checkpoint(steps, dt, with_test));
                next_ckpt = if next_ckpt == 0 { 1 } else { next_ckpt * 2 };
            }
            if steps >= c.max_steps {
                break Status::StepLimit;
            }
            if steps.is_multiple_of(4096) {
                if let Some(limit) = c.max_wall {
                    if start.elapsed().as_secs_f64() > limit {
                        break Status::TimeLimit;
                    }
                }
            }
            let idx = sampler.draw(batch);
            let mut loss = 0.0;
            let mut update: Vec<(usize, F)> = Vec::with_capacity(batch);
            for &i in idx {
                let i = i as usize;
                let m = self.margin(&self.x_train, &self.y_train, i);
                if m.is_nan() || m < 1.0 {
                    loss += (1.0 - m) / alpha;
                    update.push((i, self.y_train[i]));
                }
            }
            if !loss.is_finite() {
                break Status::Diverged;
            }
            if loss > 0.0 {
                // w ← w − dt·∇(mean batch loss) = w + (dt/B)·Σ_unfitted y·x/√d
                for (i, y) in update {
                    let row = &self.x_train[i * self.d..(i + 1) * self.d];
                    let k = step_scale * y;
                    for (v, x) in self.v.iter_mut().zip(row) {
                        *v += k * *x;
                    }
                }
                moved = true;
                updates += 1;
            } else if moved {
                let t0 = Instant::now();
                moved = false;
                let proven_positive = suspects.iter().any(|&i| self.margin(&self.x_train, &self.y_train, i) < 1.0);
                if !proven_positive {
                    checks += 1;
                    let margins: Vec<f64> = (0..p).map(|i| self.margin(&self.x_train, &self.y_train, i)).collect();
                    if margins.iter().any(|m| !m.is_finite()) {
                        check_wall += t0.elapsed().as_secs_f64();
                        break Status::Diverged;
                    }
                    suspects = (0..p).filter(|&i| margins[i] < 1.0).collect();
                    if suspects.is_empty() {
                        check_wall += t0.elapsed().as_secs_f64();
                        break Status::Converged;
                    }
                }
                check_wall += t0.elapsed().as_secs_f64();
            }
            steps += 1;
        };
        let wall = start.elapsed().as_secs_f64();
        let counts = LoopCounts { updates, checks, check_wall };
        self.finish(LoopEnd { status, steps, dt, trajectory, wall_s: wall, counts })
    }

    fn finish(self, end: LoopEnd) -> RunRecord {
        let train = self.stats(&self.x_train, &self.y_train);
        let test = self.stats(&self.x_test, &self.y_test);
        let v: Vec<f64> = self.v.iter().map(|x| x.get()).collect();
        let dw2: f64 = v.iter().map(|x| x * x).sum();
        let w02: f64 = self.w0.iter().map(|x| x * x).sum();
        let layer =
            LayerChange { name: "w".into(), rel_dw: (dw2 / w02).sqrt(), dw_norm: dw2.sqrt(), w0_norm: w02.sqrt() };
        let moved = Movement {
            layers: vec![layer],
            dw2,
            w02,
            w1: Some(v.first().copied().unwrap_or(f64::NAN)),
            w_perp: Some(v.iter().skip(1).map(|x| x * x).sum::<f64>().sqrt()),
        };
        record(end, &train, &test, moved, self.config.trajectory, self.d as i64)
    }
}
