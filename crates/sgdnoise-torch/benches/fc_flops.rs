//! What the fully connected benchmarks measure a step against: its FLOPs, and this machine's
//! single-thread SGEMM peak (libtorch's MKL on 1024² matrices) measured in the same run.

use std::time::Instant;

use tch::{Device, Kind, Tensor};

/// FLOPs of the forward pass and of the backward pass with the update (weight gradients of every
/// layer, input gradients of all but the first) of one step of FC-`depth` h`h` on B points of d.
pub(crate) fn flops_per_step(d: f64, h: f64, depth: f64, b: f64) -> (f64, f64) {
    let forward = 2.0 * b * (d * h + (depth - 1.0) * h * h + h);
    let backward = 2.0 * b * (d * h + 2.0 * (depth - 1.0) * h * h + 2.0 * h);
    (forward, backward)
}

/// FLOP/s of a 1024² single-precision product on one thread (the caller sets the threads).
pub(crate) fn sgemm_peak() -> f64 {
    let n = 1024;
    let a = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
    let b = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
    let _ = a.matmul(&b);
    let reps = 20;
    let t0 = Instant::now();
    for _ in 0..reps {
        let _ = a.matmul(&b);
    }
    2.0 * (n as f64).powi(3) * reps as f64 / t0.elapsed().as_secs_f64()
}

/// Useful GFLOP/s of `steps` steps of which `updates` updated, in `wall` seconds, and its share
/// of `peak`: every step's forward pass, the backward pass of the steps that update.
pub(crate) fn useful(steps: u64, updates: u64, wall: f64, (forward, backward): (f64, f64), peak: f64) -> String {
    let flops = (steps as f64 * forward + updates as f64 * backward) / wall;
    format!("{:.1} useful GFLOP/s = {:.1}% of the SGEMM peak", flops / 1e9, 100.0 * flops / peak)
}
