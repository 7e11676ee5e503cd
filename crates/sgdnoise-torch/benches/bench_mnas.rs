//! Benchmark: MnasNet steps/s of sgdnoise's training loop against the same loop in Python
//! PyTorch (scripts/reference_mnas.py), in one invocation, same settings and thread count; prints
//! both and the ratio. MNIST parity, mnas h (default 64) relu, α = 2^15, B = 16, P = 1024,
//! T = 2^-6. sgdnoise's cost per step is the difference of a run of 2N steps and one of N steps,
//! so a run's fixed costs (the centring pass, the final full-set pass) cancel; Python times its
//! loop of N steps alone.

use std::process::Command;

use sgdnoise_core::datasets::DataPaths;
use sgdnoise_core::run::ArchKind;
use sgdnoise_core::run::RunSpec;
use sgdnoise_torch::nn::{runtime, train};
use sgdnoise_torch::resolve::Resolve;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let python = arg("--python").unwrap_or_else(|| "python3".into());
    let width: usize = arg("--width").map(|v| v.parse().expect("--width N")).unwrap_or(64);
    let steps: u64 = arg("--steps").map(|v| v.parse().expect("--steps N")).unwrap_or(10);
    let threads: usize = arg("--threads").map(|v| v.parse().expect("--threads N")).unwrap_or(1);
    runtime::set_threads(threads);
    println!(
        "bench-mnas: MNIST parity, mnas h{width} relu, alpha 2^15, B 16, P 1024, T 2^-6, {threads} thread(s), libtorch {}",
        runtime::libtorch_version_full()
    );
    let paths = DataPaths::from_env();
    let run = |max_steps: u64| -> f64 {
        let spec = RunSpec { arch: ArchKind::Mnas, width, max_steps, test_size: Some(1024), ..RunSpec::default() };
        let mut resolved = spec.resolve(None, tch::Device::Cpu).expect("valid spec");
        resolved.config.trajectory = false;
        let data = resolved.draw_data(&paths).expect("MNIST present (run scripts/setup.sh)");
        let record = train(&resolved.config, &data).expect("train");
        assert_eq!(record.steps, max_steps, "the run ran to its step limit");
        record.clock().wall_s
    };
    let (short, long) = (run(steps), run(2 * steps));
    let ours = steps as f64 / (long - short);
    println!("  sgdnoise: {ours:.2} steps/s ({steps} steps: {short:.1} s, {} steps: {long:.1} s)", 2 * steps);
    let out = Command::new(&python)
        .args(["scripts/reference_mnas.py", "--width", &width.to_string(), "--steps", &steps.to_string()])
        .args(["--threads", &threads.to_string()])
        .output()
        .expect("run python");
    let text = String::from_utf8_lossy(&out.stdout);
    let reference: serde_json::Value = match serde_json::from_str(text.trim()) {
        Ok(v) => v,
        Err(_) => {
            println!("  python: failed: {}", String::from_utf8_lossy(&out.stderr));
            return;
        }
    };
    let theirs = reference["steps_per_s"].as_f64().unwrap_or(f64::NAN);
    let wall = reference["wall_s"].as_f64().unwrap_or(f64::NAN);
    println!("  python PyTorch: {theirs:.2} steps/s ({steps} steps: {wall:.1} s)");
    println!("  ratio sgdnoise / python: {:.2}x", ours / theirs);
}
