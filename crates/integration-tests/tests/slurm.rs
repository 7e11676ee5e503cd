//! `run --executor slurm` against a real one-node Slurm (scripts/slurm.sh): the same outputs as
//! the local executor, nothing submitted twice, a killed coordinator that reunites with its jobs,
//! a cancelled task, packing, and fake GPUs handed out one per task.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{repo, sgdnoise, sgdnoise_on_slurm, slurm_command};

fn fixture(name: &str) -> PathBuf {
    repo().join("crates/integration-tests/tests/fixtures").join(name)
}

fn run_json(out: std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!("{}\n{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout))
    })
}

/// Key → output hash of every recorded instance.
fn records(cache: &Path) -> BTreeMap<String, String> {
    let db = rusqlite::Connection::open(cache.join("provenance.sqlite")).unwrap();
    let mut stmt = db.prepare("SELECT key, output_hash FROM records").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// (instance, status, env) of every execution.
fn executions(cache: &Path) -> Vec<(String, String, Value)> {
    let db = rusqlite::Connection::open(cache.join("provenance.sqlite")).unwrap();
    let mut stmt = db.prepare("SELECT instance, status, env FROM executions ORDER BY id").unwrap();
    stmt.query_map([], |r| {
        let env: String = r.get(2)?;
        Ok((r.get(0)?, r.get(1)?, serde_json::from_str(&env).unwrap()))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The batches submitted to this cache: (job id, keys per array task).
fn batches(cache: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(cache.join("slurm")) else { return out };
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.join("tasks").is_dir()).collect();
    dirs.sort();
    for dir in dirs {
        let job = std::fs::read_to_string(dir.join("job_id")).unwrap_or_default().trim().to_owned();
        let mut tasks = Vec::new();
        while let Ok(text) = std::fs::read_to_string(dir.join("tasks").join(tasks.len().to_string())) {
            tasks.push(text.split_whitespace().map(str::to_owned).collect());
        }
        out.push((job, tasks));
    }
    out
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ready() {
        assert!(t0.elapsed() < Duration::from_secs(120), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn slurm_gives_the_local_outputs_and_a_second_run_submits_nothing() {
    let (local, remote) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = fixture("slurm.yaml");
    let ps = p.to_str().unwrap();
    let out = sgdnoise(&["run", ps, "--cache", local.path().to_str().unwrap(), "-j", "2", "--json"]);
    assert_eq!(run_json(out)["executed"], 14);
    let c = remote.path().to_str().unwrap();
    let first = run_json(sgdnoise_on_slurm(&["run", ps, "--cache", c, "-j", "2", "--executor", "slurm", "--json"]));
    assert_eq!((first["executed"].as_u64(), first["failed"].as_u64()), (Some(14), Some(0)), "{first}");
    assert_eq!(records(remote.path()), records(local.path()), "the same keys and output hashes as a local run");
    // Every training run went through Slurm, and provenance says where.
    let trains: Vec<_> = executions(remote.path()).into_iter().filter(|e| e.0.contains('[')).collect();
    assert_eq!(trains.len(), 12);
    for (id, status, env) in &trains {
        assert_eq!((status.as_str(), env["executor"].as_str()), ("ok", Some("slurm")), "{id}: {env}");
        assert!(env["slurm_job_id"].is_string() && env["slurm_array_index"].is_string(), "{id}: {env}");
    }
    let submitted = batches(remote.path());
    assert_eq!(submitted.len(), 2, "the perceptron runs, then the FC runs once MNIST is prepared");
    let second = run_json(sgdnoise_on_slurm(&["run", ps, "--cache", c, "--executor", "slurm", "--json"]));
    assert_eq!((second["executed"].as_u64(), second["cached"].as_u64()), (Some(0), Some(14)));
    assert_eq!(batches(remote.path()).len(), 2, "a second run submits nothing");
}

#[test]
fn a_killed_coordinator_reunites_with_its_jobs_and_nothing_runs_twice() {
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path().to_str().unwrap();
    let p = fixture("slurm-slow.yaml");
    let args =
        ["run", p.to_str().unwrap(), "--cache", c, "--executor", "slurm", "--pack", "1", "--max-concurrent", "1"];
    let mut coordinator =
        slurm_command(&args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let results = cache.path().join("slurm/results");
    wait_for("a first result", || std::fs::read_dir(&results).map(|d| d.count() > 0).unwrap_or(false));
    coordinator.kill().unwrap();
    coordinator.wait().unwrap();
    let done_before = records(cache.path()).len();
    assert!(done_before < 1 + 6 + 1, "killed before the end ({done_before} recorded)");
    // The rerun ingests what the nodes finished meanwhile, adopts what still runs, submits nothing.
    let second = run_json(sgdnoise_on_slurm(&[&args[..], &["--json"]].concat()));
    assert_eq!(second["failed"], 0, "{second}");
    let submitted = batches(cache.path());
    assert_eq!(submitted.len(), 1, "the rerun submitted no new batch");
    assert_eq!(submitted[0].1.len(), 6);
    let runs: Vec<_> = executions(cache.path()).into_iter().filter(|e| e.0.starts_with("fc[")).collect();
    let mut ids: Vec<&str> = runs.iter().map(|e| e.0.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((runs.len(), ids.len()), (6, 6), "each run executed and recorded once: {runs:?}");
    let verify = sgdnoise(&["verify", "--cache", c]);
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains(": 0 problem(s)"),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn a_cancelled_task_fails_its_instances_with_the_reason_and_a_rerun_completes_them() {
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path().to_str().unwrap();
    let p = fixture("slurm-slow.yaml");
    let args = [
        "run",
        p.to_str().unwrap(),
        "--cache",
        c,
        "--executor",
        "slurm",
        "--pack",
        "2",
        "--max-concurrent",
        "1",
        "--json",
    ];
    let coordinator =
        slurm_command(&args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
    wait_for("the batch", || batches(cache.path()).first().is_some_and(|b| !b.0.is_empty()));
    let (job, tasks) = batches(cache.path()).remove(0);
    assert_eq!(tasks.len(), 3);
    // The last task is still queued behind the other two (one at a time): cancel it.
    let scancel = std::process::Command::new("scancel")
        .arg(format!("{job}_2"))
        .env("SLURM_CONF", crate::support::slurm())
        .output()
        .unwrap();
    assert!(scancel.status.success(), "{}", String::from_utf8_lossy(&scancel.stderr));
    let out = coordinator.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed: Vec<&Value> = v["instances"].as_array().unwrap().iter().filter(|i| i["status"] == "failed").collect();
    assert_eq!(failed.len(), 2, "{v}");
    for f in &failed {
        let error = f["error"].as_str().unwrap();
        assert!(error.starts_with(&format!("slurm task {job}_2 was cancelled")), "{error}");
        assert!(tasks[2].contains(&f["key"].as_str().unwrap().to_owned()));
    }
    let rerun = run_json(sgdnoise_on_slurm(&args));
    assert_eq!((rerun["executed"].as_u64(), rerun["failed"].as_u64()), (Some(2 + 1), Some(0)), "{rerun}");
}

#[test]
fn two_hundred_short_runs_go_into_at_most_ten_array_tasks() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("many.yaml");
    std::fs::write(
        &p,
        "name: many\nstages:\n  train:\n    kind: train\n    params: { data: depleted, chi: 1, dim: 8, arch: linear, alpha: 32768, batch: 2, test_size: 256 }\n    sweep: { grid: { P: [32, 64], T: [0.0625, 0.125, 0.25, 0.5], seed: \"0..24\" } }\n",
    )
    .unwrap();
    let c = cache.path().to_str().unwrap();
    let v = run_json(sgdnoise_on_slurm(&["run", p.to_str().unwrap(), "--cache", c, "--executor", "slurm", "--json"]));
    assert_eq!((v["executed"].as_u64(), v["failed"].as_u64()), (Some(200), Some(0)));
    let submitted = batches(cache.path());
    assert_eq!(submitted.len(), 1);
    assert!(submitted[0].1.len() <= 10, "{} array tasks", submitted[0].1.len());
    assert_eq!(submitted[0].1.iter().map(Vec::len).sum::<usize>(), 200);
}

#[test]
fn each_gpu_task_sees_one_device_and_they_differ() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gpus.yaml");
    std::fs::write(
        &p,
        "name: gpus\nstages:\n  train:\n    kind: train\n    params: { data: depleted, chi: 1, dim: 8, arch: linear, alpha: 32768, batch: 2, P: 64, test_size: 256 }\n    sweep: { grid: { T: [0.0625, 0.125, 0.25, 0.5] } }\n",
    )
    .unwrap();
    let c = cache.path().to_str().unwrap();
    let args =
        ["run", p.to_str().unwrap(), "--cache", c, "--executor", "slurm", "--gres", "gpu:1", "--pack", "1", "--json"];
    let v = run_json(sgdnoise_on_slurm(&args));
    assert_eq!(v["executed"], 4, "{v}");
    let devices: Vec<String> = executions(cache.path())
        .iter()
        .map(|e| e.2["cuda_visible_devices"].as_str().unwrap_or_else(|| panic!("{:?}", e.2)).to_owned())
        .collect();
    assert_eq!(devices.len(), 4);
    assert!(devices.iter().all(|d| d == "0" || d == "1"), "one device each: {devices:?}");
    let mut distinct = devices.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct, ["0", "1"], "the tasks running together got different devices: {devices:?}");
}

#[test]
fn a_detached_run_returns_at_once_and_a_later_run_collects_without_resubmitting() {
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path().to_str().unwrap();
    let p = fixture("slurm-slow.yaml");
    let args = ["run", p.to_str().unwrap(), "--cache", c, "--executor", "slurm", "--max-concurrent", "1", "--json"];
    let detached = run_json(sgdnoise_on_slurm(&[&args[..], &["--detach"]].concat()));
    assert_eq!((detached["executed"].as_u64(), detached["pending"].as_u64()), (Some(1), Some(6 + 1)), "{detached}");
    let fc = detached["instances"].as_array().unwrap().iter().find(|i| i["id"] == "fc[seed=0]").unwrap().clone();
    assert_eq!(fc["error"], "submitted to Slurm and left running (--detach): run again to collect it");
    // gc meanwhile leaves the job files the nodes still need.
    assert!(sgdnoise_on_slurm(&["gc", "--cache", c]).status.success());
    assert_eq!(std::fs::read_dir(cache.path().join("jobs")).unwrap().count(), 6);
    let later = run_json(sgdnoise_on_slurm(&args));
    assert_eq!((later["executed"].as_u64(), later["failed"].as_u64()), (Some(6 + 1), Some(0)), "{later}");
    assert_eq!(batches(cache.path()).len(), 1, "the later run adopted the detached batch");
    // Once Slurm is done with the batch, gc removes its folder and the ingested results.
    wait_for("gc to find the batch finished", || {
        let gc = sgdnoise_on_slurm(&["gc", "--cache", c]);
        String::from_utf8_lossy(&gc.stdout).contains("; 1 finished Slurm batch folder(s);")
    });
    assert!(batches(cache.path()).is_empty());
    assert_eq!(std::fs::read_dir(cache.path().join("slurm/results")).unwrap().count(), 0);
    let local = sgdnoise(&["run", p.to_str().unwrap(), "--cache", c, "--detach"]);
    assert_eq!(local.status.code(), Some(2));
}

#[test]
fn ctrl_c_on_the_coordinator_cancels_its_slurm_jobs() {
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path().to_str().unwrap();
    let p = fixture("slurm-slow.yaml");
    let args =
        ["run", p.to_str().unwrap(), "--cache", c, "--executor", "slurm", "--pack", "1", "--max-concurrent", "1"];
    let coordinator =
        slurm_command(&args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    wait_for("the batch", || batches(cache.path()).first().is_some_and(|b| !b.0.is_empty()));
    let (job, _) = batches(cache.path()).remove(0);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(coordinator.id() as i32, libc::SIGINT) };
    let status = coordinator.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(130));
    // scancel'd: the pending tasks go at once, a running one once it has been killed.
    wait_for("the batch's tasks to be cancelled", || {
        let squeue = std::process::Command::new("squeue")
            .args(["-h", "-j", &job])
            .env("SLURM_CONF", crate::support::slurm())
            .output()
            .unwrap();
        String::from_utf8_lossy(&squeue.stdout).trim().is_empty()
    });
}

/// `gc` while a detached batch finishes keeps what the nodes finished; the run that collects
/// records each training run once, with its objects (before: gc ate them, and every rerun
/// recorded phantom "ok" executions whose objects were gone).
#[test]
fn gc_during_a_detached_run_keeps_finished_work_and_each_run_is_recorded_once() {
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path().to_str().unwrap();
    let p = fixture("slurm-slow.yaml");
    let args = [
        "run",
        p.to_str().unwrap(),
        "--cache",
        c,
        "--executor",
        "slurm",
        "--pack",
        "1",
        "--max-concurrent",
        "1",
        "--json",
    ];
    let detached = run_json(sgdnoise_on_slurm(&[&args[..], &["--detach"]].concat()));
    assert_eq!(detached["pending"], 6 + 1, "{detached}");
    let results = cache.path().join("slurm/results");
    let count = || std::fs::read_dir(&results).map(|d| d.count()).unwrap_or(0);
    // gc again and again while the tasks finish one by one.
    let mut during = 0;
    let start = Instant::now();
    while count() < 6 {
        assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting for the six results");
        let gc = sgdnoise_on_slurm(&["gc", "--cache", c]);
        assert!(gc.status.success(), "{}", String::from_utf8_lossy(&gc.stderr));
        during += usize::from(count() > 0);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(during > 0, "gc ran while results waited to be collected");
    let gc = sgdnoise_on_slurm(&["gc", "--cache", c]);
    assert!(
        String::from_utf8_lossy(&gc.stdout).contains("6 Slurm result(s) not yet collected"),
        "{}",
        String::from_utf8_lossy(&gc.stdout)
    );
    let later = run_json(sgdnoise_on_slurm(&args));
    assert_eq!((later["executed"].as_u64(), later["failed"].as_u64()), (Some(6 + 1), Some(0)), "{later}");
    let runs: Vec<_> = executions(cache.path()).into_iter().filter(|e| e.0.starts_with("fc[")).collect();
    assert_eq!(runs.len(), 6, "each run recorded once: {runs:?}");
    assert!(runs.iter().all(|r| r.1 == "ok"));
    let again = run_json(sgdnoise_on_slurm(&args));
    assert_eq!(again["executed"], 0, "nothing left to do: {again}");
    let verify = sgdnoise(&["verify", "--cache", c]);
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains(": 0 problem(s)"),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

/// A result file whose objects a gc removed (an older sgdnoise's gc, a lost disk) is not
/// recorded: the instance runs again, in the same run.
#[test]
fn a_result_whose_objects_are_gone_is_run_again_not_recorded() {
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path().to_str().unwrap();
    let p = fixture("slurm-slow.yaml");
    let args = ["run", p.to_str().unwrap(), "--cache", c, "--executor", "slurm", "--pack", "1", "--json"];
    let detached = run_json(sgdnoise_on_slurm(&[&args[..], &["--detach"]].concat()));
    assert_eq!(detached["pending"], 6 + 1, "{detached}");
    let results = cache.path().join("slurm/results");
    wait_for("the six results", || std::fs::read_dir(&results).map(|d| d.count() == 6).unwrap_or(false));
    // Remove the objects one result names, as the old gc did.
    let one = std::fs::read_dir(&results).unwrap().next().unwrap().unwrap().path();
    let r: Value = serde_json::from_slice(&std::fs::read(&one).unwrap()).unwrap();
    let store = sgdnoise_core::store::Store::open(cache.path()).unwrap();
    for hash in r["ok"]["outputs"].as_object().unwrap().values() {
        std::fs::remove_file(store.path(hash.as_str().unwrap())).unwrap();
    }
    let later = run_json(sgdnoise_on_slurm(&args));
    assert_eq!((later["executed"].as_u64(), later["failed"].as_u64()), (Some(6 + 1), Some(0)), "{later}");
    let runs = executions(cache.path()).into_iter().filter(|e| e.0.starts_with("fc[")).count();
    assert_eq!(runs, 6, "no phantom execution");
    assert_eq!(batches(cache.path()).len(), 2, "the lost one went in a second batch");
    let verify = sgdnoise(&["verify", "--cache", c]);
    assert!(String::from_utf8_lossy(&verify.stdout).contains(": 0 problem(s)"));
}

/// Paths are words to the batch script, never shell: an apostrophe works, `$(…)` runs nothing.
#[test]
fn cache_paths_with_an_apostrophe_or_shell_syntax_run_and_execute_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pwned = dir.path().join("pwned");
    for name in ["o'brien".to_owned(), format!("'$(touch {})'", pwned.display())] {
        let cache = dir.path().join(&name).join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        let p = fixture("tiny.yaml");
        let out = sgdnoise_on_slurm(&[
            "run",
            p.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
            "--executor",
            "slurm",
            "--json",
        ]);
        let v = run_json(out);
        assert_eq!((v["executed"].as_u64(), v["failed"].as_u64()), (Some(10), Some(0)), "{name}: {v}");
    }
    assert!(!pwned.exists(), "a path ran a command");
}

/// A coordinator killed while `sbatch` answers never wrote the job id; the rerun finds the job by
/// its name and adopts it instead of submitting the same keys twice.
#[test]
fn a_coordinator_killed_during_sbatch_is_adopted_not_doubled() {
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path().to_str().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let mark = bin.path().join("submitted");
    // A slow sbatch: the real one submits, then it takes its time answering.
    let wrapper = bin.path().join("sbatch");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$*\" in *--test-only*) exec /usr/bin/sbatch \"$@\";; esac\n/usr/bin/sbatch \"$@\" >/dev/null\ntouch '{}'\nexec sleep 60\n",
            mark.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let p = fixture("slurm-slow.yaml");
    let args =
        ["run", p.to_str().unwrap(), "--cache", c, "--executor", "slurm", "--pack", "1", "--max-concurrent", "2"];
    use std::os::unix::process::CommandExt;
    let mut coordinator = slurm_command(&args)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    wait_for("the submission", || mark.exists());
    // SAFETY: killing our own child's process group (the coordinator and its slow sbatch).
    unsafe { libc::killpg(coordinator.id() as i32, libc::SIGKILL) };
    coordinator.wait().unwrap();
    let submitted = batches(cache.path());
    assert_eq!(submitted.len(), 1);
    assert!(submitted[0].0.is_empty(), "no job id was written");
    let rerun = run_json(sgdnoise_on_slurm(&[&args[..], &["--json"]].concat()));
    assert_eq!(rerun["failed"], 0, "{rerun}");
    let submitted = batches(cache.path());
    assert_eq!(submitted.len(), 1, "the rerun submitted no second batch");
    let runs: Vec<_> = executions(cache.path()).into_iter().filter(|e| e.0.starts_with("fc[")).collect();
    assert_eq!(runs.len(), 6, "each run executed once: {runs:?}");
}

/// A value Slurm refuses is one refusal before anything is submitted, not one failed record per
/// instance.
#[test]
fn a_bad_slurm_setting_is_one_refusal_before_anything_is_submitted() {
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path().to_str().unwrap();
    let p = fixture("tiny.yaml");
    for (flags, message) in [
        (vec!["--partition", "nosuch"], "Slurm refuses these settings (sbatch --test-only): "),
        (vec!["--time-limit", "1h"], "time: `1h` is not a Slurm time"),
    ] {
        let out = sgdnoise_on_slurm(
            &[&["run", p.to_str().unwrap(), "--cache", c, "--executor", "slurm"][..], &flags].concat(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
        assert!(batches(cache.path()).is_empty(), "nothing submitted");
        assert!(executions(cache.path()).is_empty(), "nothing recorded");
    }
}

/// A held task (here held from the start) is shown with Slurm's reason, and after the stated time
/// the run stops following it, with advice; a rerun adopts it once released.
#[test]
fn a_held_task_is_shown_with_its_reason_and_the_run_stops_with_advice() {
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path().to_str().unwrap();
    let p = fixture("tiny.yaml");
    let args = ["run", p.to_str().unwrap(), "--cache", c, "--executor", "slurm", "--stuck-timeout", "2", "--pack", "8"];
    let out = sgdnoise_on_slurm(&[&args[..], &["--sbatch-arg=--hold"]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Waiting 1 Slurm task(s) pending: JobHeldUser"), "{stderr}");
    let (job, _) = batches(cache.path()).remove(0);
    assert!(
        stderr.contains(&format!("is pending (JobHeldUser) for 2 s or more: release it (`scontrol release {job}`)")),
        "{stderr}"
    );
    let release = std::process::Command::new("scontrol")
        .args(["release", &job])
        .env("SLURM_CONF", crate::support::slurm())
        .output()
        .unwrap();
    assert!(release.status.success(), "{}", String::from_utf8_lossy(&release.stderr));
    let rerun = run_json(sgdnoise_on_slurm(&[&args[..], &["--json"]].concat()));
    assert_eq!((rerun["executed"].as_u64(), rerun["failed"].as_u64()), (Some(10), Some(0)), "{rerun}");
    assert_eq!(batches(cache.path()).len(), 1, "the released batch was adopted");
}
