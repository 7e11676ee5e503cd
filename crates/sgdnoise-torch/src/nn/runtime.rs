//! The libtorch this process runs on: its version (read from the loaded library's folder, so a
//! GPU machine's own libtorch is reported truthfully), threads, and devices.

use std::path::PathBuf;

use sgdnoise_core::host::{DeviceError, DeviceRequest};
use tch::Device;

pub use sgdnoise_core::host::{cores, default_threads, tune_allocator, BUILD_LIBTORCH_VERSION};

/// The folder of the libtorch_cpu.so mapped into this process.
pub fn loaded_libtorch_dir() -> Option<PathBuf> {
    // Make sure libtorch is loaded before looking.
    let _ = tch::get_num_threads();
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so") || p.contains("/libtorch_cpu.so."))
        .and_then(|p| PathBuf::from(p).parent().map(|d| d.to_owned()))
}

/// The running libtorch's version with its build tag, e.g. `2.11.0+cu130`.
pub fn libtorch_version_full() -> String {
    loaded_libtorch_dir()
        .and_then(|lib| sgdnoise_core::host::libtorch_version(&lib))
        .unwrap_or_else(|| BUILD_LIBTORCH_VERSION.to_owned())
}

/// The running libtorch's version without the build tag, e.g. `2.11.0`.
pub fn libtorch_version() -> String {
    let full = libtorch_version_full();
    full.split('+').next().unwrap_or(&full).to_owned()
}

/// Sets libtorch's intra-op threads (and one inter-op thread: we never run graphs in parallel).
pub fn set_threads(n: usize) {
    tch::set_num_threads(n.max(1) as i32);
}

pub fn threads() -> usize {
    tch::get_num_threads().max(1) as usize
}

/// `auto`, `cpu`, `cuda` or `cuda:N`, as this process's libtorch sees the devices.
pub fn parse_device(name: &str) -> Result<Device, DeviceError> {
    let count = || tch::Cuda::device_count().max(0) as usize;
    match DeviceRequest::parse(name)? {
        DeviceRequest::Auto => Ok(Device::cuda_if_available()),
        DeviceRequest::Cpu => Ok(Device::Cpu),
        DeviceRequest::Cuda(_) if name == "cuda" && !tch::Cuda::is_available() => Err(DeviceError::NoCuda),
        DeviceRequest::Cuda(i) if i < count() => Ok(Device::Cuda(i)),
        DeviceRequest::Cuda(index) => Err(DeviceError::NoSuchCuda { index, count: count() }),
    }
}

/// `cpu` or `cuda`: the device class that enters cache keys.
pub fn device_class(device: Device) -> &'static str {
    match device {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        _ => "other",
    }
}

pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}

/// Names of the CUDA devices (from nvidia-smi when present).
pub fn cuda_device_names() -> Vec<String> {
    let n = tch::Cuda::device_count();
    if n <= 0 {
        return Vec::new();
    }
    let smi = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name", "--format=csv,noheader"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(|l| l.trim().to_owned()).collect::<Vec<_>>());
    (0..n as usize)
        .map(|i| smi.as_ref().and_then(|names| names.get(i).cloned()).unwrap_or_else(|| format!("cuda:{i}")))
        .collect()
}
