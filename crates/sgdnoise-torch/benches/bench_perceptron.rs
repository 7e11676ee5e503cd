//! Benchmark: the perceptron's SGD steps at the paper's largest P (16384, B = 2, T = 2^-4,
//! χ = 0, f32), today's training loop ([`Strategy::FAST`]) against the one before the fused loop
//! for small d ([`Strategy::BLOCKED`]) in one invocation, over the same steps, alternating so
//! that both see the same machine, beside what one random row read of the same training matrix
//! costs here: back to back (each read's address depends on the last: latency) and independent
//! (throughput). A step reads B = 2 such rows. The loop before shares what the fused one brought
//! to every strategy (rows aligned to cache lines, the sampler inlined), so this ratio is less
//! than the one over the code before them: `sgdnoise train` against an older binary shows that.
//!
//! One dot product at a time ([`Strategy::ONE_AT_A_TIME`], the straightforward loop) runs once
//! as the reference: every strategy must give its steps, updates and bits.
//!
//! `bench-perceptron [MAX_STEPS [D]]` (default: 50M steps, tens of seconds per d; d = 16, 32 and
//! 128). At d = 128 the margin filter pays only late in a run: χ = 0 to its stop (about 175M
//! steps) shows it.

use std::time::Instant;

use sgdnoise_core::datasets::RunData;
use sgdnoise_core::run::{Activation, ArchKind, ArchSpec, Dtype, RunRecord};
use sgdnoise_torch::nn::perceptron::{train_perceptron_counted, Strategy};
use sgdnoise_torch::nn::TrainConfig;

const P: usize = 16384;
/// Timed runs of each of the two loops compared (the best counts).
const ROUNDS: usize = 3;

fn config(max_steps: u64) -> TrainConfig {
    TrainConfig {
        arch: ArchSpec { kind: ArchKind::Linear, depth: 0, width: 1, act: Activation::Relu },
        alpha: 32768.0,
        temperature: 0.0625,
        batch: 2,
        seed: 0,
        max_steps,
        max_wall: None,
        dtype: Dtype::F32,
        device: tch::Device::Cpu,
        trajectory: true,
    }
}

/// The sum of a row with 8 independent accumulators, so that reading it, not adding it up,
/// is what costs.
fn read_row(row: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    for chunk in row.chunks_exact(8) {
        for k in 0..8 {
            acc[k] += chunk[k];
        }
    }
    acc.iter().sum()
}

/// ns per read of a random row of `x` (rows of `d` floats): dependent reads, then independent.
fn row_reads(x: &[f32], d: usize, reads: usize) -> (f64, f64) {
    let rows = x.len() / d;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |salt: u64| {
        state ^= salt;
        state = state.wrapping_mul(0x2545_f491_4f6c_dd1d).rotate_left(17);
        (state % rows as u64) as usize
    };
    let t0 = Instant::now();
    let mut salt = 0u64;
    for _ in 0..reads {
        let i = next(salt);
        salt = u64::from(read_row(&x[i * d..(i + 1) * d]).to_bits() & 1);
    }
    let dependent = t0.elapsed().as_secs_f64() * 1e9 / reads as f64;
    let idx: Vec<usize> = (0..reads).map(|_| next(0)).collect();
    let t1 = Instant::now();
    let mut total = 0.0f32;
    for &i in &idx {
        total += read_row(&x[i * d..(i + 1) * d]);
    }
    let independent = t1.elapsed().as_secs_f64() * 1e9 / reads as f64;
    std::hint::black_box(total + salt as f32);
    (dependent, independent)
}

/// One run: its record and ns per step.
fn run(label: &str, c: &TrainConfig, data: &RunData, strategy: Strategy) -> (RunRecord, f64) {
    let t0 = Instant::now();
    let (r, filter) = train_perceptron_counted(c, data, strategy);
    let ns = t0.elapsed().as_secs_f64() * 1e9 / r.steps as f64;
    let filtered =
        if filter.activations > 0 { format!(", filter on for {} steps", filter.steps) } else { String::new() };
    println!(
        "  {label:<20} {:>10} steps {:>8} updates {:>7.1} ns/step  ({:?}, {} full checks{filtered})",
        r.steps, r.updates, ns, r.status, r.full_checks
    );
    (r, ns)
}

/// What must be the same bits whichever strategy ran.
fn bits(r: &RunRecord) -> (u64, u64, u64, u64, u64, usize) {
    (r.steps, r.updates, r.rel_dw.to_bits(), r.test_err.to_bits(), r.full_checks, r.trajectory.len())
}

fn main() {
    let max_steps: u64 = std::env::args().nth(1).map(|s| s.parse().expect("MAX_STEPS")).unwrap_or(50_000_000);
    let dims: Vec<usize> = match std::env::args().nth(2) {
        Some(d) => vec![d.parse().expect("D")],
        None => vec![16, 32, 128],
    };
    println!("bench-perceptron: P = {P}, B = 2, T = 2^-4, α = 2^15, χ = 0, f32, one thread, {max_steps} steps at most");
    let c = config(max_steps);
    let mut summary = Vec::new();
    for d in dims {
        let data = RunData::depleted(0.0, d, P, 2048, 0, 0).expect("depleted data");
        let (dep, ind) = row_reads(&data.x_train, d, 2_000_000);
        println!(
            "d = {d}: random row read ({} B of a {:.1} MB matrix): {dep:.1} ns dependent, {ind:.1} ns independent",
            d * 4,
            (P * d * 4) as f64 / 1e6
        );
        let (reference, _) = run("one dot at a time", &c, &data, Strategy::ONE_AT_A_TIME);
        let (mut before, mut after) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..ROUNDS {
            for (label, strategy, best) in
                [("before (blocked)", Strategy::BLOCKED, &mut before), ("after (fast)", Strategy::FAST, &mut after)]
            {
                let (r, ns) = run(label, &c, &data, strategy);
                assert_eq!(bits(&r), bits(&reference), "d = {d}, {label}: not the reference's run");
                *best = best.min(ns);
            }
        }
        let line = format!(
            "d = {d}, χ = 0: {before:.1} → {after:.1} ns/step, {:.2}× (same steps, updates and bits; row read {dep:.1} ns dependent, {ind:.1} ns independent)",
            before / after
        );
        println!("{line}");
        summary.push(line);
    }
    println!("best of {ROUNDS}, over the same {} steps each:", c.max_steps);
    for line in summary {
        println!("  {line}");
    }
}
