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

pub fn open(cache: &Path) -> anyhow::Result<(Store, Db)> {
    let store = Store::open(cache).with_context(|| format!("opening the store in {}", cache.display()))?;
    let db = Db::open(&cache.join("provenance.sqlite"))?;
    Ok((store, db))
}

/// Loads a pipeline; an invalid one is an `InvalidInput`.
pub fn load_pipeline(file: &Path) -> anyhow::Result<Pipeline> {
    pipeline::load(file).map_err(|e| anyhow::Error::new(InvalidInput(e.to_string())))
}

/// Loads a pipeline and keeps the part that `targets` name (all of it when there are none).
pub fn load_targets(file: &Path, targets: &[String]) -> anyhow::Result<Pipeline> {
    let pipeline = load_pipeline(file)?;
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
