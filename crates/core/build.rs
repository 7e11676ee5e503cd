//! The version and folder of the libtorch that `sgdnoise-torch` links, known without linking it:
//! the light coordinator keys training instances on it. Found as the root crate's build script
//! finds it (`LIBTORCH`, `LIBTORCH_LIB` or the python of `LIBTORCH_USE_PYTORCH`).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    for var in ["LIBTORCH", "LIBTORCH_LIB", "LIBTORCH_USE_PYTORCH", "VIRTUAL_ENV"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../build/libtorch.rs");
    println!("cargo:rerun-if-changed=../../build/libtorch_version.rs");
    if let Some(lib_dir) = libtorch_lib_dir() {
        let version = libtorch_version(&lib_dir).unwrap_or_else(|| "unknown".to_owned());
        println!("cargo:rustc-env=SGDNOISE_BUILD_LIBTORCH_VERSION={version}");
        println!("cargo:rustc-env=SGDNOISE_BUILD_LIBTORCH_DIR={}", lib_dir.display());
    }
}

include!("../../build/libtorch.rs");
