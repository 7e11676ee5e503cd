//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use sgdnoise::datasets::DataPaths;

pub(crate) fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn data_paths() -> DataPaths {
    DataPaths::from_root(&repo().join("data"))
}

/// The release or debug binary cargo built for this test run.
pub(crate) fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sgdnoise"))
}

/// Runs the binary with a clean environment (no LD_LIBRARY_PATH, no LIBTORCH).
pub(crate) fn sgdnoise(args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary())
        .args(args)
        .current_dir(repo())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("run sgdnoise")
}
