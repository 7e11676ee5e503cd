//! The engine end to end, on real (tiny) training runs: caching, incremental sweeps, reasons,
//! renames, crashes, concurrency, provenance.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{binary, repo, sgdnoise, Tmpfs};

fn fixture(name: &str) -> PathBuf {
    repo().join("crates/integration-tests/tests/fixtures").join(name)
}

fn run_json(pipeline: &Path, cache: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["run", pipeline.to_str().unwrap(), "--cache", cache.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = sgdnoise(&args);
    assert!(
        out.status.success(),
        "run failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn plan_json(pipeline: &Path, cache: &Path) -> Vec<Value> {
    let out = sgdnoise(&["plan", pipeline.to_str().unwrap(), "--cache", cache.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

fn counts(v: &Value) -> (u64, u64, u64) {
    (v["executed"].as_u64().unwrap(), v["cached"].as_u64().unwrap(), v["failed"].as_u64().unwrap())
}

/// A copy of a fixture with text replaced, in `dir`.
fn edited(dir: &Path, name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    assert!(text.contains(from), "{from} not in {name}");
    let path = dir.join(name);
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

/// The output hash of each instance (by stage and id) after a run.
fn outputs(pipeline: &Path, cache: &Path) -> Vec<(String, String, String)> {
    plan_json(pipeline, cache)
        .iter()
        .map(|i| {
            assert_eq!(i["status"], "fresh", "{i}");
            (
                i["stage"].as_str().unwrap().to_owned(),
                i["id"].as_str().unwrap().to_owned(),
                i["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn second_run_executes_nothing() {
    let cache = tempfile::tempdir().unwrap();
    let p = fixture("tiny.yaml");
    assert_eq!(counts(&run_json(&p, cache.path(), &["-j", "2"])), (10, 0, 0));
    assert_eq!(counts(&run_json(&p, cache.path(), &[])), (0, 10, 0));
}

#[test]
fn adding_seeds_runs_only_the_new_instances_and_the_aggregates() {
    let cache = tempfile::tempdir().unwrap();
    let edits = tempfile::tempdir().unwrap();
    run_json(&fixture("tiny.yaml"), cache.path(), &[]);
    let more = edited(edits.path(), "tiny.yaml", r#"seed: "0..1""#, r#"seed: "0..2""#);
    let plan = plan_json(&more, cache.path());
    let to_run: Vec<(String, Vec<String>)> = plan
        .iter()
        .filter(|i| i["status"] == "run")
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect(),
            )
        })
        .collect();
    assert_eq!(
        to_run,
        vec![
            ("train[P=32,T=0.125,seed=2]".to_owned(), vec!["new instance".to_owned()]),
            ("train[P=32,T=0.25,seed=2]".to_owned(), vec!["new instance".to_owned()]),
            ("train[P=64,T=0.125,seed=2]".to_owned(), vec!["new instance".to_owned()]),
            ("train[P=64,T=0.25,seed=2]".to_owned(), vec!["new instance".to_owned()]),
            ("runs".to_owned(), vec!["upstream train will run".to_owned()]),
            ("weights".to_owned(), vec!["upstream runs will run".to_owned()]),
        ]
    );
    assert_eq!(counts(&run_json(&more, cache.path(), &[])), (6, 8, 0));
    // Sizes too: one more P runs its 6 seeds' worth and the aggregates again.
    let sizes = edited(edits.path(), "tiny.yaml", "P: [32, 64]", "P: [32, 64, 128]");
    assert_eq!(counts(&run_json(&sizes, cache.path(), &[])), (4 + 2, 8, 0));
}

#[test]
fn changing_a_param_reruns_only_what_it_touches_and_renaming_reruns_nothing() {
    let cache = tempfile::tempdir().unwrap();
    let edits = tempfile::tempdir().unwrap();
    let p = fixture("two-trains.yaml");
    assert_eq!(counts(&run_json(&p, cache.path(), &[])), (5, 0, 0));
    let text = std::fs::read_to_string(&p).unwrap();
    let changed = edits.path().join("two-trains.yaml");
    // chi of train_b only (its line is the second occurrence).
    let idx = text.rfind("chi: 1").unwrap();
    std::fs::write(&changed, format!("{}chi: 3{}", &text[..idx], &text[idx + 6..])).unwrap();
    let plan = plan_json(&changed, cache.path());
    let reasons: Vec<String> = plan
        .iter()
        .filter(|i| i["status"] == "run")
        .map(|i| format!("{}: {}", i["id"].as_str().unwrap(), i["reasons"][0].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            "train_b[P=16]: param chi changed 1.0 → 3.0",
            "train_b[P=32]: param chi changed 1.0 → 3.0",
            "runs: upstream train_b will run"
        ]
    );
    assert_eq!(counts(&run_json(&changed, cache.path(), &[])), (3, 2, 0));
    // The collect stage now explains itself against its previous inputs.
    let renamed = edits.path().join("renamed.yaml");
    let text = std::fs::read_to_string(&changed).unwrap().replace("train_a", "first").replace("runs", "table");
    std::fs::write(&renamed, text).unwrap();
    assert!(plan_json(&renamed, cache.path()).iter().all(|i| i["status"] == "fresh"));
    assert_eq!(counts(&run_json(&renamed, cache.path(), &[])), (0, 5, 0));
}

#[test]
fn killed_runs_resume_to_the_same_results() {
    let p = fixture("kill.yaml");
    let reference = tempfile::tempdir().unwrap();
    run_json(&p, reference.path(), &["-j", "2", "--threads", "1"]);
    let expected = outputs(&p, reference.path());

    let cache = tempfile::tempdir().unwrap();
    let mut rng = sgdnoise_core::rng::Rng::stream(7, sgdnoise_core::rng::Stream::Batches);
    for _ in 0..4 {
        let mut child = Command::new(binary())
            .args([
                "run",
                p.to_str().unwrap(),
                "--cache",
                cache.path().to_str().unwrap(),
                "-j",
                "2",
                "--threads",
                "1",
                "--json",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + rng.below(900)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let last = run_json(&p, cache.path(), &["-j", "2", "--threads", "1"]);
    assert_eq!(last["failed"], 0);
    assert_eq!(outputs(&p, cache.path()), expected, "resumed results differ from an uninterrupted run");
    let verify = sgdnoise(&["verify", "--cache", cache.path().to_str().unwrap()]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(text.contains(": 0 problem(s), 0 stale temporary file(s)"), "{text}");
}

#[test]
fn why_lists_every_training_run_behind_a_fit() {
    let cache = tempfile::tempdir().unwrap();
    run_json(&fixture("tiny.yaml"), cache.path(), &[]);
    let out = sgdnoise(&["why", "weights", "--cache", cache.path().to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let chain = v["chain"].as_array().unwrap();
    assert_eq!(chain[0]["kind"], "fit");
    let trains: Vec<&Value> = chain.iter().filter(|c| c["kind"] == "train").collect();
    assert_eq!(trains.len(), 8);
    let mut seeds: Vec<i64> = trains.iter().map(|t| t["params"]["seed"].as_i64().unwrap()).collect();
    seeds.sort();
    assert_eq!(seeds, vec![0, 0, 0, 0, 1, 1, 1, 1]);
    for t in &trains {
        assert_eq!(t["key"].as_str().unwrap().len(), 64);
        assert!(t["libtorch_version"].as_str().unwrap().starts_with("2.11.0"), "{t}");
        assert_eq!(t["sgdnoise_version"], env!("CARGO_PKG_VERSION"));
    }
    // The fit's output object resolves to the same chain, and the text lists each run.
    let fit_hash = chain[0]["outputs"]["fit.json"].as_str().unwrap();
    let text = sgdnoise(&["why", &fit_hash[..10], "--cache", cache.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("← 8 train instances"), "{text}");
    assert!(text.contains("train[P=64,T=0.25,seed=1] key "), "{text}");
}

#[test]
fn a_second_run_on_the_same_cache_is_refused_clearly() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Enough runs that the first is still going when the second starts (12 take under a second).
    let long = edited(dir.path(), "kill.yaml", r#"seed: "0..1""#, r#"seed: "0..199""#);
    let mut first = Command::new(binary())
        .args(["run", long.to_str().unwrap(), "--cache", cache.path().to_str().unwrap(), "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first run holds the lock (its start-up can be slow on a loaded machine).
    let lock = cache.path().join("lock");
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(60)
        && std::fs::read_to_string(&lock).map(|s| s.trim() != format!("pid {}", first.id())).unwrap_or(true)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = sgdnoise(&["run", long.to_str().unwrap(), "--cache", cache.path().to_str().unwrap()]);
    // `status` reads meanwhile and names the holder.
    let status = sgdnoise(&["status", long.to_str().unwrap(), "--cache", cache.path().to_str().unwrap()]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(second.status.code(), Some(1));
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(
        said.contains(&format!("     Running the cache is held now by pid {} (a run, or gc)", first.id())),
        "{said}"
    );
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.starts_with(&format!(
            "error: another sgdnoise process (pid {}) is using the cache {}",
            first.id(),
            cache.path().display()
        )),
        "{err}"
    );
}

#[test]
fn a_failed_stage_stops_the_run_and_keep_going_runs_the_rest() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A fit over a variable that never varies cannot determine its exponent: that stage fails at
    // execution, naming the variable.
    let p = dir.path().join("fail.yaml");
    std::fs::write(
        &p,
        "name: fail\nstages:\n  train:\n    kind: train\n    params: { data: depleted, chi: 1, dim: 8, arch: linear, alpha: 32768, batch: 2, T: 0.25, test_size: 256 }\n    sweep: { grid: { P: [16, 32] } }\n  bad: { kind: fit, needs: [train], params: { y: rel_dw, law: \"dim^a\" } }\n  after: { kind: collect, needs: [train, bad] }\n  good: { kind: fit, needs: [train], params: { y: rel_dw, law: \"P^g\", bootstrap: 10 } }\n",
    )
    .unwrap();
    // One worker, so that the stop comes before `good` starts.
    let out = sgdnoise(&["run", p.to_str().unwrap(), "--cache", cache.path().to_str().unwrap(), "--json", "-j", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["executed"].as_u64(), v["failed"].as_u64()), (Some(2), Some(1)));
    let bad = v["instances"].as_array().unwrap().iter().find(|i| i["id"] == "bad").unwrap();
    assert_eq!(
        bad["error"],
        "fit of rel_dw ~ dim^a: `dim` takes one value in the 2 usable runs, so they cannot determine `a`; drop `dim^a` from the law or select runs where it varies"
    );
    let out =
        sgdnoise(&["run", p.to_str().unwrap(), "--cache", cache.path().to_str().unwrap(), "--json", "--keep-going"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let status =
        |id: &str| v["instances"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()["status"].clone();
    assert_eq!(
        (status("bad"), status("after"), status("good")),
        ("failed".into(), "skipped".into(), "executed".into())
    );
    // `status` says the same from the cache alone: what is done, what failed and why, what waits.
    let out = sgdnoise(&["status", p.to_str().unwrap(), "--cache", cache.path().to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stage = |name: &str| st["stages"].as_array().unwrap().iter().find(|s| s["stage"] == name).unwrap().clone();
    assert_eq!((stage("train")["done"].as_u64(), stage("good")["done"].as_u64()), (Some(2), Some(1)), "{st}");
    assert_eq!((stage("bad")["failed"].as_u64(), stage("bad")["to_run"].as_u64()), (Some(1), Some(0)), "{st}");
    assert!(
        stage("bad")["errors"][0][1].as_str().unwrap().starts_with("fit of rel_dw ~ dim^a: `dim` takes one value"),
        "{st}"
    );
    assert_eq!(stage("after")["to_run"].as_u64(), Some(1), "{st}");
    assert!(st["running"].is_null(), "{st}");
    let text = sgdnoise(&["status", p.to_str().unwrap(), "--cache", cache.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("      Failed bad: fit of rel_dw ~ dim^a"), "{text}");
    assert!(text.contains("      Status fail: 5 instances, 3 done, 1 to run, 1 failed"), "{text}");
    assert!(text.contains(&format!("`sgdnoise run {}` goes on", p.display())), "{text}");
    // The plan says why `bad` will run again.
    let plan = plan_json(&p, cache.path());
    let bad = plan.iter().find(|i| i["id"] == "bad").unwrap();
    assert_eq!(bad["reasons"][0], "previous attempt failed: fit of rel_dw ~ dim^a: `dim` takes one value in the 2 usable runs, so they cannot determine `a`; drop `dim^a` from the law or select runs where it varies");
}

#[test]
fn ctrl_c_cancels_cleanly_and_a_rerun_resumes() {
    let cache = tempfile::tempdir().unwrap();
    let p = fixture("kill.yaml");
    let child = Command::new(binary())
        .args([
            "run",
            p.to_str().unwrap(),
            "--cache",
            cache.path().to_str().unwrap(),
            "--json",
            "-j",
            "2",
            "--threads",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Signal once the run is executing (its Ctrl-C handler is installed by then): the first
    // stored object shows it. A fixed sleep raced the process start-up on a loaded machine.
    let objects = cache.path().join("objects");
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let any = std::fs::read_dir(&objects)
            .map(|d| d.flatten().any(|e| std::fs::read_dir(e.path()).map(|mut f| f.next().is_some()).unwrap_or(false)))
            .unwrap_or(false);
        if any {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if out.status.code() == Some(0) {
        // Finished before the signal: nothing to resume.
        assert_eq!(v["executed"], 14);
        return;
    }
    assert_eq!(out.status.code(), Some(130), "{v}");
    assert!(v["cancelled"].as_u64().unwrap() >= 1, "{v}");
    let done = v["executed"].as_u64().unwrap();
    let rerun = run_json(&p, cache.path(), &["-j", "2"]);
    assert_eq!(rerun["executed"].as_u64().unwrap() + done, 14, "{rerun}");
    assert_eq!(rerun["cached"].as_u64().unwrap(), done);
}

#[test]
fn gc_removes_only_unreferenced_objects() {
    let cache = tempfile::tempdir().unwrap();
    run_json(&fixture("tiny.yaml"), cache.path(), &[]);
    let stray = cache.path().join("objects/00/stray");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"not referenced").unwrap();
    let c = cache.path().to_str().unwrap();
    let dry = sgdnoise(&["gc", "--dry-run", "--cache", c]);
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("Would remove 00stray"),
        "{}",
        String::from_utf8_lossy(&dry.stdout)
    );
    assert!(stray.exists());
    let gc = sgdnoise(&["gc", "--cache", c]);
    assert!(gc.status.success());
    assert!(!stray.exists());
    assert_eq!(counts(&run_json(&fixture("tiny.yaml"), cache.path(), &[])), (0, 10, 0));
}

#[test]
fn verify_rerun_reproduces_training_bitwise() {
    let cache = tempfile::tempdir().unwrap();
    run_json(&fixture("tiny.yaml"), cache.path(), &["--threads", "1"]);
    let out = sgdnoise(&["verify", "--rerun", "3", "--kind", "train", "--cache", cache.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("3 re-executed: 3 bitwise, 0 within tolerance, 0 different"), "{text}");
    // A corrupted object is reported and verify fails.
    let obj = sgdnoise_core::store::Store::open(cache.path()).unwrap().list().pop().unwrap();
    let path = cache.path().join("objects").join(&obj[..2]).join(&obj[2..]);
    std::fs::write(&path, b"tampered").unwrap();
    let out = sgdnoise(&["verify", "--cache", cache.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("Corrupt object {obj} hashes to ")));
}

#[test]
fn results_give_one_row_per_instance() {
    let cache = tempfile::tempdir().unwrap();
    let p = fixture("tiny.yaml");
    let before = sgdnoise(&[
        "results",
        p.to_str().unwrap(),
        "--stage",
        "train",
        "--format",
        "json",
        "--cache",
        cache.path().to_str().unwrap(),
    ]);
    let rows: Vec<Value> = serde_json::from_slice(&before.stdout).unwrap();
    assert!(rows.iter().all(|r| r["status"] == "missing"));
    run_json(&p, cache.path(), &[]);
    let out =
        sgdnoise(&["results", p.to_str().unwrap(), "--stage", "train", "--cache", cache.path().to_str().unwrap()]);
    let csv = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 9);
    let header: Vec<&str> = lines[0].split(',').collect();
    for col in ["instance", "key", "P", "T", "seed", "status", "steps", "t_star", "rel_dw", "test_err"] {
        assert!(header.contains(&col), "missing column {col} in {}", lines[0]);
    }
    assert!(lines[1].starts_with("\"train[P=32,T=0.125,seed=0]\","), "{}", lines[1]);
}

/// Reads every stored output of a typed kind through its struct and checks it encodes back to
/// the same bytes; returns how many of each file there were.
fn stored_outputs_round_trip(cache: &Path) -> std::collections::BTreeMap<String, usize> {
    let store = sgdnoise_core::store::Store::open(cache).unwrap();
    let db = sgdnoise_core::provenance::Db::open(&cache.join("provenance.sqlite")).unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for record in db.records().unwrap().values() {
        for (file, hash) in &record.outputs {
            let bytes = store.get(hash).unwrap();
            let typed =
                sgdnoise_core::outputs::check_round_trip(file, &bytes).unwrap_or_else(|e| panic!("{file} {hash}: {e}"));
            if typed {
                *counts.entry(file.clone()).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// The report's figures, as a reader gets them: every SVG parses as XML (roxmltree) and lays out
/// (usvg, with the embedded font) with no text on the data or on other text; every fitted law has
/// its bootstrap band; labels are in the paper's notation with superscript powers; every point
/// names its runs on hover; every SVG has its PNG, and rendering it again gives the same bytes; the
/// page fetches nothing and indexes every figure.
/// The committed reports' figures (docs/results/*): every SVG passes the layout check (on the
/// page, no label over another or inside the plot area, every point inside with its hover), and
/// its PNG is what this build renders from it, byte for byte, whatever machine made it.
#[test]
fn committed_figures_are_laid_out_and_their_pngs_rerender_identically() {
    use sgdnoise_core::report::figure;
    let mut checked = 0;
    for report in ["quick", "paper-cpu"] {
        let dir = repo().join("docs/results").join(report);
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("svg") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            if !text.contains("id=\"plot-area\"") {
                continue; // a figure from before report v4 (no layout markers): not checked
            }
            figure::check_layout(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let png = std::fs::read(path.with_extension("png")).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                png == figure::png(&text, figure::PNG_SCALE).unwrap(),
                "{}: PNG differs from its re-render",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 29, "the quick report alone has 29 figures, checked {checked}");
}

fn check_figures(dir: &Path, html: &str) {
    use sgdnoise_core::report::figure;
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".svg").map(str::to_owned))
        .collect();
    names.sort();
    let kinds: Vec<&str> = names.iter().map(|n| n.split_at(7).1).collect();
    // (T_c against P needs two values of P with a crossing: the tiny grid has fewer.)
    assert_eq!(
        kinds,
        // (The tiny grid's crossover has no estimate of a: no collapse, no T_c, no forest plot.)
        ["fit", "collapse", "local", "local", "crossover", "phase-diagram", "t-opt"],
        "{names:?}"
    );
    for (name, kind) in names.iter().zip(&kinds) {
        let text = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
        figure::check_layout(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let doc = roxmltree::Document::parse(&text).unwrap();
        let texts: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.descendants().filter_map(|d| d.text()).collect())
            .collect();
        for raw in ["rel_dw", "t_star", "test_err", "alpha", "^"] {
            assert!(texts.iter().all(|t| !t.contains(raw)), "{name}: `{raw}` in a label: {texts:?}");
        }
        let has = |class: &str| doc.descendants().filter(|n| n.attribute("class") == Some(class)).count();
        let bands = has("band");
        match *kind {
            // The fitted law per group (P = 2^5, 2^6, 2^7) with its band, and one on the collapse.
            "fit" => assert_eq!(bands, 3, "{name}"),
            "collapse" if name.as_str() < "fig-04" => assert_eq!(bands, 1, "{name}"),
            "t-c" => assert_eq!(bands, 1, "{name}"),
            // Two values of α ≤ α_max give k but no interval here, hence no band.
            "t-opt" => assert!(bands <= 1, "{name}"),
            // Along T the rule finds a window; along P (3 values, 2 local exponents) it cannot.
            "local" => assert!(
                bands == 1 && has("window") == usize::from(name.as_str() < "fig-04"),
                "{name}: the fit's interval, the window"
            ),
            _ => {}
        }
        let supers = doc.descendants().filter(|n| n.attribute("baseline-shift") == Some("super")).count();
        assert!(supers >= 1 || *kind == "forest", "{name}: powers as superscripts");
        let hoverable = if *kind == "phase-diagram" { "cell" } else { "point" };
        let hovers: Vec<&str> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some(hoverable))
            .filter_map(|n| n.children().find(|c| c.has_tag_name("title"))?.text())
            .collect();
        assert!(!hovers.is_empty(), "{name}: nothing to hover");
        assert!(
            hovers.iter().all(|h| !h.contains('{')),
            "{name}: tooltips are plain text, not label markup: {hovers:?}"
        );
        // Points over runs (not the fit's collapse, drawn from the crossover's curves) name them.
        let over_runs =
            matches!(*kind, "fit" | "crossover" | "phase-diagram") || (*kind == "collapse" && name.as_str() < "fig-04");
        if over_runs {
            assert!(hovers.iter().all(|h| h.contains("seed 0: ") && h.contains(" — run ")), "{name}: {hovers:?}");
        }
        let png = std::fs::read(dir.join(format!("{name}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n"), "{name}.png");
        assert!(figure::png(&text, 1.5).unwrap() == png, "{name}: the PNG renders to other bytes in another process");
        assert!(html.contains(&format!("<li><a href=\"#{name}\">{name}</a>")), "{name} not in the index");
    }
    let offline = html.replace("http://www.w3.org/2000/svg", "");
    assert!(!offline.contains("http://") && !offline.contains("https://") && !offline.contains("src="), "fetches");
    assert_eq!(html.matches("<figure id=").count(), names.len());
    assert!(html.matches("<code class=\"why\">sgdnoise why ").count() >= names.len() + 3);
}

#[test]
fn analyses_and_report_update_incrementally_and_trace_back() {
    let cache = tempfile::tempdir().unwrap();
    let edits = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let p = fixture("analysis.yaml");
    let first = run_json(&p, cache.path(), &["-j", "2", "--no-export"]);
    assert_eq!(first["failed"], 0, "{first}");
    let typed = stored_outputs_round_trip(cache.path());
    let expected =
        [("crossover.json", 1), ("fit.json", 1), ("optimum.json", 1), ("record.json", 135), ("runs.json", 1)];
    let expected = expected.into_iter().map(|(f, n)| (f.to_owned(), n)).collect();
    assert_eq!(typed, expected, "every typed output read back to its own bytes");
    let c = cache.path().to_str().unwrap();
    let export = sgdnoise(&[
        "export",
        p.to_str().unwrap(),
        "--stage",
        "report",
        "--out",
        out_dir.path().to_str().unwrap(),
        "--cache",
        c,
    ]);
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let md = std::fs::read_to_string(out_dir.path().join("report.md")).unwrap();
    // The whole page, pinned: perceptron runs are bitwise on any CPU, so the numbers are too.
    insta::assert_snapshot!("analysis_report_md", md);
    assert!(md.starts_with("# tiny <report> & test\n\n## Claims\n\n| claim | quantity | expected (source) | measured [interval] | window | runs | verdict | audit |"), "{md}");
    let row = md
        .lines()
        .find(|l| l.starts_with("| tiny perceptron weights | delta | 1 (published theory (PNAS 2024)) |"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(row.contains("(3 seeds) used"), "{row}");
    // The claims table as data: beside the report, and from the cache with `results --claims`.
    let csv = std::fs::read_to_string(out_dir.path().join("claims.csv")).unwrap();
    let claims = sgdnoise(&["results", p.to_str().unwrap(), "--claims", "--cache", c]);
    assert!(claims.status.success(), "{}", String::from_utf8_lossy(&claims.stderr));
    assert_eq!(String::from_utf8(claims.stdout).unwrap(), csv);
    let header = "claim,quantity,value,lo,hi,expected,expected_source,window,estimator,verdict,interpretation,runs_used,runs_excluded,audit,provisional";
    assert_eq!(csv.lines().next(), Some(header));
    let rows = md.lines().filter(|l| l.starts_with("| ") && l.contains("`sgdnoise why ")).count();
    assert_eq!(csv.lines().count(), rows + 1, "one CSV row per row of the report's table");
    for estimator in ["collapse", "threshold 5%", "threshold 10%", "threshold 20%", "sigmoid", "trained-model"] {
        assert_eq!(csv.lines().filter(|l| l.contains(&format!(",{estimator},"))).count(), 1, "{estimator}: {csv}");
    }
    let json = sgdnoise(&["results", p.to_str().unwrap(), "--claims", "--format", "json", "--cache", c]);
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(rows));
    assert_eq!(json[0]["expected_source"], "published theory (PNAS 2024)");
    // A fit's row in `results` starts with its numbers, flat.
    let fit = sgdnoise(&["results", p.to_str().unwrap(), "--stage", "weights", "--format", "json", "--cache", c]);
    let fit: Value = serde_json::from_slice(&fit.stdout).unwrap();
    let (d, lo, hi) = (fit[0]["delta"].as_f64(), fit[0]["delta_lo"].as_f64(), fit[0]["delta_hi"].as_f64());
    assert!(matches!((d, lo, hi), (Some(d), Some(lo), Some(hi)) if lo <= d && d <= hi), "{fit}");
    assert!(fit[0]["window_T_lo"].is_number() && fit[0]["r2"].is_number(), "{fit}");
    // Every numeric column of a run is one `plan` knows, so a `y` that names it is not refused.
    let train = sgdnoise(&["results", p.to_str().unwrap(), "--stage", "train", "--format", "json", "--cache", c]);
    let train: Value = serde_json::from_slice(&train.stdout).unwrap();
    let known = sgdnoise_core::analysis::observable::known_columns();
    for (column, v) in train[0].as_object().unwrap() {
        if v.is_number() && !["steps_per_s", "wall_s", "check_wall_s"].contains(&column.as_str()) {
            assert!(known.contains(column), "`{column}` is a run column that plan does not know");
        }
    }
    let html = std::fs::read_to_string(out_dir.path().join("report.html")).unwrap();
    assert!(html.contains("<title>tiny &lt;report&gt; &amp; test</title>"));
    check_figures(out_dir.path(), &html);
    // Every provenance id of the claims table resolves with `why` to the runs behind it.
    let id = row.rsplit('`').nth(1).unwrap().strip_prefix("sgdnoise why ").unwrap();
    let why = sgdnoise(&["why", id, "--cache", c, "--json"]);
    assert!(why.status.success(), "{}", String::from_utf8_lossy(&why.stderr));
    let chain: Value = serde_json::from_slice(&why.stdout).unwrap();
    assert_eq!(chain["chain"].as_array().unwrap().iter().filter(|i| i["kind"] == "train").count(), 135);
    // One more seed: only its 45 runs and the five aggregating stages run, and the interval moves.
    let more = edited(edits.path(), "analysis.yaml", r#"seed: "0..2""#, r#"seed: "0..3""#);
    let second = run_json(&more, cache.path(), &["-j", "2", "--no-export"]);
    assert_eq!(counts(&second), (45 + 5, 135, 0));
    let export = sgdnoise(&[
        "export",
        more.to_str().unwrap(),
        "--stage",
        "report",
        "--out",
        out_dir.path().to_str().unwrap(),
        "--cache",
        c,
    ]);
    assert!(export.status.success());
    let md2 = std::fs::read_to_string(out_dir.path().join("report.md")).unwrap();
    let row2 = md2
        .lines()
        .find(|l| l.starts_with("| tiny perceptron weights | delta | 1 (published theory (PNAS 2024)) |"))
        .unwrap();
    assert!(row2.contains("(4 seeds) used"), "{row2}");
    assert_ne!(row, row2);
}

#[test]
fn replicas_are_trained_together_and_recorded_one_by_one() {
    let together = tempfile::tempdir().unwrap();
    let alone = tempfile::tempdir().unwrap();
    let edits = tempfile::tempdir().unwrap();
    let p = fixture("replicas.yaml");
    let env_data = repo().join("data");
    let run = |pipeline: &Path, cache: &Path| -> Value {
        let out = Command::new(binary())
            .args(["run", pipeline.to_str().unwrap(), "--cache", cache.to_str().unwrap(), "--json", "--threads", "1"])
            .env("SGDNOISE_DATA", &env_data)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(counts(&run(&p, together.path())), (13, 0, 0));
    let single = edited(edits.path(), "replicas.yaml", "    replicas: 8\n", "");
    assert_eq!(counts(&run(&single, alone.path())), (13, 0, 0));
    // Same keys (replicas is an execution setting), same step counts and statuses.
    let rows = |cache: &Path| -> Vec<(String, String, Value, Value)> {
        let out = Command::new(binary())
            .args([
                "results",
                single.to_str().unwrap(),
                "--stage",
                "train",
                "--format",
                "json",
                "--cache",
                cache.to_str().unwrap(),
            ])
            .env("SGDNOISE_DATA", &env_data)
            .output()
            .unwrap();
        let v: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        v.iter()
            .map(|r| {
                (
                    r["instance"].as_str().unwrap().to_owned(),
                    r["key"].as_str().unwrap().to_owned(),
                    r["status"].clone(),
                    r["steps"].clone(),
                )
            })
            .collect()
    };
    let (a, b) = (rows(together.path()), rows(alone.path()));
    assert_eq!(a, b);
    assert!(a.iter().any(|r| r.2 == "diverged") && a.iter().any(|r| r.2 == "converged"), "{a:?}");
}

#[test]
fn targets_run_only_what_they_name_and_partial_reports_are_provisional() {
    let cache = tempfile::tempdir().unwrap();
    let p = fixture("analysis.yaml");
    let (ps, c) = (p.to_str().unwrap(), cache.path().to_str().unwrap());
    // A glob over instance ids: the 45 runs at α = 2^15, nothing else.
    let first = run_json(&p, cache.path(), &["train[alpha=32768,*"]);
    assert_eq!(counts(&first), (45, 0, 0));
    assert!(first["instances"].as_array().unwrap().iter().all(|i| i["stage"] == "train"));
    // A report over what is done: the other 90 runs stay pending.
    let out = sgdnoise(&["run", ps, "report", "--partial", "--cache", c, "--json", "--no-export"]);
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!((v["pending"].as_u64(), v["cached"].as_u64()), (Some(90), Some(45)), "{v}");
    let report = |partial: bool| {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["export", ps, "--stage", "report", "--cache", c, "--out", dir.path().to_str().unwrap()];
        if partial {
            args.push("--partial");
        }
        let out = sgdnoise(&args);
        out.status.success().then(|| std::fs::read_to_string(dir.path().join("report.md")).unwrap())
    };
    // The provisional report is keyed apart: it never passes for the final one.
    assert_eq!(report(false), None);
    let md = report(true).expect("the provisional report is exported with --partial");
    let row =
        md.lines().find(|l| l.starts_with("| tiny perceptron weights | delta |")).unwrap_or_else(|| panic!("{md}"));
    assert!(row.contains("; provisional: 45 of 135 runs done |"), "{row}");
    assert!(row.contains(", provisional**"), "{row}");
    assert_eq!(stored_outputs_round_trip(cache.path()).get("coverage.json"), Some(&1));
    // The whole pipeline: the 90 runs and the analyses above them, with no provisional mark.
    let full = run_json(&p, cache.path(), &["-j", "2", "--no-export"]);
    assert_eq!(full["executed"].as_u64(), Some(90 + 5), "{full}");
    let md = report(false).expect("the final report");
    let row = md.lines().find(|l| l.starts_with("| tiny perceptron weights | delta |")).unwrap();
    assert!(!row.contains("provisional"), "{row}");
}

#[test]
fn plan_into_a_closed_pipe_ends_quietly() {
    // `sgdnoise plan … --json | head`: the reader is gone before the first write.
    let cache = tempfile::tempdir().unwrap();
    let p = fixture("analysis.yaml");
    let mut child = Command::new(binary())
        .args(["plan", p.to_str().unwrap(), "--json", "--cache", cache.path().to_str().unwrap()])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}: {stderr}", out.status);
}

#[test]
fn a_full_disk_fails_clearly_keeps_nothing_partial_and_a_rerun_resumes() {
    let dir = tempfile::tempdir().unwrap();
    // The prepared MNIST pool is ~55 MB: it cannot fit, the perceptron runs can.
    let disk = Tmpfs::mount(dir.path(), "6M");
    let cache = dir.path().join("cache");
    let (p, c) = (fixture("slurm.yaml"), cache.to_str().unwrap());
    let out = sgdnoise(&["run", p.to_str().unwrap(), "--cache", c, "--json", "--keep-going"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mnist = v["instances"].as_array().unwrap().iter().find(|i| i["id"] == "mnist").unwrap().clone();
    assert_eq!(mnist["status"], "failed", "{v}");
    let error = mnist["error"].as_str().unwrap();
    assert!(
        error.ends_with(
            "no space left on the disk that holds the cache; nothing partial was kept: free space and rerun"
        ),
        "{error}"
    );
    assert_eq!(std::fs::read_dir(cache.join("tmp")).unwrap().count(), 0, "no partial temporary file left");
    let verify = sgdnoise(&["verify", "--cache", c]);
    assert!(String::from_utf8_lossy(&verify.stdout).contains(": 0 problem(s), 0 stale temporary file(s)"));
    // Space freed: the rerun runs what failed or was skipped, and nothing else.
    disk.resize("256M");
    let rerun = run_json(&p, &cache, &["-j", "2"]);
    assert_eq!(v["executed"], 8, "the perceptron runs fit: {v}");
    assert_eq!(counts(&rerun), (1 + 4 + 1, 8, 0), "{rerun}");
}

#[test]
fn quiet_prints_one_closing_line_and_j_defaults_to_the_cores() {
    let cache = tempfile::tempdir().unwrap();
    let p = fixture("tiny.yaml");
    let c = cache.path().to_str().unwrap();
    let first = sgdnoise(&["run", p.to_str().unwrap(), "--cache", c, "--quiet"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let err = String::from_utf8_lossy(&first.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("    Finished tiny: 10 executed, 0 cached, 0 failed in "), "{err}");
    // Without --quiet, progress; `plan` prices the wall time at the cores available.
    let again = sgdnoise(&["run", p.to_str().unwrap(), "--cache", c]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("Fresh train: 8 instances"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let dir = tempfile::tempdir().unwrap();
    let more = edited(dir.path(), "tiny.yaml", r#"seed: "0..1""#, r#"seed: "0..2""#);
    let plan = sgdnoise(&["plan", more.to_str().unwrap(), "--cache", c]);
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.contains(&format!(" wall at -j {cores}")), "{plan}");
}

#[test]
fn a_variant_set_on_the_command_line_runs_only_what_it_changes_and_reports_in_its_own_folder() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let p = work.path().join("v.yaml");
    let text = "name: v\nstages:\n  train:\n    kind: train\n    params: { data: depleted, chi: 1, dim: 8, arch: linear, alpha: 32768, batch: 2, test_size: 256 }\n    sweep: { grid: { P: [16, 32], T: [0.125, 0.25], seed: \"0..2\" } }\n  weights:\n    kind: fit\n    needs: [train]\n    params: { y: rel_dw, law: \"T^delta * P^gamma\", bootstrap: 20, range: { T: [0.125, 0.25], P: [16, 32] }, theory: { delta: 1, source: theory } }\n  report: { kind: report, needs: [weights] }\n";
    std::fs::write(&p, text).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", p.to_str().unwrap(), "--cache", cache.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        let out = crate::support::sgdnoise_with(&args, &[]).current_dir(work.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (v, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (first, _) = run(&[]);
    assert_eq!(counts(&first), (14, 0, 0), "{first}");
    let default_report = std::fs::read(work.path().join("reports/v/report.md")).unwrap();
    // One more seed, on the command line: only its 4 runs, the fit and the report run.
    let (variant, _) = run(&["--set", "train.sweep.grid.seed=0..3"]);
    assert_eq!(counts(&variant), (6, 12, 0), "{variant}");
    let folders: Vec<String> = std::fs::read_dir(work.path().join("reports"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let own = folders.iter().find(|f| f.starts_with("v-set-")).unwrap_or_else(|| panic!("{folders:?}"));
    assert!(work.path().join("reports").join(own).join("report.md").is_file());
    assert_eq!(std::fs::read(work.path().join("reports/v/report.md")).unwrap(), default_report, "untouched");
    // `plan` with the same --set finds it all fresh; a bad --set names itself.
    let plan = crate::support::sgdnoise_with(
        &["plan", p.to_str().unwrap(), "--cache", cache.to_str().unwrap(), "--set", "train.sweep.grid.seed=0..3"],
        &[],
    )
    .output()
    .unwrap();
    assert!(String::from_utf8_lossy(&plan.stdout).contains("Plan v-set-"), "{}", String::from_utf8_lossy(&plan.stdout));
    assert!(String::from_utf8_lossy(&plan.stdout).contains(" 0 to run"), "{}", String::from_utf8_lossy(&plan.stdout));
    let bad = sgdnoise(&["plan", p.to_str().unwrap(), "--set", "trian.params.T=1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        format!("error: {}: --set trian.params.T=1: no stage `trian` (stages: train, weights, report)\n", p.display())
    );
    let bad = sgdnoise(&["plan", p.to_str().unwrap(), "--set", "train.params.batch=two"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.starts_with(&format!("error: {} (--set): stages.train.params.batch:", p.display())), "{err}");
    // Another file with the same name replaces the folder, and says so.
    let q = work.path().join("q.yaml");
    std::fs::write(
        &q,
        text.replace("T: [0.125, 0.25]", "T: [0.125, 0.5]")
            .replace("range: { T: [0.125, 0.25]", "range: { T: [0.125, 0.5]"),
    )
    .unwrap();
    let out = crate::support::sgdnoise_with(&["run", q.to_str().unwrap(), "--cache", cache.to_str().unwrap()], &[])
        .current_dir(work.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("    Replaced reports/v: it held the report of {}; now of {}", p.display(), q.display())),
        "{err}"
    );
}

#[test]
fn raising_a_limit_reruns_only_the_runs_that_stopped_at_it() {
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path().to_str().unwrap();
    let p = fixture("tiny.yaml");
    let pf = p.to_str().unwrap();
    let plan = |sets: &[&str]| {
        let mut args = vec!["plan", pf, "--cache", c, "--explain"];
        for s in sets {
            args.extend(["--set", s]);
        }
        let out = sgdnoise(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Runs cut at 8 steps: none converges, so a larger limit must run them all again.
    let cut = run_json(&p, cache.path(), &["train", "--set", "train.params.max_steps=8", "--no-export"]);
    assert_eq!(counts(&cut), (8, 0, 0), "{cut}");
    let text = plan(&[]);
    assert!(text.contains("Stage train (train): 0 fresh, 8 to run"), "{text}");
    let full = run_json(&p, cache.path(), &["--no-export"]);
    assert_eq!(counts(&full), (10, 0, 0), "{full}");
    // Converged runs: a larger limit reruns none of them, nor anything downstream, and says why.
    let text = plan(&["train.params.max_steps=2^40", "name=tiny"]);
    assert!(
        text.contains("Stage train (train): 8 fresh (8 by runs that ended within other limits), 0 to run"),
        "{text}"
    );
    assert!(text.contains("Stage weights (fit): 1 fresh, 0 to run"), "{text}");
    let reuse = text
        .lines()
        .find(|l| l.trim_start().starts_with("Reuse train[P=32,T=0.125,seed=0]: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        reuse.contains(": the same run converged at step ")
            && reuse.contains(" under max_steps 1000000, within the new limits (key "),
        "{reuse}"
    );
    let raised =
        run_json(&p, cache.path(), &["--set", "train.params.max_steps=2^40", "--set", "name=tiny", "--no-export"]);
    assert_eq!(counts(&raised), (0, 10, 0), "{raised}");
    // A smaller limit than the runs took cannot reuse them.
    let text = plan(&["train.params.max_steps=2"]);
    assert!(text.contains("Stage train (train): 0 fresh, 8 to run"), "{text}");
    assert!(text.contains("param max_steps changed") || text.contains("new instance"), "{text}");
}
