//! `sgdnoise train`: one run from the command line.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::commands::InvalidInput;
use crate::nn::{runtime, train};
use crate::resolve::{record_of, Resolve, RunReport};
use sgdnoise_core::datasets::task::DataName;
use sgdnoise_core::datasets::DataPaths;
use sgdnoise_core::run::{defaults, RunSpec};
use sgdnoise_core::run::{Activation, ArchKind, Dtype};

#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// The task.
    #[arg(long, value_enum, default_value_t = DataName::MnistParity)]
    data: DataName,
    /// χ of the depleted data.
    #[arg(long)]
    chi: Option<f64>,
    /// Input dimension d of the depleted data.
    #[arg(long)]
    dim: Option<usize>,
    /// The net.
    #[arg(long, value_enum, default_value_t = defaults::ARCH)]
    arch: ArchKind,
    /// Hidden layers L (fc).
    #[arg(long, default_value_t = defaults::DEPTH)]
    depth: usize,
    /// Width h (fc, mnas).
    #[arg(long, default_value_t = defaults::WIDTH)]
    width: usize,
    /// The activation.
    #[arg(long, value_enum, default_value_t = defaults::ACT)]
    act: Activation,
    /// α, the output scale (a number or a power of two, `2^15`).
    #[arg(long, default_value = "32768", value_parser = number)]
    alpha: f64,
    /// Training points P.
    #[arg(long = "P", default_value_t = 1024)]
    p: usize,
    /// Temperature T = dt/(h·B) (a number or a power of two, `2^-6`).
    #[arg(long = "T", default_value = "2^-6", value_parser = number)]
    temperature: f64,
    /// Batch size B.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// The run seed: training subset, initial weights and batches.
    #[arg(long, default_value_t = defaults::SEED)]
    seed: u64,
    /// Test points (drawn from the pooled images with --test-seed).
    #[arg(long, default_value_t = defaults::TEST_SIZE)]
    test_size: usize,
    /// The seed of the test split.
    #[arg(long, default_value_t = defaults::TEST_SEED)]
    test_seed: u64,
    /// Stop, not converged, after this many SGD steps.
    #[arg(long, default_value_t = defaults::MAX_STEPS)]
    max_steps: u64,
    /// Wall-clock limit in seconds.
    #[arg(long)]
    max_wall: Option<f64>,
    /// The floating-point precision.
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    dtype: Dtype,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// libtorch intra-op threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the record as one JSON object.
    #[arg(long)]
    json: bool,
}

/// A number as pipelines write it: plain, or a power of two (`2^-8`).
fn number(text: &str) -> Result<f64, String> {
    sgdnoise_core::numbers::parse_number(text)
        .ok_or_else(|| format!("`{text}` is not a number or a power of two (2^k)"))
}

pub(crate) fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    runtime::set_threads(args.threads.unwrap_or_else(|| runtime::default_threads(1)));
    let device = runtime::parse_device(&args.device).map_err(|e| InvalidInput(e.to_string()))?;
    let spec = RunSpec {
        data: args.data,
        chi: args.chi,
        dim: args.dim,
        arch: args.arch,
        depth: args.depth,
        width: args.width,
        act: args.act,
        alpha: args.alpha,
        p: args.p,
        temperature: args.temperature,
        batch: args.batch,
        seed: args.seed,
        test_size: Some(args.test_size),
        test_seed: Some(args.test_seed),
        max_steps: args.max_steps,
        max_wall: args.max_wall,
        dtype: args.dtype,
    };
    let resolved = spec.resolve(None, device).map_err(|e| InvalidInput(e.to_string()))?;
    let paths = DataPaths::from_env();
    let data = resolved.draw_data(&paths).context("preparing the data")?;
    let record = train(&resolved.config, &data).context("training")?;
    if args.json {
        let (stored, env) = record_of(&spec, &resolved, &data, &record);
        println!("{}", serde_json::to_string(&RunReport { record: stored, timing: record.clock(), env })?);
    } else {
        let r = &record;
        println!("{:>12} {} after {} steps (t = {:.6}, dt = {})", "Finished", r.status.name(), r.steps, r.t, r.dt);
        println!("{:>12} train err {:.4}, loss {:.3e}, unfitted {}", "", r.train_err, r.train_loss, r.unfitted);
        println!("{:>12} test err {:.4}, loss {:.4e}", "", r.test_err, r.test_loss);
        println!("{:>12} ‖w−w0‖/‖w0‖ = {:.4e} (‖w−w0‖ = {:.4e}, ‖w0‖ = {:.4e})", "", r.rel_dw, r.dw_norm, r.w0_norm);
        if let (Some(w1), Some(wp)) = (r.w1, r.w_perp) {
            println!("{:>12} w1 = {w1:.4e}, ‖w⊥‖ = {wp:.4e}", "");
        }
        println!(
            "{:>12} {:.0} steps/s, {:.2}s, {} full-set checks ({:.3}s) on {} with libtorch {}, {} threads",
            "",
            r.clock().steps_per_s,
            r.clock().wall_s,
            r.full_checks,
            r.clock().check_wall_s,
            runtime::device_name(resolved.config.device),
            runtime::libtorch_version_full(),
            runtime::threads()
        );
    }
    // A diverged run is an observation (the record says so), not a failure of the command.
    Ok(ExitCode::SUCCESS)
}
