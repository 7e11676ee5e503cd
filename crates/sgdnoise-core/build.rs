//! The version and folder of the libtorch that `sgdnoise-torch` links, known without linking it:
//! the light coordinator keys training instances on it (see `../sgdnoise-torch/build/libtorch.rs`).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    rerun_if_libtorch_moves();
    println!("cargo:rerun-if-changed=../sgdnoise-torch/build/libtorch.rs");
    println!("cargo:rerun-if-changed=../sgdnoise-torch/build/libtorch_version.rs");
    export_libtorch_version();
}

include!("../sgdnoise-torch/build/libtorch.rs");
