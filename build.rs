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
    println!("cargo:rerun-if-changed=build/libtorch.rs");
    println!("cargo:rerun-if-changed=build/libtorch_version.rs");
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

include!("build/libtorch.rs");
