//! Links the sgdnoise-torch binaries against the libtorch torch-sys built with (see
//! `build/libtorch.rs`).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build/libtorch.rs");
    println!("cargo:rerun-if-changed=build/libtorch_version.rs");
    link_libtorch();
}

include!("build/libtorch.rs");
