//! The GPU check (`scripts/gpu-check.sh` runs it on a lent GPU machine; here it runs on the CPU so
//! that it is tested): on the device it is given,
//! 1. libtorch sees the device;
//! 2. an FC-5L MNIST-parity run stops at the same step count as the same run on the CPU, within
//!    [`STEP_TOLERANCE`], with its observables within [`OBSERVABLE_TOLERANCE`] (float order
//!    differs between devices, so bitwise agreement is not expected; the trajectories drift apart
//!    slowly and the stop moves a little);
//! 3. steps/s of single runs and of batched replicas (R = 64…1024) on the device, against the CPU
//!    in the same invocation;
//! 4. what the paper's low-T phase-diagram corner (GELU, α = 1, about 10^7 steps per run) would
//!    cost there, from the measured rates.
//!
//! `bench-gpu [--device cuda|cuda:N|cpu] [--quick]`: `--quick` shrinks every run (the test).
//! Prints a Markdown report; exits 1 when a check fails.

use std::process::ExitCode;
use std::time::Instant;

use sgdnoise_core::datasets::{DataPaths, DataSpec, Pool, RunData};
use sgdnoise_core::run::{Activation, ArchKind, ArchSpec, Dtype, RunRecord};
use sgdnoise_torch::nn::{replicas, runtime, train, TrainConfig};
use tch::Device;

/// The relative difference allowed between the stop steps on the device and on the CPU.
const STEP_TOLERANCE: f64 = 0.10;
/// The relative difference allowed between ‖w−w0‖/‖w0‖ on the device and on the CPU; the test
/// errors may differ by this much in absolute terms.
const OBSERVABLE_TOLERANCE: f64 = 0.10;
/// Steps per run in the paper's low-T phase-diagram corner.
const CORNER_STEPS: f64 = 1e7;

struct Setting {
    p: usize,
    test: usize,
    agree_steps: u64,
    rate_steps: u64,
    replicas: Vec<usize>,
}

fn config(device: Device, act: Activation, alpha: f64, t: f64, seed: u64, max_steps: u64) -> TrainConfig {
    TrainConfig {
        arch: ArchSpec { kind: ArchKind::Fc, depth: 5, width: 128, act },
        alpha,
        temperature: t,
        batch: 16,
        seed,
        max_steps,
        max_wall: None,
        dtype: Dtype::F32,
        device,
        trajectory: false,
    }
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}

/// Replica-steps per second of `r` batched replicas (one run when `r` is 1).
fn rate(device: Device, act: Activation, alpha: f64, t: f64, data: &[RunData], r: usize, steps: u64) -> f64 {
    let t0 = Instant::now();
    let mut done = 0u64;
    if r == 1 {
        let rec = train(&config(device, act, alpha, t, 0, steps), &data[0]).expect("a single run");
        done += rec.steps;
    } else {
        let runs: Vec<(TrainConfig, &RunData)> =
            (0..r).map(|i| (config(device, act, alpha, t, i as u64, steps), &data[i % data.len()])).collect();
        replicas::train_replicas(&runs, &mut |_, rec: RunRecord| done += rec.steps).expect("batched replicas");
    }
    done as f64 / t0.elapsed().as_secs_f64()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let device_name = args.iter().position(|a| a == "--device").and_then(|i| args.get(i + 1)).map_or("cuda", |s| s);
    let setting = if quick {
        Setting { p: 128, test: 512, agree_steps: 20_000, rate_steps: 200, replicas: vec![64] }
    } else {
        Setting {
            p: 1024,
            test: 2048,
            agree_steps: 1_000_000,
            rate_steps: 2_000,
            replicas: vec![64, 128, 256, 512, 1024],
        }
    };
    runtime::set_threads(runtime::default_threads(1));
    let mut failed = 0;
    println!("# sgdnoise GPU check\n");
    println!("- libtorch {} ({} CPU threads)", runtime::libtorch_version_full(), runtime::threads());
    let cuda = tch::Cuda::is_available();
    let names = runtime::cuda_device_names();
    println!("- CUDA: {}", if cuda { names.join(", ") } else { "not available".to_owned() });
    let device = match runtime::parse_device(device_name) {
        Ok(d) => d,
        Err(e) => {
            println!("- **FAIL** device `{device_name}`: {e}");
            return ExitCode::from(1);
        }
    };
    if device_name.starts_with("cuda") && !cuda {
        println!("- **FAIL** `doctor` would not see CUDA: nothing else to check");
        return ExitCode::from(1);
    }
    println!("- checked device: {} ({})\n", runtime::device_name(device), device_name);

    let pool = match Pool::load(&DataSpec::MnistParity, &DataPaths::from_env()) {
        Ok(p) => p,
        Err(e) => {
            println!("**FAIL** MNIST: {e} (set SGDNOISE_DATA)");
            return ExitCode::from(1);
        }
    };
    let (test, rest) = pool.split(setting.test, 0).expect("a test split");
    let data: Vec<RunData> =
        (0..8).map(|i| RunData::from_split(&pool, &test, &rest, setting.p, i).expect("run data")).collect();

    // 2. The same run on the CPU and on the device.
    let (alpha, t) = (32768.0, 2f64.powi(-6));
    println!("## Agreement: FC-5L h128 ReLU, MNIST parity, α = 2^15, B = 16, P = {}, T = 2^-6, seed 0\n", setting.p);
    let t0 = Instant::now();
    let cpu =
        train(&config(Device::Cpu, Activation::Relu, alpha, t, 0, setting.agree_steps), &data[0]).expect("cpu run");
    let cpu_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let dev = train(&config(device, Activation::Relu, alpha, t, 0, setting.agree_steps), &data[0]).expect("device run");
    let dev_s = t1.elapsed().as_secs_f64();
    println!("| | CPU | {device_name} | difference | allowed |\n|---|---|---|---|---|");
    let steps_diff = rel(cpu.steps as f64, dev.steps as f64);
    let dw_diff = rel(cpu.rel_dw, dev.rel_dw);
    let err_diff = (cpu.test_err - dev.test_err).abs();
    println!(
        "| stop step | {} | {} | {:.1}% | {:.0}% |",
        cpu.steps,
        dev.steps,
        100.0 * steps_diff,
        100.0 * STEP_TOLERANCE
    );
    println!(
        "| ‖w−w0‖/‖w0‖ | {:.5} | {:.5} | {:.1}% | {:.0}% |",
        cpu.rel_dw,
        dev.rel_dw,
        100.0 * dw_diff,
        100.0 * OBSERVABLE_TOLERANCE
    );
    println!(
        "| test error | {:.4} | {:.4} | {:.4} | {:.2} |",
        cpu.test_err, dev.test_err, err_diff, OBSERVABLE_TOLERANCE
    );
    println!("| status | {:?} | {:?} | | |", cpu.status, dev.status);
    println!("| wall | {cpu_s:.1} s | {dev_s:.1} s | | |\n");
    for (what, ok) in [
        ("the stop step", steps_diff <= STEP_TOLERANCE),
        ("‖w−w0‖/‖w0‖", dw_diff <= OBSERVABLE_TOLERANCE),
        ("the test error", err_diff <= OBSERVABLE_TOLERANCE),
        ("the status", cpu.status == dev.status),
    ] {
        if !ok {
            failed += 1;
            println!("**FAIL** {what} differs beyond the tolerance\n");
        }
    }

    // 3. Throughput: single runs and batched replicas, device against CPU.
    println!(
        "## Throughput (replica-steps/s; at most {} steps per run, fewer for R > 64 so that each row is about 64 runs' worth)\n",
        setting.rate_steps
    );
    println!(
        "The CPU is measured at R = 1 and R = 64 (batching beyond 64 does not help it); larger R on the device are set \
         against the CPU's R = 64.\n"
    );
    println!("| setting | R | CPU | {device_name} | ratio |\n|---|---|---|---|---|");
    let mut corner = Vec::new();
    for (label, act, alpha, t) in [
        ("ReLU, α = 2^15, T = 2^-6", Activation::Relu, 32768.0, t),
        ("GELU, α = 1, T = 2^-12 (low-T corner)", Activation::Gelu, 1.0, 2f64.powi(-12)),
    ] {
        let mut cpu_batched = None;
        for r in std::iter::once(1).chain(setting.replicas.iter().copied()) {
            // Fewer steps for more replicas: each measurement is about 64 runs' worth of steps.
            let steps = (setting.rate_steps * 64 / r.max(64) as u64).max(50);
            let (c, measured) = match (r, cpu_batched) {
                (1, _) | (_, None) => (rate(Device::Cpu, act, alpha, t, &data, r, steps), true),
                (_, Some(c)) => (c, false),
            };
            if r > 1 && cpu_batched.is_none() {
                cpu_batched = Some(c);
            }
            let d = rate(device, act, alpha, t, &data, r, steps);
            let shown = if measured { format!("{c:.0}") } else { format!("({c:.0} at R = 64)") };
            println!("| {label} | {r} | {shown} | {d:.0} | {:.2}× |", d / c);
            if act == Activation::Gelu {
                corner.push((r, c, d));
            }
        }
    }

    // 4. The low-T corner: 10^7 steps per run.
    println!("\n## The low-T phase-diagram corner: {CORNER_STEPS:.0e} steps per run\n");
    println!("| R batched | CPU hours per run | {device_name} hours per run | {device_name} hours for R runs together |\n|---|---|---|---|");
    for (r, c, d) in corner {
        println!(
            "| {r} | {:.2} | {:.3} | {:.2} |",
            CORNER_STEPS / c / 3600.0,
            CORNER_STEPS / d / 3600.0,
            CORNER_STEPS * r as f64 / d / 3600.0
        );
    }
    println!(
        "\nThe GELU rates are measured over at most {} steps at P = {}; the corner's runs are longer but their step costs the same.",
        setting.rate_steps, setting.p
    );
    if failed > 0 {
        println!("\n**{failed} check(s) failed.**");
        return ExitCode::from(1);
    }
    println!("\nAll checks passed.");
    ExitCode::SUCCESS
}
