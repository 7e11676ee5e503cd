//! Benchmark (issues 7, 26): replica-steps per second of single runs through the CPU's own step
//! (`fc_cpu`, what training uses; on AVX-512 processors also on its AVX2 path), the previous one (libtorch's products, hand-written backward)
//! and autograd's, against libtorch's batched replicas (R = 8, 32, 64) and the Python PyTorch
//! loop, one thread, on MNIST parity FC-5L h128 relu, α = 2^15, B = 16, P = 1024, mixed T
//! (2^-8…2^-5), to convergence; with useful GFLOP/s and the fraction of this machine's SGEMM
//! peak measured in the same run. `--phase`: the phase diagram's GELU setting instead.

use std::time::Instant;

use sgdnoise_core::datasets::{DataPaths, DataSpec, Pool, RunData};
use sgdnoise_core::run::{Activation, ArchKind, ArchSpec, Dtype};
use sgdnoise_torch::nn::fc_cpu::train_fc_cpu;
use sgdnoise_torch::nn::kernels::Path;
use sgdnoise_torch::nn::{replicas, runtime, train, train_with_autograd, train_with_libtorch, TrainConfig};
use tch::Device;

#[path = "fc_flops.rs"]
mod fc_flops;
use fc_flops::{flops_per_step, sgemm_peak, useful};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `--only R`: just the batched run with R replicas (for profiling); `--only 0`: the single runs.
    let only: Option<usize> =
        args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).and_then(|r| r.parse().ok());
    let python = args.first().filter(|a| !a.starts_with("--")).cloned();
    // `--phase`: the quick phase diagram's setting instead (GELU, α = 1, P = 256, small T).
    let phase = args.iter().any(|a| a == "--phase");
    let (act, alpha, p, t0) =
        if phase { (Activation::Gelu, 1.0, 256, -12) } else { (Activation::Relu, 32768.0, 1024, -8) };
    let ts: Vec<f64> = (t0..t0 + 4).map(|k| 2f64.powi(k)).collect();
    runtime::set_threads(1);
    let peak = sgemm_peak();
    println!(
        "bench-replicas: FC-5L h128 {}, MNIST parity, alpha {alpha}, B 16, P {p}, T 2^{t0}..2^{}, 1 thread, libtorch {}",
        act.name(),
        t0 + 3,
        runtime::libtorch_version_full()
    );
    println!("  SGEMM peak (1024², 1 thread): {:.1} GFLOP/s", peak / 1e9);
    let pool = Pool::load(&DataSpec::MnistParity, &DataPaths::from_env()).expect("MNIST (run scripts/setup.sh)");
    let (test, rest) = pool.split(2048, 0).unwrap();
    let config = |i: usize| TrainConfig {
        arch: ArchSpec { kind: ArchKind::Fc, depth: 5, width: 128, act },
        alpha,
        temperature: ts[i % ts.len()],
        batch: 16,
        seed: i as u64,
        max_steps: 1_000_000,
        max_wall: None,
        dtype: Dtype::F32,
        device: Device::Cpu,
        trajectory: false,
    };
    let (forward, backward) = flops_per_step(784.0, 128.0, 5.0, 16.0);
    println!(
        "  one step: {:.1} MFLOP forward + {:.1} MFLOP backward and update (only when the batch loss is positive)",
        forward / 1e6,
        backward / 1e6
    );
    // Useful FLOPs: every step's forward pass, and the backward pass of the steps that update.
    // `counts`: (updates, seconds in stop detection) when known.
    let report = |label: &str, steps: u64, wall: f64, counts: Option<(u64, f64)>| {
        let rate = steps as f64 / wall;
        let Some((updates, checks)) = counts else {
            println!("  {label:<18} {rate:>9.0} replica-steps/s");
            return rate;
        };
        // The count: every step a full forward and backward, three forward passes.
        let nominal = rate * 3.0 * forward;
        println!(
            "  {label:<18} {rate:>9.0} replica-steps/s  {} (nominal 3×forward per step: {:.1} GFLOP/s = {:.0}%)",
            useful(steps, updates, wall, (forward, backward), peak),
            nominal / 1e9,
            100.0 * nominal / peak,
        );
        println!(
            "  {:<18} {steps} steps, {:.0}% of them updating; stop checks {:.1}% of the time",
            "",
            100.0 * updates as f64 / steps as f64,
            100.0 * checks / wall
        );
        rate
    };
    let data: Vec<RunData> = (0..64).map(|i| RunData::from_split(&pool, &test, &rest, p, i as u64).unwrap()).collect();
    // Single runs, one after the other: autograd's step, libtorch's hand-written one, ours (on
    // AVX2 too where ours runs AVX-512: the same bits, fewer chains at a time).
    let singles = if only.unwrap_or(0) == 0 { 4 } else { 0 };
    println!("  this step's instruction path: {:?}", Path::fastest());
    let mut ways = vec!["single, autograd", "single, previous"];
    if Path::fastest() == Path::Fma512 {
        ways.push("single, AVX2 path");
    }
    ways.push("single, this step");
    let (mut single, mut rates, mut step_counts) = (1.0, Vec::new(), Vec::new());
    for way in ways.into_iter().filter(|_| singles > 0) {
        let (mut steps, mut updates, mut checks, mut loop_wall, t0) = (0, 0, 0.0, 0.0, Instant::now());
        let mut counts = Vec::new();
        for (i, d) in data.iter().enumerate().take(singles) {
            let record = match way {
                "single, autograd" => train_with_autograd(&config(i), d),
                "single, previous" => train_with_libtorch(&config(i), d),
                "single, AVX2 path" => train_fc_cpu(&config(i), d, Path::Fma256),
                _ => train(&config(i), d),
            }
            .unwrap();
            (steps, updates) = (steps + record.steps, updates + record.updates);
            (checks, loop_wall) = (checks + record.clock().check_wall_s, loop_wall + record.clock().wall_s);
            counts.push(record.steps);
        }
        single = report(way, steps, t0.elapsed().as_secs_f64(), Some((updates, checks)));
        println!(
            "  {:<18} {:>9.0} steps/s in the training loop alone; steps per run {counts:?}",
            "",
            steps as f64 / loop_wall
        );
        rates.push(single);
        step_counts.push(counts);
    }
    if let [autograd, previous, .., ours] = rates[..] {
        println!(
            "  this step: {:.2}x the previous step, {:.2}x autograd's (steps per run equal to the previous step's: {} of {})",
            ours / previous,
            ours / autograd,
            step_counts[step_counts.len() - 1].iter().zip(&step_counts[1]).filter(|(a, b)| a == b).count(),
            singles
        );
        if rates.len() == 4 {
            println!(
                "  this step: {:.2}x its AVX2 path (the same steps: {})",
                ours / rates[2],
                step_counts[2] == step_counts[3]
            );
        }
    }
    for r in only.map(|r| vec![r]).unwrap_or_else(|| vec![8usize, 32, 64]).into_iter().filter(|&r| r > 0) {
        let runs: Vec<(TrainConfig, &RunData)> = (0..r).map(|i| (config(i), &data[i])).collect();
        let (mut steps, mut updates, mut checks, t0) = (0, 0, 0.0, Instant::now());
        replicas::train_replicas_batched(&runs, &mut |_, rec| {
            (steps, updates, checks) = (steps + rec.steps, updates + rec.updates, checks + rec.clock().check_wall_s)
        })
        .unwrap();
        let rate = report(&format!("batched R = {r}"), steps, t0.elapsed().as_secs_f64(), Some((updates, checks)));
        println!("  {:<18} this step single: {:.2}x", "", single / rate);
    }
    if let Some(py) = python {
        let out = std::process::Command::new(py)
            .args(["scripts/reference_train.py", "--P", &p.to_string(), "--T", &ts[0].to_string(), "--threads", "1"])
            .args(["--alpha", &alpha.to_string(), "--act", act.name(), "--gain", &act.gain().to_string(), "--mnist"])
            .arg(DataPaths::from_env().mnist)
            .output()
            .expect("python reference");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("reference JSON");
        let rate =
            report("python pytorch", v["steps"].as_u64().unwrap_or(0), v["wall_s"].as_f64().unwrap_or(1.0), None);
        println!("  this step single / python: {:.2}x", single / rate);
    }
}
