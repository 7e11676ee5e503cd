// Where the libtorch the binaries run on lives, and its version: shared by the build scripts of
// sgdnoise-torch and integration-tests (which link it) and sgdnoise-core (which keys on its
// version without linking it). Each includes this file; it expects `std::env`,
// `std::path::PathBuf` and `std::process::Command` in scope.

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

/// Reruns the build script when the variables that locate libtorch change.
fn rerun_if_libtorch_moves() {
    for var in ["LIBTORCH", "LIBTORCH_LIB", "LIBTORCH_USE_PYTORCH", "VIRTUAL_ENV"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// Sets `SGDNOISE_BUILD_LIBTORCH_VERSION` and `_DIR` for the crate; returns the lib folder.
fn export_libtorch_version() -> Option<PathBuf> {
    let lib_dir = libtorch_lib_dir()?;
    let version = libtorch_version(&lib_dir).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SGDNOISE_BUILD_LIBTORCH_VERSION={version}");
    println!("cargo:rustc-env=SGDNOISE_BUILD_LIBTORCH_DIR={}", lib_dir.display());
    Some(lib_dir)
}

/// Links this package's binaries and tests against libtorch so they run without
/// `LD_LIBRARY_PATH`.
///
/// torch-sys links `torch_cpu`/`c10` for its own crate, but cargo does not pass those link
/// arguments on to our binaries' run path, and the linker drops `libtorch.so` (which pulls in
/// `libtorch_cuda.so`) as unneeded. Here we add the same libtorch folder torch-sys used as a
/// RUNPATH (so `LD_LIBRARY_PATH` still overrides it, e.g. to use a GPU machine's own libtorch)
/// and link `-ltorch` with `--no-as-needed` so CUDA is seen when present.
#[allow(dead_code)] // sgdnoise-core only keys on the version
fn link_libtorch() {
    rerun_if_libtorch_moves();
    let Some(lib_dir) = export_libtorch_version() else {
        println!(
            "cargo:warning=libtorch not located (set LIBTORCH or run `just setup`); \
             the binary will need LD_LIBRARY_PATH"
        );
        return;
    };
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    println!("cargo:rustc-link-arg=-Wl,--enable-new-dtags,-rpath,{}", lib_dir.display());
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rustc-link-arg=-Wl,--as-needed");
}

include!("libtorch_version.rs");
