//! Benchmark: planning a 10,000-instance sweep that is entirely cached (issue 4 target: < 1 s),
//! against planning the same sweep on an empty cache, in one invocation. The records are made
//! directly in a temporary cache (one 4 KiB object per instance, the size of a training record)
//! so the benchmark measures planning, not training. Planning rehashes every object it calls
//! fresh: the cost of that check is measured against checking that the files exist, and the
//! CLI's no-op `run` is timed whole.

use std::time::Instant;

use sgdnoise_core::engine::key::output_hash;
use sgdnoise_core::engine::plan::{PlanEnv, Planner, Status};
use sgdnoise_core::provenance::{Db, ExecutionRow};
use sgdnoise_core::store::Store;

fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().expect("N")).unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("sgdnoise-bench-plan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sweep.yaml");
    std::fs::write(
        &file,
        format!(
            "name: bench\nstages:\n  train:\n    kind: train\n    params: {{ data: depleted, chi: 1, dim: 16, arch: linear, alpha: 32768, batch: 2, P: 256 }}\n    sweep:\n      grid: {{ T: \"2^-10..2^-1\", seed: \"0..{}\" }}\n  runs: {{ kind: collect, needs: [train] }}\n",
            n / 10 - 1
        ),
    )
    .unwrap();
    let cache = dir.join("cache");
    let store = Store::open(&cache).unwrap();
    let mut db = Db::open(&cache.join("provenance.sqlite")).unwrap();
    let env = PlanEnv {
        libtorch: sgdnoise_torch::nn::runtime::libtorch_version_full(),
        device_class: "cpu".into(),
        data: sgdnoise_core::datasets::DataPaths::from_env(),
    };

    let t0 = Instant::now();
    let pipeline = sgdnoise_core::pipeline::load(&file).unwrap();
    let t_load = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let planner = Planner::new(&pipeline, &db, &store, env.clone()).unwrap();
    let plan = planner.plan();
    let t_empty = t1.elapsed().as_secs_f64();
    let total: usize = plan.iter().map(Vec::len).sum();
    println!("bench-plan: {total} instances ({} train + 1 collect)", pipeline.stages[0].instances.len());

    // Fake a record for every instance, stage by stage (the collect key needs the train outputs).
    for stage in 0..2 {
        let planner = Planner::new(&pipeline, &db, &store, env.clone()).unwrap();
        let plan = planner.plan();
        for p in &plan[stage] {
            let key = p.key.clone().expect("upstream fresh");
            let mut bytes = key.as_bytes().to_vec();
            bytes.resize(4096, b' ');
            let hash = store.put(&bytes).unwrap();
            let outputs = [("record.json".to_owned(), hash)].into_iter().collect();
            let row = ExecutionRow {
                key: key.clone(),
                pipeline: "bench".into(),
                stage: pipeline.stages[stage].name.clone(),
                instance: pipeline.stages[stage].instances[p.index].id.clone(),
                kind: pipeline.stages[stage].kind.name().into(),
                kind_version: 1,
                key_inputs: serde_json::Value::Null,
                output_hash: Some(output_hash(&outputs)),
                outputs: Some(outputs),
                status: "ok".into(),
                started_at: "-".into(),
                finished_at: Some("-".into()),
                ..Default::default()
            };
            db.commit_success(&row).unwrap();
        }
    }

    let t2 = Instant::now();
    let pipeline = sgdnoise_core::pipeline::load(&file).unwrap();
    let planner = Planner::new(&pipeline, &db, &store, env).unwrap();
    let plan = planner.plan();
    let t_cached = t2.elapsed().as_secs_f64();
    let fresh = plan.iter().flatten().filter(|p| p.status == Status::Fresh).count();
    assert_eq!(fresh, total, "every instance must be fresh");

    // The verification alone: rehashing every object against checking it exists.
    let hashes: Vec<String> =
        plan.iter().flatten().filter_map(|p| p.record.as_ref()).flat_map(|r| r.outputs.values().cloned()).collect();
    let t5 = Instant::now();
    assert!(hashes.iter().all(|h| store.contains(h)));
    let t_exists = t5.elapsed().as_secs_f64();
    let t6 = Instant::now();
    assert!(hashes.iter().all(|h| store.verify(h).is_ok()));
    let t_rehash = t6.elapsed().as_secs_f64();

    let exe = std::env::current_exe().unwrap().with_file_name("sgdnoise");
    let t3 = Instant::now();
    let out = std::process::Command::new(&exe)
        .args(["plan", file.to_str().unwrap(), "--cache", cache.to_str().unwrap()])
        .output()
        .unwrap();
    let t_cli = t3.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t4 = Instant::now();
    let _ = std::process::Command::new(&exe).arg("--version").output().unwrap();
    let t_start = t4.elapsed().as_secs_f64();
    let t7 = Instant::now();
    let out = std::process::Command::new(&exe)
        .args(["run", file.to_str().unwrap(), "--cache", cache.to_str().unwrap(), "--no-export"])
        .output()
        .unwrap();
    let t_noop = t7.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    println!("  parse + expand + validate:          {:>8.3}s", t_load);
    println!("  plan, empty cache (reference):      {:>8.3}s", t_empty);
    println!(
        "  plan, all {fresh} cached (library):  {:>8.3}s  ({:.2}x the empty-cache plan)",
        t_cached,
        t_cached / t_empty
    );
    println!(
        "  of which rehashing {} objects:     {:>8.3}s  (checking they exist: {:.3}s; {:.1}x)",
        hashes.len(),
        t_rehash,
        t_exists,
        t_rehash / t_exists
    );
    println!("  `sgdnoise plan` all cached (CLI):   {:>8.3}s  (process start-up alone {:.3}s)", t_cli, t_start);
    println!("  `sgdnoise run` no-op (CLI):         {:>8.3}s", t_noop);
    let met = t_cached < 1.0 && t_cli < 1.0 && t_noop < 1.0;
    println!("target: < 1 s for the cached plan and the no-op run: {}", if met { "met" } else { "NOT met" });
    if std::env::var_os("SGDNOISE_BENCH_KEEP").is_some() {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
