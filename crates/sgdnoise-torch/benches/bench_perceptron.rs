//! Benchmark: the perceptron's SGD steps at the paper's largest size (d = 128, P = 16384,
//! B = 2, T = 2^-4), the fast margin strategy against one dot product at a time, in one
//! invocation, beside what one random row read of the same training matrix costs here, both
//! back to back (each read's address depends on the last: latency) and independent (throughput).
//! A step reads B = 2 such rows, so the latency floor of a straightforward step is about two
//! dependent reads, and prefetching ahead moves it towards the throughput figure.
//!
//! Three strategies, all bitwise the same run: one dot product at a time (the straightforward
//! loop), blocked margins with prefetch, and those with the margin filter (the default).
//!
//! `bench-perceptron [MAX_STEPS [D]]` (default: χ = 0 runs to its stop, about 175M steps, where the
//! filter pays; χ = 1 runs to its stop, about 1.1M steps, too short for the filter to start).

use std::time::Instant;

use sgdnoise_core::datasets::RunData;
use sgdnoise_core::run::{Activation, ArchKind, ArchSpec, Dtype, RunRecord};
use sgdnoise_torch::nn::perceptron::{train_perceptron_counted, FilterUse, Strategy};
use sgdnoise_torch::nn::TrainConfig;

const P: usize = 16384;

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

fn run(label: &str, c: &TrainConfig, data: &RunData, strategy: Strategy) -> RunRecord {
    let t0 = Instant::now();
    let (r, filter) = train_perceptron_counted(c, data, strategy);
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "  {label:<22} {:>10} steps {:>8} updates  {:>7.1} ns/step  {:>6.2} M steps/s  ({:?}, {} full checks, {:.2} s)",
        r.steps,
        r.updates,
        wall * 1e9 / r.steps as f64,
        r.steps as f64 / wall / 1e6,
        r.status,
        r.full_checks,
        wall
    );
    if filter.activations > 0 {
        println!(
            "  {:<22} filter on for {} steps: {} rows skipped, {} read, {} refreshes, Gram {:.2} s",
            "", filter.steps, filter.skipped, filter.read, filter.refreshes, filter.gram_s
        );
    }
    r
}

fn main() {
    let max_steps: u64 = std::env::args().nth(1).map(|s| s.parse().expect("MAX_STEPS")).unwrap_or(2_000_000_000);
    let d: usize = std::env::args().nth(2).map(|s| s.parse().expect("D")).unwrap_or(128);
    println!("bench-perceptron: d = {d}, P = {P}, B = 2, T = 2^-4, α = 2^15, f32, one thread");
    let no_filter = Strategy { filter: FilterUse::Off, ..Strategy::FAST };
    let mut ratios = Vec::new();
    for (chi, steps) in [(1.0, 100_000_000), (0.0, max_steps)] {
        let data = RunData::depleted(chi, d, P, 2048, 0, 0).expect("depleted data");
        if chi == 1.0 {
            let (dep, ind) = row_reads(&data.x_train, d, 2_000_000);
            println!(
                "  random row read ({} B of a {:.0} MB matrix): {dep:.1} ns dependent, {ind:.1} ns independent",
                d * 4,
                (P * d * 4) as f64 / 1e6
            );
        }
        println!("χ = {chi} (max {steps} steps):");
        let c = config(steps);
        let mut walls = Vec::new();
        let mut records: Vec<RunRecord> = Vec::new();
        for (label, strategy) in [
            ("one dot at a time", Strategy::ONE_AT_A_TIME),
            ("blocked + prefetch", no_filter),
            ("+ margin filter", Strategy::FAST),
        ] {
            let t0 = Instant::now();
            records.push(run(label, &c, &data, strategy));
            walls.push(t0.elapsed().as_secs_f64());
        }
        for r in &records[1..] {
            assert_eq!(
                (records[0].steps, records[0].updates, records[0].rel_dw.to_bits()),
                (r.steps, r.updates, r.rel_dw.to_bits())
            );
        }
        println!(
            "  speed-up over one dot at a time: blocked {:.2}x, with the filter {:.2}x (same steps, updates and bits)",
            walls[0] / walls[1],
            walls[0] / walls[2]
        );
        ratios.push((walls[0] / walls[1], walls[0] / walls[2]));
    }
    println!(
        "speed-up with the filter: χ = 1 {:.2}x, χ = 0 {:.2}x (blocked + prefetch alone: {:.2}x, {:.2}x)",
        ratios[0].1, ratios[1].1, ratios[0].0, ratios[1].0
    );
}
