//! Link the sgdnoise binaries against libtorch so they run without `LD_LIBRARY_PATH`.
//!
//! torch-sys links `torch_cpu`/`c10` for its own crate, but cargo does not pass those link
//! arguments on to our binaries' run path, and the linker drops `libtorch.so` (which pulls in
//! `libtorch_cuda.so`) as unneeded. Here we find the same libtorch folder torch-sys used (from
//! `LIBTORCH`, `LIBTORCH_LIB` or the python of `LIBTORCH_USE_PYTORCH`), add it as a RUNPATH (so
//! `LD_LIBRARY_PATH` still overrides it, e.g. to use a GPU machine's own libtorch) and link
//! `-ltorch` with `--no-as-needed` so CUDA is seen when present.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    for var in ["LIBTORCH", "LIBTORCH_LIB", "LIBTORCH_USE_PYTORCH", "VIRTUAL_ENV"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    let lib_dir = match libtorch_lib_dir() {
        Some(dir) => dir,
        None => {
            println!(
                "cargo:warning=libtorch not located (set LIBTORCH or run `just setup`); \
                 the binary will need LD_LIBRARY_PATH"
            );
            return;
        }
    };
    let version = libtorch_version(&lib_dir).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SGDNOISE_BUILD_LIBTORCH_VERSION={version}");
    println!("cargo:rustc-env=SGDNOISE_BUILD_LIBTORCH_DIR={}", lib_dir.display());
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    println!("cargo:rustc-link-arg=-Wl,--enable-new-dtags,-rpath,{}", lib_dir.display());
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rustc-link-arg=-Wl,--as-needed");
}

fn libtorch_lib_dir() -> Option<PathBuf> {
    if let Ok(lib) = env::var("LIBTORCH_LIB") {
        return Some(PathBuf::from(lib).join("lib"));
    }
    if let Ok(root) = env::var("LIBTORCH") {
        return Some(PathBuf::from(root).join("lib"));
    }
    if env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        let python = if env::var_os("VIRTUAL_ENV").is_some() { "python" } else { "python3" };
        let out = Command::new(python)
            .args(["-c", "import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))"])
            .output()
            .ok()?;
        let dir = String::from_utf8(out.stdout).ok()?;
        return Some(PathBuf::from(dir.trim()));
    }
    None
}

/// The version of the libtorch in `lib_dir`: `version.py` beside it in a PyPI wheel,
/// `build-version` in a libtorch archive.
fn libtorch_version(lib_dir: &std::path::Path) -> Option<String> {
    let root = lib_dir.parent()?;
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("__version__") {
                let v = rest.trim_start_matches([' ', '=', ':']).trim_start_matches("str").trim();
                return Some(v.trim_matches(|c| c == '\'' || c == '"').to_owned());
            }
        }
    }
    std::fs::read_to_string(root.join("build-version")).ok().map(|s| s.trim().to_owned())
}
