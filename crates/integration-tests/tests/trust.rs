//! Nothing trusted blindly: objects are rehashed when read and planned, `verify` names the
//! instance behind a bad object and `--repair` drops it, a lost or damaged database is refused or
//! reported, a read-only cache can be read, names cannot write outside the workspace, and export
//! deletes only what it wrote, across filesystems.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{repo, sgdnoise, Tmpfs};

fn fixture(name: &str) -> PathBuf {
    repo().join("crates/integration-tests/tests/fixtures").join(name)
}

fn run(pipeline: &Path, cache: &Path, extra: &[&str]) -> (Option<i32>, Value, String) {
    let mut args = vec!["run", pipeline.to_str().unwrap(), "--cache", cache.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = sgdnoise(&args);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn counts(v: &Value) -> (u64, u64, u64) {
    (v["executed"].as_u64().unwrap(), v["cached"].as_u64().unwrap(), v["failed"].as_u64().unwrap())
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The object whose content contains `needle`, and its path.
fn object_containing(cache: &Path, needle: &str) -> (String, PathBuf) {
    let store = sgdnoise_core::store::Store::open(cache).unwrap();
    for hash in store.list() {
        let path = store.path(&hash);
        if std::fs::read_to_string(&path).is_ok_and(|t| t.contains(needle)) {
            return (hash, path);
        }
    }
    panic!("no object contains {needle}");
}

/// Flips the first digit after `field` in the object's JSON, keeping it valid JSON.
fn flip_digit_after(path: &Path, field: &str) {
    let mut t = std::fs::read_to_string(path).unwrap();
    let at = t.find(field).unwrap() + field.len();
    let i = at + t[at..].find(|c: char| c.is_ascii_digit() && c != '0').unwrap();
    let d = t.as_bytes()[i];
    t.replace_range(i..=i, if d == b'9' { "8" } else { "9" });
    serde_json::from_str::<Value>(&t).expect("still valid JSON");
    std::fs::write(path, t).unwrap();
}

#[test]
fn a_flipped_record_is_never_used_the_instance_reruns_and_verify_repair_names_it() {
    let cache = tempfile::tempdir().unwrap();
    let (tiny, c) = (fixture("tiny.yaml"), cache.path().to_str().unwrap());
    let (code, v, err) = run(&tiny, cache.path(), &["--threads", "1"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(counts(&v), (10, 0, 0));
    let fit_before = object_containing(cache.path(), "\"delta\"").0;
    let (hash, path) = object_containing(cache.path(), "\"rel_dw\"");
    flip_digit_after(&path, "\"rel_dw\":");
    // plan says which instance reruns and why; nothing downstream is keyed on the bad bytes.
    let plan = sgdnoise(&["plan", tiny.to_str().unwrap(), "--cache", c, "--explain"]);
    let plan = text(&plan);
    let short = &hash[..12];
    assert!(
        plan.contains(&format!(": output corrupt: record.json (object {short}) no longer matches its hash")),
        "{plan}"
    );
    // verify names the instance and the remedy, and fails.
    let verify = sgdnoise(&["verify", "--cache", c]);
    assert_eq!(verify.status.code(), Some(1));
    let report = text(&verify);
    assert!(report.contains(&format!("Corrupt object {hash} hashes to ")), "{report}");
    assert!(report.contains("output record.json of train["), "{report}");
    assert!(report.contains("`sgdnoise verify --repair` drops them"), "{report}");
    // A plain run redoes exactly that run; the same bytes come back, so nothing downstream moves.
    let (code, v, err) = run(&tiny, cache.path(), &["--threads", "1"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(counts(&v), (1, 9, 0), "{v}");
    assert_eq!(object_containing(cache.path(), "\"delta\"").0, fit_before, "the fit is unchanged");
    assert!(sgdnoise(&["verify", "--cache", c]).status.success());
    // --repair: drop the bad object and its record; the next run redoes that one.
    flip_digit_after(&path, "\"rel_dw\":");
    let repair = sgdnoise(&["verify", "--repair", "--cache", c]);
    assert!(text(&repair).contains("Repaired dropped 1 object(s) and 1 record(s)"), "{}", text(&repair));
    assert!(!path.exists());
    assert!(sgdnoise(&["verify", "--cache", c]).status.success());
    let (_, v, _) = run(&tiny, cache.path(), &["--threads", "1"]);
    assert_eq!(counts(&v), (1, 9, 0), "{v}");
}

#[test]
fn a_flipped_report_in_the_store_is_remade_not_exported() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    let analysis = fixture("analysis.yaml");
    let (code, _, err) = run(&analysis, &cache, &["-j", "2", "--no-export"]);
    assert_eq!(code, Some(0), "{err}");
    let export = |out: &Path| {
        let e = sgdnoise(&[
            "export",
            analysis.to_str().unwrap(),
            "--stage",
            "report",
            "--out",
            out.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
        ]);
        assert!(e.status.success(), "{}", text(&e));
        std::fs::read(out.join("report.md")).unwrap()
    };
    let good = export(&out);
    let (_, path) = object_containing(&cache, "# tiny <report> & test");
    let mut bytes = std::fs::read(&path).unwrap();
    let i = bytes.iter().position(|&b| b == b'<').unwrap();
    bytes[i] = b'>';
    std::fs::write(&path, bytes).unwrap();
    // The report instance runs again (its object no longer matches); the export is the good one.
    let (code, v, err) = run(&analysis, &cache, &["--no-export"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["executed"], 1, "only the report reruns: {v}");
    assert_eq!(export(&out), good);
}

#[test]
fn a_lost_or_emptied_database_is_refused_and_a_damaged_one_is_reported() {
    let cache = tempfile::tempdir().unwrap();
    let (tiny, c) = (fixture("tiny.yaml"), cache.path().to_str().unwrap());
    run(&tiny, cache.path(), &[]);
    let db = cache.path().join("provenance.sqlite");
    let saved = dir_copy(cache.path());
    for (how, damage) in [("missing", 0), ("empty", 1)] {
        for f in ["provenance.sqlite", "provenance.sqlite-wal", "provenance.sqlite-shm"] {
            let _ = std::fs::remove_file(cache.path().join(f));
        }
        if damage == 1 {
            std::fs::write(&db, b"").unwrap();
        }
        for args in [
            vec!["run", tiny.to_str().unwrap(), "--cache", c],
            vec!["plan", tiny.to_str().unwrap(), "--cache", c],
            vec!["gc", "--dry-run", "--cache", c],
            vec!["verify", "--cache", c],
        ] {
            let out = sgdnoise(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
            let t = text(&out);
            assert!(t.contains(&format!("the provenance database is {how} but the store holds objects: its records are lost, and nothing was changed")), "{t}");
            assert!(t.contains("move the cache aside"), "{t}");
        }
        assert_eq!(sgdnoise_core::store::Store::open(cache.path()).unwrap().list().len(), 11, "no object touched");
    }
    // Garbage in the middle of the file: verify says so (PRAGMA integrity_check or a read error).
    restore(&saved, cache.path());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE").unwrap();
    drop(conn);
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 3 * 4096);
    bytes[2 * 4096..3 * 4096].fill(0x5a);
    std::fs::write(&db, bytes).unwrap();
    let out = sgdnoise(&["verify", "--cache", c]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Damaged"), "{}", text(&out));
}

fn dir_copy(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    let status =
        std::process::Command::new("cp").arg("-a").arg(format!("{}/.", dir.display())).arg(copy.path()).status();
    assert!(status.unwrap().success());
    copy
}

fn restore(saved: &tempfile::TempDir, dir: &Path) {
    for f in ["provenance.sqlite", "provenance.sqlite-wal", "provenance.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
        if saved.path().join(f).exists() {
            std::fs::copy(saved.path().join(f), dir.join(f)).unwrap();
        }
    }
}

#[test]
fn a_read_only_cache_can_be_planned_verified_queried_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(dir.path(), "64M");
    let cache = dir.path().join("cache");
    let (tiny, c) = (fixture("tiny.yaml"), cache.to_str().unwrap());
    let (code, _, err) = run(&tiny, &cache, &[]);
    assert_eq!(code, Some(0), "{err}");
    let ro = std::process::Command::new("mount").args(["-o", "remount,ro"]).arg(dir.path()).output().unwrap();
    assert!(ro.status.success());
    let out = tempfile::tempdir().unwrap();
    let t = tiny.to_str().unwrap();
    for args in [
        vec!["plan", t, "--cache", c],
        vec!["verify", "--cache", c],
        vec!["results", t, "--stage", "runs", "--cache", c],
        vec!["export", t, "--stage", "weights", "--out", out.path().to_str().unwrap(), "--cache", c],
    ] {
        let o = sgdnoise(&args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    assert!(text(&sgdnoise(&["plan", t, "--cache", c])).contains("10 fresh, 0 to run"));
    let o = sgdnoise(&["run", t, "--cache", c]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("Read-only file system (os error 30) (this command writes the cache;"), "{}", text(&o));
    drop(disk);
}

#[test]
fn names_that_would_write_outside_the_workspace_are_refused_at_plan() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("name: \"../../../x\"\nstages:\n  a: { kind: dataset, params: { data: mnist } }\n", "1:7: name: `../../../x` cannot name the report folder"),
        ("name: /tmp/x\nstages:\n  a: { kind: dataset, params: { data: mnist } }\n", "1:7: name: `/tmp/x` cannot name the report folder"),
        (
            "name: t\nstages:\n  a: { kind: dataset, params: { data: mnist } }\n  r:\n    kind: report\n    needs: [a]\n    sweep: { list: [ { title: \"x/../../../../tmp/y\" } ] }\n",
            "cannot name an export folder: swept text may not hold `/`",
        ),
    ];
    for (i, (yaml, message)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("{i}.yaml"));
        std::fs::write(&p, yaml).unwrap();
        let out = sgdnoise(&["plan", p.to_str().unwrap(), "--cache", dir.path().join("c").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(message), "{}", text(&out));
    }
}

#[test]
fn export_deletes_only_files_it_wrote_and_works_across_filesystems() {
    let dir = tempfile::tempdir().unwrap();
    // The cache on one filesystem (a tmpfs, like scratch), the export folder on another.
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let _disk = Tmpfs::mount(&scratch, "64M");
    let cache = scratch.join("cache");
    let (tiny, c) = (fixture("tiny.yaml"), cache.to_str().unwrap());
    let (code, _, err) = run(&tiny, &cache, &[]);
    assert_eq!(code, Some(0), "{err}");
    let out = tempfile::tempdir_in(repo().join("target")).unwrap();
    let export = || {
        sgdnoise(&[
            "export",
            tiny.to_str().unwrap(),
            "--stage",
            "runs",
            "--out",
            out.path().to_str().unwrap(),
            "--cache",
            c,
        ])
    };
    let first = export();
    assert!(first.status.success(), "across filesystems: {}", text(&first));
    assert!(out.path().join("runs.csv").exists());
    // A manifest prepared by someone else names a user's files: none is deleted.
    let victim = out.path().join("notes.txt");
    std::fs::write(&victim, b"my notes").unwrap();
    let victim_hash = blake3::hash(b"my notes").to_hex().to_string();
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, b"keep").unwrap();
    let manifest = out.path().join(".sgdnoise-export");
    let mut prepared = std::fs::read_to_string(&manifest).unwrap();
    prepared.push_str(&format!("{victim_hash} notes.txt\n{victim_hash} ../outside.txt\nnotes.txt\n"));
    std::fs::write(&manifest, prepared).unwrap();
    assert!(export().status.success());
    assert!(victim.exists() && outside.exists(), "nothing it did not write is deleted");
    // A file it wrote that the new export no longer has (a figure that is gone) is removed.
    let runs_csv = std::fs::read(out.path().join("runs.csv")).unwrap();
    std::fs::write(out.path().join("old.csv"), &runs_csv).unwrap();
    let mut m = std::fs::read_to_string(&manifest).unwrap();
    m.push_str(&format!("{} old.csv\n", blake3::hash(&runs_csv).to_hex()));
    std::fs::write(&manifest, m).unwrap();
    assert!(export().status.success());
    assert!(!out.path().join("old.csv").exists(), "its own stale file is removed");
    assert!(victim.exists());
}

#[test]
fn export_errors_name_the_path_and_the_disk_that_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (tiny, c) = (fixture("tiny.yaml"), cache.to_str().unwrap());
    let (code, _, err) = run(&tiny, &cache, &[]);
    assert_eq!(code, Some(0), "{err}");
    let export = |out: &Path| {
        sgdnoise(&["export", tiny.to_str().unwrap(), "--stage", "runs", "--out", out.to_str().unwrap(), "--cache", c])
    };
    // --out is a file: the error names it.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = export(&file);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains(&format!("creating {}", file.display())), "{}", text(&out));
    // A full export folder is blamed on its own disk, not on the cache's.
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    let _disk = Tmpfs::mount(&full, "4k");
    let out = export(&full);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("no space left on the disk that holds that folder; nothing partial was kept"), "{t}");
    assert!(!t.contains("holds the cache"), "{t}");
}
