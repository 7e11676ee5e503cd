//! `sgdnoise verify [--repair] [--rerun N]`: rehash every object, check every record's outputs
//! exist and the database's integrity, name the instance behind each bad object; `--repair` drops
//! the bad objects and their records so that the next `run` redoes exactly those; `--rerun N`
//! re-executes N cached instances and compares: bitwise, within tolerance, different.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::cache;
use sgdnoise_core::datasets::DataPaths;
use sgdnoise_core::job::{Input, Job};
use sgdnoise_core::provenance::audit::{self, Problem};
use sgdnoise_core::provenance::ExecutionRow;
use sgdnoise_core::stages::{self, ExecContext, Trainer};

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Re-execute this many cached instances and compare their outputs.
    #[arg(long, default_value_t = 0)]
    rerun: usize,
    /// Only re-execute instances of this stage kind.
    #[arg(long)]
    kind: Option<String>,
    /// Relative tolerance for numbers when outputs are not bitwise equal.
    #[arg(long, default_value_t = 1e-6)]
    tolerance: f64,
    /// Drop the corrupt or missing objects and the records that use them: the next `run` redoes
    /// exactly those instances.
    #[arg(long)]
    repair: bool,
    /// The cache folder (default: $SGDNOISE_CACHE or ./cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Check a results bundle instead of the cache: every hash and that the chain is whole;
    /// with `--rerun N`, re-execute N instances sampled from it here.
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Seed of the sample `--rerun` draws from a bundle.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub(crate) fn run(args: VerifyArgs, trainer: &dyn Trainer) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.bundle {
        return verify_bundle(dir, &args, trainer);
    }
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    // Repairing writes: it waits for no run, and no run meanwhile plans on what it drops.
    let _lock = if args.repair { Some(sgdnoise_core::engine::lock::acquire(&cache_dir)?) } else { None };
    let (store, mut db) = if args.repair { cache::open(&cache_dir)? } else { cache::open_read(&cache_dir)? };
    const REBUILD: &str = "copy the cache aside; restore provenance.sqlite from a backup, or import a bundle of the results, or rerun into a fresh cache";
    let audit = match audit::audit(&store, &db) {
        Ok(a) => a,
        Err(e) => {
            println!("{:>12} {e}", "Damaged");
            println!("{:>12} the provenance database cannot be read: {REBUILD}", "Advice");
            return Ok(ExitCode::from(super::EXIT_FAILED));
        }
    };
    for line in &audit.integrity {
        println!("{:>12} provenance database: {line}", "Damaged");
    }
    for bad in &audit.bad {
        let (word, what) = match &bad.problem {
            Problem::Missing => ("Missing", "is not in the store".to_owned()),
            Problem::Corrupt { actual } => ("Corrupt", format!("hashes to {}", actual.get(..12).unwrap_or(actual))),
            Problem::Unreadable { message } => ("Unreadable", message.clone()),
        };
        println!("{word:>12} object {} {what}", bad.hash);
        if bad.users.is_empty() {
            println!("{:>12} no record uses it", "");
        }
        for u in &bad.users {
            println!(
                "{:>12} output {} of {} (pipeline {}, key {})",
                "",
                u.output,
                u.instance,
                u.pipeline,
                u.key.get(..12).unwrap_or(&u.key)
            );
        }
    }
    let stale = store.stale_tmp().len();
    let mut problems = audit.problems();
    println!(
        "{:>12} {} objects, {} records: {} problem(s), {} stale temporary file(s)",
        "Verified", audit.objects, audit.records, problems, stale
    );
    if !audit.integrity.is_empty() {
        println!("{:>12} the provenance database is damaged (PRAGMA integrity_check): {REBUILD}", "Advice");
    }
    if !audit.bad.is_empty() {
        if args.repair {
            let done = audit::repair(&store, &mut db, &audit)?;
            println!(
                "{:>12} dropped {} object(s) and {} record(s): the next `run` redoes those instances",
                "Repaired", done.objects, done.records
            );
            let unreadable = audit.bad.iter().filter(|b| matches!(b.problem, Problem::Unreadable { .. })).count();
            problems = audit.integrity.len() + unreadable;
            if unreadable > 0 {
                println!("{:>12} {unreadable} unreadable object(s) left alone: they may be fine (check permissions and the disk)", "Kept");
            }
        } else {
            println!(
                "{:>12} `sgdnoise verify --repair` drops them; the next `run` then redoes those instances",
                "Advice"
            );
        }
    }

    if args.rerun > 0 {
        let records = db.records()?;
        let mut keys: Vec<String> = records.into_keys().collect();
        keys.sort();
        problems += rerun(&store, &db, &keys, &args, trainer)?;
    }
    Ok(if problems > 0 { ExitCode::from(super::EXIT_FAILED) } else { ExitCode::SUCCESS })
}

/// `verify --bundle DIR [--rerun N]`: the bundle's files, lines, chain and objects checked; then
/// N of its instances, drawn by a seeded shuffle of their keys, re-executed in a scratch cache
/// that the bundle is imported into, and compared with what the bundle recorded.
fn verify_bundle(dir: &std::path::Path, args: &VerifyArgs, trainer: &dyn Trainer) -> anyhow::Result<ExitCode> {
    use sgdnoise_core::bundle::{import, Bundle};
    let refused = |e: sgdnoise_core::bundle::BundleError| sgdnoise_core::cli::InvalidInput(format!("refused: {e}"));
    let bundle = Bundle::open(dir).map_err(refused)?;
    let checked = bundle.check_objects().map_err(refused)?;
    println!(
        "{:>12} bundle {} (id {}): {} instances, {} objects ({} bytes), every hash matches and the chain is whole; {} output(s) left out",
        "Verified",
        dir.display(),
        &bundle.id[..12],
        bundle.entries.len(),
        checked.objects,
        checked.bytes,
        bundle.manifest.left_out.len()
    );
    if args.rerun == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    let scratch = tempfile::tempdir()?;
    let store = sgdnoise_core::store::Store::open(scratch.path())?;
    let mut db = sgdnoise_core::provenance::Db::open(&scratch.path().join("provenance.sqlite"))?;
    import::import(&bundle, checked, &store, &mut db, "verify", "here").map_err(refused)?;
    let mut keys: Vec<(String, String)> = bundle
        .entries
        .iter()
        .map(|e| (blake3::hash(format!("{}:{}", args.seed, e.key).as_bytes()).to_hex().to_string(), e.key.clone()))
        .collect();
    keys.sort();
    let keys: Vec<String> = keys.into_iter().map(|(_, k)| k).collect();
    let different = rerun(&store, &db, &keys, args, trainer)?;
    Ok(if different > 0 { ExitCode::from(super::EXIT_FAILED) } else { ExitCode::SUCCESS })
}

/// Re-executes up to `args.rerun` of `keys` (in that order, of `args.kind` when given) and
/// compares each with its record: bitwise, within tolerance, or different. Returns how many
/// differed.
fn rerun(
    store: &sgdnoise_core::store::Store,
    db: &sgdnoise_core::provenance::Db,
    keys: &[String],
    args: &VerifyArgs,
    trainer: &dyn Trainer,
) -> anyhow::Result<usize> {
    let (mut bitwise, mut close, mut different) = (0, 0, 0);
    let mut done = 0;
    let mut older = 0;
    for key in keys {
        if done >= args.rerun {
            break;
        }
        let Some(row) = db.execution_for_key(key)? else { continue };
        if args.kind.as_deref().is_some_and(|k| k != row.kind) {
            continue;
        }
        let Some(kind) = stages::find(&row.kind) else { continue };
        // A record of an older implementation would differ by design: only records this code
        // made can be reproduced.
        if row.kind_version != kind.version_of(&serde_json::from_value(row.params.clone()).unwrap_or_default()) {
            older += 1;
            continue;
        }
        let job = job_of(db, &row)?;
        let ctx = ExecContext { store, data: DataPaths::from_env(), trainer: Some(trainer) };
        if let Err(e) = rebuild_inputs(&ctx, db, &job) {
            println!("{:>12} {}: {e}", "Skipped", row.instance);
            continue;
        }
        done += 1;
        let out = match kind.execute(&ctx, &job) {
            Ok(o) => o,
            Err(e) => {
                different += 1;
                println!("{:>12} {}: re-execution failed: {e}", "Different", row.instance);
                continue;
            }
        };
        let recorded = row.outputs.clone().unwrap_or_default();
        let verdict = compare(store, &recorded, &out.outputs, args.tolerance);
        match &verdict {
            Verdict::Bitwise => bitwise += 1,
            Verdict::Within(_) => close += 1,
            Verdict::Different(_) => different += 1,
        }
        println!("{:>12} {} ({})", verdict.word(), row.instance, verdict.detail());
    }
    println!(
        "{:>12} {done} re-executed: {bitwise} bitwise, {close} within tolerance, {different} different; {older} record(s) of older implementations skipped",
        "Rerun"
    );
    Ok(different)
}

/// The job that made an execution, rebuilt from its row and its inputs' rows.
fn job_of(db: &sgdnoise_core::provenance::Db, row: &ExecutionRow) -> anyhow::Result<Job> {
    let mut inputs = Vec::new();
    for i in row.inputs.as_array().cloned().unwrap_or_default() {
        let ikey = i.get("key").and_then(Value::as_str).unwrap_or_default().to_owned();
        let Some(up) = db.execution_for_key(&ikey)? else { continue };
        inputs.push(Input {
            stage: up.stage,
            kind: up.kind,
            instance: up.instance,
            key: ikey,
            params: serde_json::from_value(up.params).unwrap_or_default(),
            outputs: up.outputs.unwrap_or_default(),
        });
    }
    Ok(Job {
        key: row.key.clone(),
        stage: row.stage.clone(),
        instance: row.instance.clone(),
        kind: row.kind.clone(),
        params: serde_json::from_value(row.params.clone()).unwrap_or_default(),
        inputs,
        threads: row.env.get("threads").and_then(Value::as_u64).unwrap_or(1) as usize,
        // The same device as recorded (a CUDA run re-executed on the CPU would differ).
        device: row.env.get("device").and_then(Value::as_str).unwrap_or("cpu").to_owned(),
        partial: row.key_inputs.pointer("/key/partial").and_then(|p| serde_json::from_value(p.clone()).ok()),
        libtorch: None,
    })
}

/// Inputs whose objects are not in the store (left out of a bundle: prepared datasets) are
/// rebuilt from their raw files, and must give the recorded bytes.
fn rebuild_inputs(ctx: &ExecContext<'_>, db: &sgdnoise_core::provenance::Db, job: &Job) -> anyhow::Result<()> {
    for input in &job.inputs {
        if input.outputs.values().all(|h| ctx.store.contains(h)) {
            continue;
        }
        let Some(row) = db.execution_for_key(&input.key)? else {
            anyhow::bail!("input {} is not recorded", input.instance)
        };
        let kind = stages::find(&row.kind).filter(|k| k.rederivable()).ok_or_else(|| {
            anyhow::anyhow!("input {} has no stored outputs and its kind is not rebuilt from raw files", input.instance)
        })?;
        let out = kind.execute(ctx, &job_of(db, &row)?)?;
        for (name, bytes) in &out.outputs {
            let hash = ctx.store.put(bytes)?;
            if input.outputs.get(name) != Some(&hash) {
                anyhow::bail!(
                    "input {} rebuilt from the raw files here gives other bytes for {name} (the raw files differ?)",
                    input.instance
                );
            }
        }
    }
    Ok(())
}

enum Verdict {
    Bitwise,
    Within(f64),
    Different(String),
}

impl Verdict {
    fn word(&self) -> &'static str {
        match self {
            Verdict::Bitwise => "Bitwise",
            Verdict::Within(_) => "Close",
            Verdict::Different(_) => "Different",
        }
    }

    fn detail(&self) -> String {
        match self {
            Verdict::Bitwise => "identical outputs".into(),
            Verdict::Within(d) => format!("max relative difference {d:.2e}"),
            Verdict::Different(why) => why.clone(),
        }
    }
}

fn compare(
    store: &sgdnoise_core::store::Store,
    recorded: &BTreeMap<String, String>,
    new: &BTreeMap<String, Vec<u8>>,
    tol: f64,
) -> Verdict {
    let mut worst: f64 = 0.0;
    for (name, bytes) in new {
        let Some(hash) = recorded.get(name) else { return Verdict::Different(format!("new output {name}")) };
        if blake3::hash(bytes).to_hex().as_str() == hash {
            continue;
        }
        let old = store.get(hash).unwrap_or_default();
        match (serde_json::from_slice::<Value>(&old), serde_json::from_slice::<Value>(bytes)) {
            (Ok(a), Ok(b)) => match max_rel_diff(&a, &b, name) {
                Ok(d) if d <= tol => worst = worst.max(d),
                Ok(d) => return Verdict::Different(format!("{name}: relative difference {d:.2e}")),
                Err(StructureDiffers { path }) => return Verdict::Different(format!("{name}: {path} differs")),
            },
            _ => return Verdict::Different(format!("{name}: bytes differ")),
        }
    }
    let identical = recorded.len() == new.len()
        && new.iter().all(|(n, b)| recorded.get(n).map(String::as_str) == Some(blake3::hash(b).to_hex().as_str()));
    if identical {
        return Verdict::Bitwise;
    }
    Verdict::Within(worst)
}

/// Where two outputs differ in structure or in a value that is not a number.
struct StructureDiffers {
    path: String,
}

/// The largest relative difference between numbers at the same place, or where the structure or
/// a non-number differs.
fn max_rel_diff(a: &Value, b: &Value, path: &str) -> Result<f64, StructureDiffers> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            Ok(if x == y { 0.0 } else { (x - y).abs() / x.abs().max(y.abs()).max(1e-300) })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .try_fold(0.0f64, |m, (i, (p, q))| Ok(m.max(max_rel_diff(p, q, &format!("{path}[{i}]"))?))),
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() => x.iter().try_fold(0.0f64, |m, (k, p)| {
            let q = y.get(k).ok_or_else(|| StructureDiffers { path: format!("{path}.{k}") })?;
            Ok(m.max(max_rel_diff(p, q, &format!("{path}.{k}"))?))
        }),
        _ if a == b => Ok(0.0),
        _ => Err(StructureDiffers { path: path.to_owned() }),
    }
}
