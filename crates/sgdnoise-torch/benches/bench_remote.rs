//! Benchmark: moving 10,000 records (each a ~4 KiB training record, the size of a real one)
//! through a remote, against the same records moved as a bundle (written, then imported), in
//! one invocation. Remotes: a `file://` folder, and the S3 server of scripts/seaweedfs.sh when
//! the AWS variables point at one (`eval "$(scripts/seaweedfs.sh up)"` first). Prints seconds and
//! records per second for push and pull, and each against the bundle's write + import.
//! Usage: bench-remote [N]

use std::time::Instant;

use sgdnoise_core::bundle::format::Scope;
use sgdnoise_core::engine::key::output_hash;
use sgdnoise_core::provenance::{Db, ExecutionRow};
use sgdnoise_core::remote::{sync, Remote};
use sgdnoise_core::store::Store;

fn record(i: usize) -> Vec<u8> {
    let points: Vec<String> = (0..120).map(|t| format!("[{t},{:.9}]", ((i * 131 + t) as f64).sin())).collect();
    format!("{{\"run\":{i},\"trajectory\":[{}]}}", points.join(",")).into_bytes()
}

fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().expect("N")).unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let store = Store::open(&cache).unwrap();
    let mut db = Db::open(&cache.join("provenance.sqlite")).unwrap();
    let mut keys = Vec::new();
    let mut bytes = 0;
    for i in 0..n {
        let body = record(i);
        bytes += body.len();
        let hash = store.put(&body).unwrap();
        let outputs = [("record.json".to_owned(), hash)].into_iter().collect();
        let key = blake3::hash(format!("key {i}").as_bytes()).to_hex().to_string();
        let row = ExecutionRow {
            key: key.clone(),
            pipeline: "bench".into(),
            stage: "train".into(),
            instance: format!("train[seed={i}]"),
            kind: "train".into(),
            kind_version: 3,
            key_inputs: serde_json::json!({}),
            params: serde_json::json!({ "seed": i }),
            inputs: serde_json::json!([]),
            output_hash: Some(output_hash(&outputs)),
            outputs: Some(outputs),
            metrics: serde_json::json!({}),
            env: serde_json::json!({}),
            host: "bench".into(),
            started_at: "2026-12-06T00:00:00.000Z".into(),
            finished_at: Some("2026-12-06T00:00:01.000Z".into()),
            duration_s: Some(1.0),
            status: "ok".into(),
            ..Default::default()
        };
        db.commit_success(&row).unwrap();
        keys.push(key);
    }
    println!(
        "{n} records of {:.1} KiB on average ({:.1} MB in all)",
        bytes as f64 / n as f64 / 1024.0,
        bytes as f64 / 1e6
    );

    // The reference: the same records as a bundle, written then imported into a fresh cache.
    let t = Instant::now();
    let scope = Scope { pipeline: "bench".into(), targets: vec![], not_fresh: 0 };
    let out = dir.path().join("bundle");
    sgdnoise_core::bundle::write::write(&db, &store, &keys, &scope, &out).unwrap();
    let t_write = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let bundle = sgdnoise_core::bundle::Bundle::open(&out).unwrap();
    let other = dir.path().join("imported");
    let other_store = Store::open(&other).unwrap();
    let mut other_db = Db::open(&other.join("provenance.sqlite")).unwrap();
    let checked = bundle.check_objects().unwrap();
    let done =
        sgdnoise_core::bundle::import::import(&bundle, checked, &other_store, &mut other_db, "now", "here").unwrap();
    assert_eq!(done.added, n);
    let t_import = t.elapsed().as_secs_f64();
    let reference = t_write + t_import;
    println!(
        "{:>24} {t_write:.2} s write + {t_import:.2} s import = {reference:.2} s ({:.0} records/s)",
        "bundle (reference)",
        n as f64 / reference
    );

    let mut remotes = vec![format!("file://{}", dir.path().join("shared").display())];
    if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        remotes.push(format!("s3://sgdnoise-bench/run-{}", std::process::id()));
    } else {
        println!("(no AWS_ENDPOINT_URL: S3 skipped; `eval \"$(scripts/seaweedfs.sh up)\"` first)");
    }
    for (r, url) in remotes.into_iter().enumerate() {
        let remote = Remote::open(&url).unwrap();
        // As `run` and `cache push` do first (and, on SeaweedFS, what makes the bucket).
        assert_eq!(
            sgdnoise_core::remote::doctor::probe(&remote, "bench").unwrap(),
            sgdnoise_core::remote::doctor::Verdict::WriteOnce
        );
        let t = Instant::now();
        let pushed = sync::push(&remote, &db, &store, &keys).unwrap();
        let t_push = t.elapsed().as_secs_f64();
        assert_eq!(pushed.records_written, n);
        let fresh = dir.path().join(format!("pulled-{r}"));
        let fresh_store = Store::open(&fresh).unwrap();
        let mut fresh_db = Db::open(&fresh.join("provenance.sqlite")).unwrap();
        let t = Instant::now();
        let pulled = sync::pull(&remote, &mut fresh_db, &fresh_store, None, "now", "here").unwrap();
        let t_pull = t.elapsed().as_secs_f64();
        assert_eq!(pulled.imported, n, "{:?} {:?}", pulled.refused.first(), (pulled.absent, pulled.present));
        let scheme = &url[..url.find(':').unwrap()];
        println!(
            "{:>24} push {t_push:.2} s ({:.0} records/s, {:.1}× the bundle), pull {t_pull:.2} s ({:.0} records/s, {:.1}× the bundle)",
            format!("{scheme} remote"),
            n as f64 / t_push,
            t_push / reference,
            n as f64 / t_pull,
            t_pull / reference
        );
    }
}
