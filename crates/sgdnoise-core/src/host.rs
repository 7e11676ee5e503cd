//! What the coordinator knows of the machine and of the libtorch its workers will load, without
//! loading libtorch: cores, the libtorch version that enters keys, the requested device, and the
//! `sgdnoise-torch` binary that trains.

use std::path::PathBuf;

/// The version of the libtorch the build linked (from build.rs).
pub const BUILD_LIBTORCH_VERSION: &str = match option_env!("SGDNOISE_BUILD_LIBTORCH_VERSION") {
    Some(v) => v,
    None => "unknown",
};

/// The source revision a binary was built from: the git commit and whether tracked files
/// differed from it. Recorded in every execution row and shown by `why`; never keyed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    /// The commit's full hash, or `unknown` (built outside a git checkout).
    pub commit: String,
    /// `None` when unknown.
    pub dirty: Option<bool>,
}

impl Source {
    /// From what the binary's build script baked in (`unknown` when it had no git).
    pub fn from_build(commit: &str, dirty: &str) -> Source {
        Source { commit: commit.to_owned(), dirty: dirty.parse().ok() }
    }

    /// For a process that was not told (a library caller, the worker binary).
    pub fn unknown() -> Source {
        Source { commit: "unknown".into(), dirty: None }
    }

    /// `0123456789ab`, `0123456789ab-dirty` or `unknown`.
    pub fn short(&self) -> String {
        if self.commit == "unknown" {
            return self.commit.clone();
        }
        let c = &self.commit[..self.commit.len().min(12)];
        if self.dirty == Some(true) {
            format!("{c}-dirty")
        } else {
            c.to_owned()
        }
    }
}

/// The processor's model name as the kernel reports it (`/proc/cpuinfo`), or `unknown`. Recorded
/// beside each run (never keyed): the perceptron and the CPU's FC step give the same bits on every
/// x86-64 processor, but runs through libtorch's kernels (MnasNet, float64) may not, and a run
/// stopped by its wall-clock limit depends on the processor's speed.
pub fn processor() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, name)| name.trim().to_owned())
            })
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    })
    .clone()
}

/// The vector extensions of this processor that decide the CPU step's instruction path (AVX-512F,
/// AVX2, FMA), space-separated; empty where it has none of them.
pub fn vector_extensions() -> String {
    let mut found: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            found.push("avx512f");
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            found.push("avx2");
        }
        if std::arch::is_x86_feature_detected!("fma") {
            found.push("fma");
        }
    }
    found.join(" ")
}

/// Cores available to this process.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// The default intra-op threads for `workers` concurrent runs: cores divided among them.
pub fn default_threads(workers: usize) -> usize {
    (cores() / workers.max(1)).max(1)
}

include!("../../sgdnoise-torch/build/libtorch_version.rs");

/// The folder the dynamic loader will take `libtorch_cpu.so` from in a worker started from
/// here: the first of `LD_LIBRARY_PATH` that has it, else the binary's run path (the build's).
pub fn workers_libtorch_dir() -> Option<PathBuf> {
    let from_env = std::env::var_os("LD_LIBRARY_PATH")
        .and_then(|paths| std::env::split_paths(&paths).find(|d| d.join("libtorch_cpu.so").is_file()));
    from_env.or_else(|| option_env!("SGDNOISE_BUILD_LIBTORCH_DIR").map(PathBuf::from))
}

/// The libtorch version (with its build tag, e.g. `2.11.0+cu130`) the workers will run: what
/// enters the keys of training instances. `sgdnoise-torch` checks it against the library it
/// actually loaded before it trains.
pub fn workers_libtorch_version() -> String {
    workers_libtorch_dir().and_then(|d| libtorch_version(&d)).unwrap_or_else(|| BUILD_LIBTORCH_VERSION.to_owned())
}

/// The binary that links libtorch: `sgdnoise-torch` beside this one.
pub fn torch_exe() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sgdnoise"));
    if me.file_name().is_some_and(|n| n == "sgdnoise-torch") {
        return me;
    }
    me.with_file_name("sgdnoise-torch")
}

/// Why a device cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("unknown device `{0}` (expected auto, cpu, cuda or cuda:N)")]
    Unknown(String),
    #[error("cannot ask {exe} for its CUDA devices: {message}")]
    Doctor { exe: String, message: String },
    #[error("device cuda requested but libtorch sees no CUDA device")]
    NoCuda,
    #[error("device cuda:{index} requested but libtorch sees {count} CUDA devices")]
    NoSuchCuda { index: usize, count: usize },
}

/// A device as asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRequest {
    Auto,
    Cpu,
    /// `cuda` (device 0) or `cuda:N`.
    Cuda(usize),
}

impl DeviceRequest {
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    pub fn parse(name: &str) -> Result<DeviceRequest, DeviceError> {
        match name {
            "auto" => Ok(DeviceRequest::Auto),
            "cpu" => Ok(DeviceRequest::Cpu),
            "cuda" => Ok(DeviceRequest::Cuda(0)),
            other => match other.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
                Some(i) => Ok(DeviceRequest::Cuda(i)),
                None => Err(DeviceError::Unknown(other.to_owned())),
            },
        }
    }
}

/// The CUDA devices the workers' libtorch sees, asked of `sgdnoise-torch doctor` (only when a
/// GPU is requested: it loads libtorch).
pub fn cuda_device_count() -> Result<usize, DeviceError> {
    let exe = torch_exe();
    let doctor = |message: String| DeviceError::Doctor { exe: exe.display().to_string(), message };
    let out = std::process::Command::new(&exe)
        .args(["doctor", "--json"])
        .output()
        .map_err(|e| doctor(format!("cannot run it: {e}")))?;
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| doctor(format!("doctor --json: {e}")))?;
    Ok(v["cuda_devices"].as_array().map(Vec::len).unwrap_or(0))
}

/// The device jobs run on (`cpu`, `cuda:N`) and its class (`cpu`, `cuda`), which enters keys.
pub fn resolve_device(name: &str) -> Result<(String, &'static str), DeviceError> {
    match DeviceRequest::parse(name)? {
        DeviceRequest::Cpu => Ok(("cpu".into(), "cpu")),
        DeviceRequest::Auto => match cuda_device_count()? {
            0 => Ok(("cpu".into(), "cpu")),
            _ => Ok(("cuda:0".into(), "cuda")),
        },
        DeviceRequest::Cuda(i) => {
            let n = cuda_device_count()?;
            match (i, n) {
                (_, 0) if name == "cuda" => Err(DeviceError::NoCuda),
                (i, n) if i < n => Ok((format!("cuda:{i}"), "cuda")),
                (index, count) => Err(DeviceError::NoSuchCuda { index, count }),
            }
        }
    }
}

/// Makes glibc keep freed memory for reuse instead of mapping and unmapping large blocks at
/// every allocation: libtorch allocates each activation afresh, and a MnasNet h = 64 step spent
/// as long in the kernel (page faults, munmap) as in the net (54 s of system time in a 110 s run;
/// 0.7 s after). Memory is still freed to the allocator, only not given back to the system.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_by_name() {
        assert_eq!(DeviceRequest::parse("cuda:3"), Ok(DeviceRequest::Cuda(3)));
        assert_eq!(DeviceRequest::parse("cpu"), Ok(DeviceRequest::Cpu));
        assert_eq!(
            DeviceRequest::parse("tpu").map_err(|e| e.to_string()),
            Err("unknown device `tpu` (expected auto, cpu, cuda or cuda:N)".to_owned())
        );
        assert_eq!(resolve_device("cpu"), Ok(("cpu".to_owned(), "cpu")));
    }
}
