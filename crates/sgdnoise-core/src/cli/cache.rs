//! What the pipeline commands share: the cache folder, its store and database, and the
//! environment that enters keys.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::InvalidInput;
use crate::datasets::DataPaths;
use crate::engine::plan::PlanEnv;
use crate::host;
use crate::pipeline::{self, Pipeline};
use crate::provenance::Db;
use crate::store::Store;

/// `--cache`, else `SGDNOISE_CACHE`, else `./cache`.
pub fn cache_dir(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("SGDNOISE_CACHE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("cache"))
}

/// Opens the cache for a command that writes it (`run`, `gc`, `verify --repair`).
pub fn open(cache: &Path) -> anyhow::Result<(Store, Db)> {
    let db_path = cache.join(DB_FILE);
    refuse_lost_database(cache, &db_path)?;
    let store = Store::open(cache).with_context(|| format!("opening the store in {}", cache.display()))?;
    let db = Db::open(&db_path).map_err(|e| read_only_hint(cache, e))?;
    Ok((store, db))
}

/// Opens the cache for a command that only reads it (`plan`, `why`, `results`, `export`,
/// `verify`): a read-only cache (a shared folder, a snapshot) opens read-only.
pub fn open_read(cache: &Path) -> anyhow::Result<(Store, Db)> {
    let db_path = cache.join(DB_FILE);
    refuse_lost_database(cache, &db_path)?;
    if !db_path.exists() {
        // A cache never used: made as `run` would make it, when it can be.
        return open(cache);
    }
    let store = Store::open(cache).with_context(|| format!("opening the store in {}", cache.display()))?;
    let db = match Db::open(&db_path) {
        Ok(db) => db,
        Err(_) => Db::open_read_only(&db_path)?,
    };
    Ok((store, db))
}

pub const DB_FILE: &str = "provenance.sqlite";

/// A cache whose objects exist but whose database is gone or empty lost its records: opening it
/// would make a new empty database, after which `run` redoes everything and `gc` offers to delete
/// every object. Refused, with what to do.
fn refuse_lost_database(cache: &Path, db_path: &Path) -> anyhow::Result<()> {
    let empty = match std::fs::metadata(db_path) {
        Ok(m) => m.len() == 0,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(_) => false,
    };
    if !empty {
        return Ok(());
    }
    let objects = std::fs::read_dir(cache.join("objects"))
        .map(|rd| rd.flatten().any(|d| std::fs::read_dir(d.path()).is_ok_and(|mut f| f.next().is_some())))
        .unwrap_or(false);
    if objects {
        anyhow::bail!(InvalidInput(format!(
            "{}: the provenance database is {} but the store holds objects: its records are lost, and nothing was changed.\n\
             Restore {} from a backup, or import a bundle of the results; or, to start over, move the cache aside \
             (`mv {} {}.orphaned`) and run again.",
            db_path.display(),
            if db_path.exists() { "empty" } else { "missing" },
            DB_FILE,
            cache.display(),
            cache.display()
        )));
    }
    Ok(())
}

/// Says "read-only" when SQLite could not open the database for writing in a folder we cannot write.
fn read_only_hint(cache: &Path, e: crate::provenance::db::DbError) -> anyhow::Error {
    let writable = tempfile::tempfile_in(cache).is_ok();
    let err = anyhow::Error::new(e);
    if writable {
        err
    } else {
        err.context(format!(
            "the cache {} is read-only: this command writes it; read-only commands (plan, why, results, export, verify) work on it",
            cache.display()
        ))
    }
}

/// Loads a pipeline; an invalid one is an `InvalidInput`.
pub fn load_pipeline(file: &Path, variant: &Variant) -> anyhow::Result<Pipeline> {
    pipeline::load_with(file, &variant.sets).map_err(|e| anyhow::Error::new(InvalidInput(e.to_string())))
}

/// `--set PATH=VALUE`, on every command that reads a pipeline: a variant without editing the file.
#[derive(Debug, Default, clap::Args)]
pub struct Variant {
    /// Change the pipeline for this command only, e.g. `--set train.params.max_steps=2^20` or
    /// `--set train.sweep.grid.seed=0..9` (YAML values; repeatable). A variant's report goes to
    /// its own folder, reports/NAME-set-HASH/, unless `--set name=…` names it.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<pipeline::overrides::Override>,
}

/// Loads a pipeline and keeps the part that `targets` name (all of it when there are none).
pub fn load_targets(file: &Path, targets: &[String], variant: &Variant) -> anyhow::Result<Pipeline> {
    let pipeline = load_pipeline(file, variant)?;
    pipeline::targets::select(pipeline, targets).map_err(|e| anyhow::Error::new(InvalidInput(e.to_string())))
}

/// The key environment for `device` (`auto`, `cpu`, `cuda`, `cuda:N`) and the device jobs run
/// on, known without loading libtorch (a GPU request asks `sgdnoise-torch` what it sees).
pub fn plan_env(device: &str) -> anyhow::Result<(PlanEnv, String)> {
    let (name, class) = host::resolve_device(device).map_err(|e| InvalidInput(e.to_string()))?;
    let env = PlanEnv {
        libtorch: host::workers_libtorch_version(),
        device_class: class.to_owned(),
        data: DataPaths::from_env(),
    };
    Ok((env, name))
}
