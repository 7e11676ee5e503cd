//! Results that travel: bundles written, checked, audited and imported on a fresh cache, and a
//! corpus of hostile bundles each refused with its pinned message, leaving the cache unchanged.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{repo, sgdnoise};

fn fixture(name: &str) -> PathBuf {
    repo().join("crates/integration-tests/tests/fixtures").join(name)
}

fn ok(args: &[&str]) -> std::process::Output {
    crate::support::succeeds(args, &[])
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walk(dir) {
        out.insert(e.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&e).unwrap());
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn a_bundle_carries_results_to_a_fresh_cache_where_they_are_audited_checked_and_extended() {
    let here = tempfile::tempdir().unwrap();
    let there = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let p = fixture("bundle.yaml");
    let (p, a, b) = (p.to_str().unwrap(), here.path().to_str().unwrap(), there.path().to_str().unwrap());
    let first = json(&ok(&["run", p, "--cache", a, "--json", "-j", "2"]));
    assert_eq!(first["executed"], 1 + 2 + 12 + 2, "{first}");

    // Deterministic: the same cache gives the same bytes.
    let one = work.path().join("one");
    let two = work.path().join("two");
    ok(&["bundle", p, "--out", one.to_str().unwrap(), "--cache", a]);
    ok(&["bundle", p, "--out", two.to_str().unwrap(), "--cache", a]);
    assert_eq!(files(&one), files(&two));
    let manifest: Value = serde_json::from_slice(&std::fs::read(one.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["instances"], 17);
    assert_eq!(manifest["left_out"].as_array().unwrap().len(), 1, "the prepared MNIST pool is left out");
    assert_eq!(manifest["left_out"][0]["instance"], "mnist");
    let crate_json: Value =
        serde_json::from_slice(&std::fs::read(one.join("ro-crate-metadata.json")).unwrap()).unwrap();
    let actions = crate_json["@graph"].as_array().unwrap().iter().filter(|n| n["@type"] == "CreateAction").count();
    assert_eq!(actions, 17, "one CreateAction per instance");
    let one = one.to_str().unwrap();
    let verified = ok(&["verify", "--bundle", one]);
    assert!(String::from_utf8_lossy(&verified.stdout).contains("every hash matches and the chain is whole"));

    // Audit from the bundle alone: no cache at all.
    let fit_key = {
        let plan = json(&ok(&["plan", p, "--cache", a, "--json"]));
        plan.as_array().unwrap().iter().find(|i| i["stage"] == "weights").unwrap()["key"].as_str().unwrap().to_owned()
    };
    let nowhere = work.path().join("no-cache");
    let id = format!("fit:{}", &fit_key[..16]);
    let why = ok(&["why", &id, "--bundle", one, "--cache", nowhere.to_str().unwrap(), "--json"]);
    assert!(!nowhere.exists(), "why made no cache");
    let why = json(&why);
    assert!(why["found_in"].as_str().unwrap().starts_with("bundle "), "{why}");
    let audited = &why["audited"];
    assert!(audited["values"][0].as_str().unwrap().starts_with("delta = "), "{audited}");
    assert_eq!(audited["used"].as_array().unwrap().len(), 8);
    assert_eq!(audited["excluded_keys"]["P outside the fit range"].as_array().unwrap().len(), 4);
    let trains: Vec<&Value> = why["chain"].as_array().unwrap().iter().filter(|i| i["kind"] == "train").collect();
    assert_eq!(trains.len(), 12);
    assert!(trains.iter().all(|t| t["params"]["seed"].is_number()));
    let text =
        String::from_utf8_lossy(&ok(&["why", &id, "--bundle", one, "--cache", nowhere.to_str().unwrap()]).stdout)
            .into_owned();
    assert!(text.contains(": left out, P outside the fit range"), "{text}");
    assert_eq!(text.matches(": used").count(), 8, "{text}");
    let missing = sgdnoise(&["why", "fit:0123456789abcdef", "--bundle", one, "--cache", nowhere.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2));
    assert!(err.contains("looked in the cache") && err.contains(&format!("the bundle {one} (17 instances)")), "{err}");

    // Import: verified, idempotent; the results are fresh there, and only the left-out pool is
    // rebuilt.
    let imported = String::from_utf8_lossy(&ok(&["import", one, "--cache", b]).stdout).into_owned();
    assert!(imported.contains("17 instances, 17 added, 0 already here"), "{imported}");
    let again = String::from_utf8_lossy(&ok(&["import", one, "--cache", b]).stdout).into_owned();
    assert!(again.contains("0 added, 16 already here; 0 objects written"), "{again}");
    let plan = json(&ok(&["plan", p, "--cache", b, "--json"]));
    let to_run: Vec<&Value> = plan.as_array().unwrap().iter().filter(|i| i["status"] != "fresh").collect();
    assert_eq!(to_run.len(), 1, "{to_run:?}");
    assert_eq!(to_run[0]["stage"], "mnist");
    assert!(to_run[0]["reasons"][0].as_str().unwrap().starts_with("rebuild: outputs left out"), "{to_run:?}");
    let rerun = json(&ok(&["run", p, "--cache", b, "--json"]));
    assert_eq!((rerun["executed"].as_u64(), rerun["cached"].as_u64()), (Some(1), Some(16)), "{rerun}");
    let origin = String::from_utf8_lossy(&ok(&["why", "net[P=64,seed=1]", "--cache", b]).stdout).into_owned();
    assert!(origin.contains("imported ") && origin.contains(&manifest_id(one)[..12]), "{origin}");

    // Extend there: one more seed runs exactly its runs and the analyses above them.
    let more_text = std::fs::read_to_string(p).unwrap().replace(r#"seed: "0..1""#, r#"seed: "0..2""#);
    let more = work.path().join("bundle.yaml");
    std::fs::write(&more, more_text).unwrap();
    let plan = json(&ok(&["plan", more.to_str().unwrap(), "--cache", b, "--json"]));
    let to_run: Vec<String> = plan
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] != "fresh")
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(to_run.len(), 1 + 6 + 2, "{to_run:?}");
    assert!(to_run.iter().filter(|id| id.contains("seed=")).all(|id| id.contains("seed=2")), "{to_run:?}");

    // Anyone can re-execute what the bundle holds and compare: everything here is bitwise.
    let rerun = String::from_utf8_lossy(&ok(&["verify", "--bundle", one, "--rerun", "100"]).stdout).into_owned();
    assert!(rerun.contains("17 re-executed: 17 bitwise, 0 within tolerance, 0 different"), "{rerun}");
}

fn manifest_id(dir: &str) -> String {
    blake3::hash(&std::fs::read(Path::new(dir).join("manifest.json")).unwrap()).to_hex().to_string()
}

// ---- hostile bundles ----

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_end(&mut out).unwrap();
    out
}

fn gzip(path: &Path, bytes: &[u8]) {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

/// Rewrites the manifest's sizes and hashes to match the files as they are now: a hostile
/// bundle made by someone who knows the format.
fn reseal(dir: &Path) {
    let path = dir.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for name in ["provenance.jsonl.gz", "objects.pack.gz", "ro-crate-metadata.json"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        m["files"][name] =
            serde_json::json!({ "bytes": bytes.len(), "blake3": blake3::hash(&bytes).to_hex().to_string() });
    }
    std::fs::write(path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// Edits the provenance lines (as JSON values) and reseals.
fn edit_lines(dir: &Path, edit: impl Fn(&mut Vec<Value>)) {
    let path = dir.join("provenance.jsonl.gz");
    let text = String::from_utf8(gunzip(&path)).unwrap();
    let mut lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    edit(&mut lines);
    let out: String = lines.iter().map(|l| format!("{l}\n")).collect();
    gzip(&path, out.as_bytes());
    reseal(dir);
}

fn edit_manifest(dir: &Path, edit: impl Fn(&mut Value)) {
    let path = dir.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// The objects of the pack as (hash, bytes).
fn pack(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = gunzip(&dir.join("objects.pack.gz"));
    let (mut out, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        let nl = i + bytes[i..].iter().position(|&b| b == b'\n').unwrap();
        let header = std::str::from_utf8(&bytes[i..nl]).unwrap();
        let (hash, size) = header.split_once(' ').unwrap();
        let size: usize = size.parse().unwrap();
        out.push((hash.to_owned(), bytes[nl + 1..nl + 1 + size].to_vec()));
        i = nl + 1 + size;
    }
    out
}

fn write_pack(dir: &Path, objects: &[(String, Vec<u8>)]) {
    let mut bytes = Vec::new();
    for (h, b) in objects {
        bytes.extend_from_slice(format!("{h} {}\n", b.len()).as_bytes());
        bytes.extend_from_slice(b);
    }
    gzip(&dir.join("objects.pack.gz"), &bytes);
    reseal(dir);
}

type Case = (&'static str, fn(&Path));

fn hostile_cases() -> Vec<Case> {
    vec![
        ("name-parent", |d| {
            edit_manifest(d, |m| {
                let f = m["files"]["objects.pack.gz"].clone();
                m["files"]["../../outside"] = f;
            })
        }),
        ("name-absolute", |d| {
            edit_manifest(d, |m| {
                let f = m["files"]["objects.pack.gz"].clone();
                m["files"]["/etc/passwd"] = f;
            })
        }),
        ("symlink", |d| {
            std::fs::remove_file(d.join("objects.pack.gz")).unwrap();
            std::os::unix::fs::symlink("/etc/passwd", d.join("objects.pack.gz")).unwrap();
        }),
        ("hash-mismatch", |d| {
            let p = d.join("ro-crate-metadata.json");
            let mut b = std::fs::read(&p).unwrap();
            let last = b.len() - 2;
            b[last] ^= 1;
            std::fs::write(p, b).unwrap();
        }),
        ("truncated-file", |d| {
            let p = d.join("objects.pack.gz");
            let b = std::fs::read(&p).unwrap();
            std::fs::write(p, &b[..b.len() / 2]).unwrap();
        }),
        ("truncated-stream", |d| {
            let p = d.join("objects.pack.gz");
            let b = std::fs::read(&p).unwrap();
            std::fs::write(p, &b[..b.len() / 2]).unwrap();
            reseal(d);
        }),
        ("oversized-file", |d| {
            let p = d.join("provenance.jsonl.gz");
            let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
            f.write_all(&[0u8; 4096]).unwrap();
        }),
        ("object-hash-mismatch", |d| {
            let mut objects = pack(d);
            objects[0].1[0] ^= 1;
            write_pack(d, &objects);
        }),
        ("oversized-object", |d| {
            let mut objects = pack(d);
            objects[0].1.extend_from_slice(&[b' '; 100]);
            write_pack(d, &objects);
        }),
        ("missing-object", |d| {
            let mut objects = pack(d);
            objects.remove(0);
            write_pack(d, &objects);
            edit_manifest(d, |m| {
                let n = m["objects"].as_u64().unwrap();
                m["objects"] = (n - 1).into();
            });
            reseal(d);
        }),
        ("malformed-manifest", |d| {
            std::fs::write(d.join("manifest.json"), b"{ \"format\": \"sgdnoise-bundle-1\", \"pipeline\": ").unwrap()
        }),
        ("malformed-line", |d| {
            let path = d.join("provenance.jsonl.gz");
            let mut text = gunzip(&path);
            let nl = text.iter().position(|&b| b == b'\n').unwrap();
            text.splice(nl + 1..nl + 1, b"{\"key\": [1, 2,\n".iter().copied());
            gzip(&path, &text);
            reseal(d);
        }),
        ("output-name-escapes", |d| {
            edit_lines(d, |lines| {
                let outputs = lines[0]["outputs"].as_object().unwrap().clone();
                let renamed: serde_json::Map<String, Value> =
                    outputs.into_iter().map(|(_, h)| ("../../../../tmp/x".to_owned(), h)).collect();
                let map: BTreeMap<String, String> =
                    renamed.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect();
                lines[0]["output_hash"] = sgdnoise_core::engine::key::output_hash(&map).into();
                lines[0]["outputs"] = Value::Object(renamed);
            })
        }),
        ("broken-chain", |d| {
            edit_lines(d, |lines| {
                let i = lines.iter().position(|l| !l["inputs"].as_array().unwrap().is_empty()).unwrap();
                lines[i]["inputs"][0]["key"] = "ab".repeat(32).into();
            })
        }),
        ("forged-output-hash", |d| edit_lines(d, |lines| lines[0]["output_hash"] = "cd".repeat(32).into())),
    ]
}

/// A message with what varies from run to run masked: hashes (runs of 12 or more hex digits,
/// keys and objects name times of execution) as `HASH`, numbers of 3 or more digits (sizes) as
/// `N`.
fn masked(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 12 {
            out.push_str("HASH");
        } else if run.len() >= 3 && run.bytes().all(|b| b.is_ascii_digit()) {
            out.push('N');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || ('a'..='f').contains(&c) {
            run.push(c);
        } else {
            if c.is_alphanumeric() && !run.is_empty() {
                // Part of a word ("bytes", "the"): not a number or hash.
                out.push_str(&run);
                run.clear();
                out.push(c);
                continue;
            }
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Every file of a cache with its bytes (SQLite's shared-memory file aside: readers make it).
fn snapshot(cache: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut all = files(cache);
    all.retain(|name, _| !name.ends_with("-shm") && name != "lock");
    all
}

#[test]
fn hostile_bundles_are_refused_case_by_case_and_leave_the_cache_unchanged() {
    let made = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let p = fixture("tiny.yaml");
    let (p, c) = (p.to_str().unwrap(), made.path().to_str().unwrap());
    ok(&["run", p, "--cache", c, "--json"]);
    let good = work.path().join("good");
    ok(&["bundle", p, "--out", good.to_str().unwrap(), "--cache", c]);
    // The cache a refused import must leave as it was: it already holds something.
    let t = target.path().to_str().unwrap();
    ok(&["run", &fixture("two-trains.yaml").display().to_string(), "--cache", t, "--json"]);
    let before = snapshot(target.path());
    let cases = hostile_cases();
    assert!(cases.len() >= 15);
    for (name, break_it) in cases {
        let dir = work.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        for f in walk(&good) {
            std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
        }
        break_it(&dir);
        let out = sgdnoise(&["import", dir.to_str().unwrap(), "--cache", t]);
        let stderr = masked(&String::from_utf8_lossy(&out.stderr).replace(&work.path().display().to_string(), "$DIR"));
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(snapshot(target.path()), before, "{name}: the cache changed");
        insta::assert_snapshot!(format!("hostile_bundles@{name}"), stderr);
        // `verify --bundle` refuses it too.
        let verify = sgdnoise(&["verify", "--bundle", dir.to_str().unwrap()]);
        assert_eq!(verify.status.code(), Some(2), "{name}");
    }
    // The good one is taken.
    ok(&["import", good.to_str().unwrap(), "--cache", t]);
    assert_ne!(snapshot(target.path()), before);
}

/// The targets of the `sgdnoise why …` commands printed in a text (inline or in a shell block),
/// leaving out placeholders (`<id>`, `TARGET`, `ID`) and options.
fn audit_commands(text: &str) -> Vec<String> {
    text.split("sgdnoise why ")
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| c.is_whitespace() || c == '`').next())
        .filter(|t| {
            !t.is_empty() && !t.starts_with(['<', '-', '[']) && !t.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

/// Every audit command of the README, the manual (docs/*.md) and the committed reports.
/// Run as a reader of a fresh clone would: from the repository root, with no cache (the
/// variable only points away from a developer's own), nothing on the network.
#[test]
fn every_audit_command_printed_in_the_readme_and_the_committed_reports_works_without_a_cache() {
    let nowhere = tempfile::tempdir().unwrap();
    let cache = nowhere.path().join("cache");
    let mut texts = vec![repo().join("README.md")];
    texts.extend(
        std::fs::read_dir(repo().join("docs"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    let mut pending = std::collections::BTreeSet::new();
    let mut bundled = 0;
    for report in walk(&repo().join("docs/results")).into_iter().filter(|f| f.ends_with("report.md")) {
        let dir = report.parent().unwrap();
        if dir.join("bundle/manifest.json").is_file() {
            bundled += 1;
            texts.push(report);
        } else {
            // Results committed before bundles existed: their ids resolve once the one
            // regeneration of those results commits their bundle.
            pending.extend(audit_commands(&std::fs::read_to_string(&report).unwrap()));
        }
    }
    assert!(bundled >= 1, "docs/results/quick has its bundle");
    let mut targets = std::collections::BTreeSet::new();
    for t in &texts {
        targets.extend(audit_commands(&std::fs::read_to_string(t).unwrap()));
    }
    let (mut resolved, mut waiting) = (0, 0);
    for target in &targets {
        let out = std::process::Command::new(crate::support::binary())
            .args(["why", target])
            .current_dir(repo())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("SGDNOISE_CACHE", &cache)
            .output()
            .unwrap();
        if !out.status.success() && pending.contains(target) {
            waiting += 1;
            continue;
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "sgdnoise why {target}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("train instance") && stdout.contains(" seed "), "{target}: {stdout}");
        resolved += 1;
    }
    assert!(!cache.exists(), "why made no cache");
    assert!(resolved >= 10, "{resolved} resolved, {waiting} waiting for their results' bundle");
}
