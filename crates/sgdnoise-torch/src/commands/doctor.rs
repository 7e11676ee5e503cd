//! `sgdnoise doctor`: what libtorch, devices, threads and datasets this process sees.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::nn::runtime;
use sgdnoise_core::datasets::{sources, DataPaths, DatasetStatus};

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Intra-op threads to report as the default for one worker.
    #[arg(long)]
    threads: Option<usize>,
}

pub(crate) fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    runtime::set_threads(args.threads.unwrap_or_else(|| runtime::default_threads(1)));
    let paths = DataPaths::from_env();
    let datasets = sources::survey(&paths);
    let cuda = tch::Cuda::is_available();
    let devices = runtime::cuda_device_names();
    let report = json!({
        "sgdnoise_version": env!("CARGO_PKG_VERSION"),
        "tch_version": "0.24.0",
        "libtorch_version": runtime::libtorch_version(),
        "libtorch_build": runtime::libtorch_version_full(),
        "libtorch_dir": runtime::loaded_libtorch_dir().map(|p| p.display().to_string()),
        "built_against": runtime::BUILD_LIBTORCH_VERSION,
        "cuda_available": cuda,
        "cuda_devices": devices,
        "cudnn_available": tch::Cuda::cudnn_is_available(),
        "cores": runtime::cores(),
        "threads": runtime::threads(),
        "datasets": datasets.iter().map(|(n, s, _)| (n.to_string(), json!(s))).collect::<serde_json::Map<_, _>>(),
        "dataset_details": datasets.iter().map(|(n, _, d)| (n.to_string(), json!(d))).collect::<serde_json::Map<_, _>>(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let line = |k: &str, v: String| println!("{k:>16}  {v}");
        line("sgdnoise", env!("CARGO_PKG_VERSION").into());
        line("tch", "0.24.0".into());
        line(
            "libtorch",
            format!("{} ({})", runtime::libtorch_version_full(), report["libtorch_dir"].as_str().unwrap_or("?")),
        );
        line(
            "cuda",
            if cuda { format!("available: {}", devices.join(", ")) } else { "not available (CPU only)".into() },
        );
        line("threads", format!("{} intra-op of {} cores", runtime::threads(), runtime::cores()));
        for (name, status, detail) in &datasets {
            let tag = match status {
                DatasetStatus::Ok => "ok",
                DatasetStatus::Missing => "missing",
                DatasetStatus::BadChecksum => "bad-checksum",
                DatasetStatus::BadLayout => "bad-layout",
            };
            line(name, format!("{tag}: {detail}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
