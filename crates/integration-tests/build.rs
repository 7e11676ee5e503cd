//! The test binary links libtorch (through sgdnoise-torch): give it the same run path as the
//! binaries (see `../sgdnoise-torch/build/libtorch.rs`).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=../sgdnoise-torch/build/libtorch.rs");
    println!("cargo:rerun-if-changed=../sgdnoise-torch/build/libtorch_version.rs");
    link_libtorch();
}

include!("../sgdnoise-torch/build/libtorch.rs");
