//! A corpus of hostile inputs (files, names, paths): each is refused with its pinned message
//! (an insta snapshot per case, in snapshots/), exit 2, within seconds, by a process the kernel
//! holds to 224 MiB of address space (the binary's own code, 19 MB since it links an S3 client,
//! counts in it; the largest case peaks at 190 MB resident).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{binary, repo};

const TRAIN: &str =
    "kind: train\n    params: { data: depleted, chi: 1, dim: 8, arch: linear, alpha: 32768, batch: 2, T: 1 }";

/// The hostile pipelines, written into `dir`: (case name, path given to `plan`).
fn cases(dir: &Path) -> Vec<(&'static str, String)> {
    let write = |name: &str, bytes: Vec<u8>| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let fifo = dir.join("fifo.yaml");
    let c = std::ffi::CString::new(fifo.display().to_string()).unwrap();
    // SAFETY: a valid C string; makes a FIFO in our own temporary folder.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let stages = |n: usize, body: &dyn Fn(usize) -> String| {
        let mut t = String::from("name: t\nstages:\n");
        for i in 0..n {
            t.push_str(&body(i));
        }
        t.into_bytes()
    };
    vec![
        ("dev-zero", "/dev/zero".to_owned()),
        ("fifo", fifo.display().to_string()),
        ("folder", dir.display().to_string()),
        ("too-large", write("large.yaml", format!("name: t\n# {}\n", "x".repeat(2 << 20)).into_bytes())),
        ("nul-byte", write("nul.yaml", b"name: t\nsta\0ges: {}\n".to_vec())),
        ("not-utf8", write("latin1.yaml", b"name: caf\xe9\nstages: {}\n".to_vec())),
        ("bom-inside", write("bom.yaml", "name: t\nstages:\n  \u{feff}a: { kind: dataset }\n".as_bytes().to_vec())),
        ("huge-scalar", write("scalar.yaml", "y".repeat(900_000).into_bytes())),
        ("huge-kind", write("kind.yaml", format!("name: t\nstages:\n  a: {{ kind: {} }}\n", "k".repeat(500_000)).into_bytes())),
        ("name-parent", write("parent.yaml", b"name: \"../../../x\"\nstages:\n  a: { kind: dataset }\n".to_vec())),
        ("name-absolute", write("absolute.yaml", b"name: /home/x\nstages:\n  a: { kind: dataset }\n".to_vec())),
        (
            "title-escape",
            write(
                "title.yaml",
                b"name: t\nstages:\n  r:\n    kind: report\n    sweep: { list: [ { title: \"a/../../../../tmp/x\" } ] }\n".to_vec(),
            ),
        ),
        (
            "million-point-grid",
            write("grid.yaml", format!("name: t\nstages:\n  a:\n    {TRAIN}\n    sweep: {{ grid: {{ P: \"1..1000\", seed: \"0..999\" }} }}\n").into_bytes()),
        ),
        (
            "instances-over-stages",
            write(
                "many.yaml",
                stages(3, &|i| format!("  s{i}:\n    {TRAIN}\n    sweep: {{ grid: {{ P: \"1..200\", seed: \"0..99\" }} }}\n")),
            ),
        ),
        (
            "long-list-sweep",
            write("list.yaml", {
                let points: Vec<String> = (0..60_000).map(|i| format!("{{P: {i}}}")).collect();
                format!("name: t\nstages:\n  a:\n    {TRAIN}\n    sweep:\n      list: [{}]\n", points.join(",")).into_bytes()
            }),
        ),
        ("huge-range", write("range.yaml", format!("name: t\nstages:\n  a:\n    {TRAIN}\n    sweep: {{ grid: {{ seed: \"-9223372036854775808..9223372036854775807\" }} }}\n").into_bytes())),
        ("tiny-step", write("step.yaml", format!("name: t\nstages:\n  a:\n    {TRAIN}\n    sweep: {{ grid: {{ P: \"2^0..2^10 by 1e-300\" }} }}\n").into_bytes())),
        ("many-stages", write("stages.yaml", stages(1_001, &|i| format!("  s{i}: {{ kind: dataset }}\n")))),
        ("deep-flow", write("deep.yaml", format!("name: t\nstages: {}{}\n", "[".repeat(6000), "]".repeat(6000)).into_bytes())),
    ]
}

/// The address space a hostile input may use: 224 MiB, so resident memory stays below it.
const MEMORY_KB: u32 = 224 * 1024;

/// Runs `plan FILE` held to [`MEMORY_KB`] of address space; returns its exit code, stderr and
/// wall time.
fn plan(file: &str, cache: &Path) -> (Option<i32>, String, Duration) {
    let t0 = Instant::now();
    let out = std::process::Command::new("bash")
        .args(["-c", &format!("ulimit -v {MEMORY_KB}; exec \"$0\" plan \"$1\" --cache \"$2\"")])
        .arg(binary())
        .arg(file)
        .arg(cache)
        .current_dir(repo())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), t0.elapsed())
}

#[test]
fn hostile_inputs_are_refused_clearly_quickly_and_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let cases = cases(&files);
    assert!(cases.len() >= 19);
    for (name, file) in cases {
        let (code, stderr, wall) = plan(&file, &dir.path().join(format!("cache-{name}")));
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(wall < Duration::from_secs(5), "{name}: {wall:?}");
        let shown = stderr.replace(&files.display().to_string(), "$DIR");
        insta::assert_snapshot!(format!("hostile_inputs@{name}"), shown);
    }
}

#[test]
fn a_byte_order_mark_at_the_start_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("crates/integration-tests/tests/fixtures/tiny.yaml")).unwrap();
    let file = dir.path().join("bom.yaml");
    std::fs::write(&file, format!("\u{feff}{text}")).unwrap();
    let (code, stderr, _) = plan(file.to_str().unwrap(), &dir.path().join("cache"));
    assert_eq!(code, Some(0), "{stderr}");
}
