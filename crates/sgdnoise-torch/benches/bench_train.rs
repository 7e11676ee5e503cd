//! Benchmark: steps/s of sgdnoise's training loop, through the CPU's own step (`fc_cpu`, what
//! training uses; on AVX-512 processors also on its AVX2 path) and the previous one (libtorch's
//! products), against the same loop in Python PyTorch (scripts/reference_train.py), in one
//! invocation, same settings and thread count; prints each, the ratios and useful GFLOP/s against
//! the SGEMM peak measured here. Settings (issue 3): MNIST parity, FC-5L h128 relu, α = 2^15, B = 16,
//! P = 1024, T = 2^-6, to convergence.

use std::process::Command;
use std::time::Instant;

use sgdnoise_core::datasets::DataPaths;
use sgdnoise_core::run::RunSpec;
use sgdnoise_torch::nn::fc_cpu::train_fc_cpu;
use sgdnoise_torch::nn::kernels::Path;
use sgdnoise_torch::nn::{runtime, train, train_with_libtorch};

#[path = "fc_flops.rs"]
mod fc_flops;
use fc_flops::{flops_per_step, sgemm_peak, useful};
use sgdnoise_torch::resolve::Resolve;

struct Opts {
    python: String,
    threads: usize,
    p: usize,
    temperature: f64,
    seeds: u64,
    skip_python: bool,
}

fn parse() -> Opts {
    let mut o =
        Opts { python: "python3".into(), threads: 1, p: 1024, temperature: 0.015625, seeds: 3, skip_python: false };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--python" => o.python = v,
            "--threads" => o.threads = v.parse().expect("--threads N"),
            "--P" => o.p = v.parse().expect("--P N"),
            "--T" => o.temperature = v.parse().expect("--T X"),
            "--seeds" => o.seeds = v.parse().expect("--seeds N"),
            "--skip-python" => {
                o.skip_python = true;
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    o
}

fn main() {
    let o = parse();
    runtime::set_threads(o.threads);
    let paths = DataPaths::from_env();
    println!(
        "bench-train: MNIST parity, FC-5L h128 relu, alpha 2^15, B 16, P {}, T {}, {} thread(s), libtorch {}",
        o.p,
        o.temperature,
        o.threads,
        runtime::libtorch_version_full()
    );
    let peak = sgemm_peak();
    let flops = flops_per_step(784.0, 128.0, 5.0, 16.0);
    println!("  SGEMM peak (1024², 1 thread): {:.1} GFLOP/s", peak / 1e9);
    // This step on its fastest instruction path (what training uses), on AVX2 where that is
    // AVX-512 (the same bits, fewer chains at a time), and the previous step.
    let fastest = Path::fastest();
    println!("  this step's instruction path: {fastest:?}");
    let mut ways = vec![("this step", Some(fastest))];
    if fastest == Path::Fma512 {
        ways.push(("AVX2 path", Some(Path::Fma256)));
    }
    ways.push(("previous", None));
    let mut rates = Vec::new();
    for (way, path) in ways {
        let (mut steps, mut updates, mut wall) = (0u64, 0u64, 0.0);
        for seed in 0..o.seeds {
            let spec =
                RunSpec { p: o.p, temperature: o.temperature, seed, test_size: Some(8192), ..RunSpec::default() };
            let resolved = spec.resolve(None, tch::Device::Cpu).expect("valid spec");
            let data = resolved.draw_data(&paths).expect("MNIST present (run scripts/setup.sh)");
            let t0 = Instant::now();
            let r = match path {
                None => train_with_libtorch(&resolved.config, &data),
                Some(p) if p == fastest => train(&resolved.config, &data),
                Some(p) => train_fc_cpu(&resolved.config, &data, p),
            }
            .expect("train");
            let total = t0.elapsed().as_secs_f64();
            println!(
                "  {way:<9} seed {seed}: {:>10} {:>6} steps  {:>8.0} steps/s  (loop {:.2}s, {} full checks {:.3}s, total with setup {:.2}s)",
                r.status.name(), r.steps, r.clock().steps_per_s, r.clock().wall_s, r.full_checks, r.clock().check_wall_s, total
            );
            (steps, updates, wall) = (steps + r.steps, updates + r.updates, wall + r.clock().wall_s);
        }
        let rate = steps as f64 / wall;
        println!("{way}: {rate:.0} steps/s over {} runs, {}", o.seeds, useful(steps, updates, wall, flops, peak));
        rates.push(rate);
    }
    let (ours, previous) = (rates[0], rates[rates.len() - 1]);
    println!("ratio this step / previous step: {:.2}x", ours / previous);
    if rates.len() == 3 {
        println!("ratio this step / its AVX2 path: {:.2}x", ours / rates[1]);
    }
    if o.skip_python {
        return;
    }
    let (mut py_steps, mut py_wall) = (0u64, 0.0);
    for seed in 0..o.seeds {
        let out = Command::new(&o.python)
            .args(["scripts/reference_train.py", "--P", &o.p.to_string(), "--T", &o.temperature.to_string()])
            .args(["--seed", &seed.to_string(), "--threads", &o.threads.to_string(), "--mnist"])
            .arg(&paths.mnist)
            .output()
            .expect("run the python reference");
        if !out.status.success() {
            eprintln!("python reference failed: {}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("reference prints JSON");
        println!(
            "  pytorch   seed {seed}: {:>10} {:>6} steps  {:>8.0} steps/s  (loop {:.2}s)",
            v["status"].as_str().unwrap_or("?"),
            v["steps"],
            v["steps_per_s"].as_f64().unwrap_or(0.0),
            v["wall_s"].as_f64().unwrap_or(0.0)
        );
        py_steps += v["steps"].as_u64().unwrap_or(0);
        py_wall += v["wall_s"].as_f64().unwrap_or(0.0);
    }
    let py = py_steps as f64 / py_wall;
    println!("pytorch:  {py:.0} steps/s over {} runs", o.seeds);
    println!("ratio this step / pytorch: {:.2}x, previous step / pytorch: {:.2}x", ours / py, previous / py);
}
