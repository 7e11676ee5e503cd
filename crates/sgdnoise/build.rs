//! Bakes the source revision this binary was built from into it: the git commit, and whether
//! tracked files differed from it (`SGDNOISE_SOURCE_COMMIT`, `SGDNOISE_SOURCE_DIRTY`). Provenance
//! records them beside every execution; keys never see them. Without git (a tarball) both say
//! `unknown`.
//!
//! Reruns when HEAD or the index moves, or when any file under the workspace's sources changes,
//! so that an edit made after the last commit marks the build dirty. Only this small crate
//! rebuilds then.

use std::path::Path;
use std::process::Command;

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(root).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("../..");
    for watched in ["crates", "pipelines", "scripts", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let commit = git(&root, &["rev-parse", "HEAD"]);
    if let Some(dir) = git(&root, &["rev-parse", "--absolute-git-dir"]) {
        for f in ["HEAD", "index"] {
            println!("cargo:rerun-if-changed={}", Path::new(&dir).join(f).display());
        }
    }
    let dirty = commit.as_ref().and_then(|_| git(&root, &["status", "--porcelain", "--untracked-files=no"])).map(|s| {
        if s.is_empty() {
            "false"
        } else {
            "true"
        }
    });
    println!("cargo:rustc-env=SGDNOISE_SOURCE_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
    println!("cargo:rustc-env=SGDNOISE_SOURCE_DIRTY={}", dirty.unwrap_or("unknown"));
}
