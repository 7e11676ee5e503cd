//! A cache a lab shares: two caches through one remote, writers racing for one key, a corrupted
//! download, an interrupted push, against a `file://` remote and a real S3 server (SeaweedFS).

use std::path::Path;

use serde_json::Value;

use crate::support::{repo, seaweedfs, sgdnoise_with as command, succeeds as ok};

fn fixture(name: &str) -> String {
    repo().join("crates/integration-tests/tests/fixtures").join(name).display().to_string()
}

fn run(pipeline: &str, cache: &Path, remote: &str, env: &[(String, String)]) -> (Value, String) {
    let out = ok(&["run", pipeline, "--cache", cache.to_str().unwrap(), "--remote", remote, "--json"], env);
    (serde_json::from_slice(&out.stdout).unwrap(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The remotes to test: a shared folder and a bucket on the real S3 server, each fresh.
fn remotes(dir: &Path) -> Vec<(String, Vec<(String, String)>)> {
    let unique = dir.file_name().unwrap().to_str().unwrap().to_lowercase().replace(['.', '_'], "-");
    vec![
        (format!("file://{}", dir.join("shared").display()), Vec::new()),
        (format!("s3://sgdnoise-test/{unique}"), seaweedfs().to_vec()),
    ]
}

#[test]
fn two_caches_sharing_one_remote_the_second_executes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (remote, env) in remotes(dir.path()) {
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let _ = std::fs::remove_dir_all(&a);
        let _ = std::fs::remove_dir_all(&b);
        let (first, _) = run(&fixture("tiny.yaml"), &a, &remote, &env);
        assert_eq!(first["executed"], 10, "{remote}: {first}");
        // `plan --remote` only reads: it says what the remote holds of what would run.
        let plan = ok(&["plan", &fixture("tiny.yaml"), "--cache", b.to_str().unwrap(), "--remote", &remote], &env);
        let said = String::from_utf8_lossy(&plan.stderr);
        assert!(said.contains(&format!("{remote} holds 8 of the 8 instance(s) to run")), "{said}");
        let (second, _) = run(&fixture("tiny.yaml"), &b, &remote, &env);
        assert_eq!((second["executed"].as_u64(), second["cached"].as_u64()), (Some(0), Some(10)), "{remote}");
        // Each keeps its own provenance, and says where what it fetched came from.
        let why = ok(&["why", "train[P=32,T=0.125,seed=0]", "--cache", b.to_str().unwrap()], &env);
        let why = String::from_utf8_lossy(&why.stdout);
        assert!(why.contains(&format!("from the remote {remote}")), "{why}");
        let doctor = ok(&["cache", "doctor", "--remote", &remote], &env);
        assert!(String::from_utf8_lossy(&doctor.stderr).contains("write-once holds"));
    }
}

#[test]
fn sixteen_writers_racing_for_one_key_agree_on_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.yaml");
    std::fs::write(
        &one,
        "name: one\nstages:\n  train:\n    kind: train\n    params: { data: depleted, chi: 1, dim: 8, arch: linear, alpha: 32768, batch: 2, T: 0.25, P: 64, test_size: 256 }\n",
    )
    .unwrap();
    for (r, (remote, env)) in remotes(dir.path()).into_iter().enumerate() {
        let caches: Vec<_> = (0..16).map(|i| dir.path().join(format!("{r}-{i}"))).collect();
        let children: Vec<_> = caches
            .iter()
            .map(|c| {
                command(
                    &["run", one.to_str().unwrap(), "--cache", c.to_str().unwrap(), "--remote", &remote, "--json"],
                    &env,
                )
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
            })
            .collect();
        let mut outputs = std::collections::BTreeSet::new();
        let mut winners = 0;
        for child in children {
            let out = child.wait_with_output().unwrap();
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{remote}: {said}");
            assert!(!said.contains("Conflict"), "{said}");
            winners += said.matches("Pushed").count() * usize::from(said.contains(": 1 record(s) written"));
        }
        assert_eq!(winners, 1, "{remote}: exactly one writer wrote the record");
        for c in &caches {
            let plan = ok(&["plan", one.to_str().unwrap(), "--cache", c.to_str().unwrap(), "--json"], &env);
            let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
            assert_eq!(plan[0]["status"], "fresh");
            let why = ok(&["why", "train", "--cache", c.to_str().unwrap(), "--json"], &env);
            let why: Value = serde_json::from_slice(&why.stdout).unwrap();
            outputs.insert(why["chain"][0]["outputs"].to_string());
        }
        assert_eq!(outputs.len(), 1, "{remote}: all sixteen hold the same record");
        // One record on the remote: pulling everything into a fresh cache imports exactly one.
        let fresh = dir.path().join(format!("fresh-{r}"));
        let pulled = ok(&["cache", "pull", "--remote", &remote, "--cache", fresh.to_str().unwrap()], &env);
        let said = String::from_utf8_lossy(&pulled.stderr);
        assert!(said.contains("1 record(s) imported"), "{remote}: {said}");
    }
}

#[test]
fn a_corrupted_download_is_refused_and_the_instance_runs_here() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    let remote = format!("file://{}", shared.display());
    run(&fixture("tiny.yaml"), &dir.path().join("a"), &remote, &[]);
    // Flip the bytes of one training record on the remote.
    let record = std::fs::read_dir(shared.join("records")).unwrap().flatten().next().unwrap().path();
    let entry: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    let entry = if entry["kind"] == "train" {
        entry
    } else {
        std::fs::read_dir(shared.join("records"))
            .unwrap()
            .flatten()
            .map(|e| serde_json::from_slice::<Value>(&std::fs::read(e.path()).unwrap()).unwrap())
            .find(|e| e["kind"] == "train")
            .unwrap()
    };
    let hash = entry["outputs"]["record.json"].as_str().unwrap();
    let object = shared.join("objects").join(&hash[..2]).join(&hash[2..]);
    std::fs::write(&object, b"{\"not\": \"the record\"}").unwrap();
    let out = ok(
        &["run", &fixture("tiny.yaml"), "--cache", dir.path().join("b").to_str().unwrap(), "--remote", &remote],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Refused") && stderr.contains("corrupt: its content hashes to"), "{stderr}");
    assert!(stderr.contains(&format!("objects/{}/{}: corrupt", &hash[..2], &hash[2..])), "{stderr}");
    // It runs here instead, and what is above it (not fetched once a run is needed) too.
    assert!(stderr.contains("tiny: 3 executed, 7 cached"), "{stderr}");
}

#[test]
fn an_interrupted_push_resumes_and_never_leaves_a_record_without_its_objects() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let shared = dir.path().join("shared");
    let remote = format!("file://{}", shared.display());
    ok(
        &["run", &fixture("analysis.yaml"), "--cache", cache.to_str().unwrap(), "-j", "2", "--no-export", "--json"],
        &[],
    );
    let c = cache.to_str().unwrap();
    let mut child = command(&["cache", "push", "--remote", &remote, "--cache", c], &[])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let records = shared.join("records");
    while std::fs::read_dir(&records).map(|d| d.count()).unwrap_or(0) < 3 {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    // SAFETY: signals a child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    child.wait().unwrap();
    // Records only: a killed writer may leave object_store's staging file (`KEY.json#N`) beside
    // them, which no reader takes for a record.
    let record_files = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&records)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect()
    };
    let count = || record_files().len();
    let partial = count();
    let every_record_has_its_objects = || {
        record_files().iter().all(|path| {
            let entry: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            entry["outputs"].as_object().unwrap().values().all(|h| {
                let h = h.as_str().unwrap();
                shared.join("objects").join(&h[..2]).join(&h[2..]).is_file()
            })
        })
    };
    assert!(every_record_has_its_objects());
    let out = ok(&["cache", "push", "--remote", &remote, "--cache", c], &[]);
    let total = count();
    assert!(partial < total, "the push was interrupted ({partial} of {total} records)");
    assert!(every_record_has_its_objects());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{} record(s) written", total - partial)));
}
