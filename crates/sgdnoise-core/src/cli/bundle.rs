//! `sgdnoise bundle PIPELINE [TARGET…] --out DIR`: the results bundle of what a pipeline's fresh
//! instances rest on (their whole chain, with stored outputs), for committing beside the
//! results, auditing anywhere (`why --bundle`), checking (`verify --bundle`) and importing.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::cache;
use crate::bundle::format::Scope;
use crate::bundle::write;
use crate::cli::InvalidInput;
use crate::engine::plan::{Planner, Status};

#[derive(Debug, Args)]
pub(crate) struct BundleArgs {
    /// The pipeline file.
    pipeline: PathBuf,
    #[command(flatten)]
    variant: cache::Variant,
    /// Bundle only these stages, globs or instance ids, and what they need (default: everything).
    targets: Vec<String>,
    /// The bundle's folder (made if needed; an existing bundle there is replaced).
    #[arg(long)]
    out: PathBuf,
    /// Bundle what `run --partial` made (provisional analyses over the runs done).
    #[arg(long)]
    partial: bool,
    /// The device class the training keys are for: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// The cache folder (default: $SGDNOISE_CACHE or ./cache).
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub(crate) fn run(args: BundleArgs) -> anyhow::Result<ExitCode> {
    let pipeline = cache::load_targets(&args.pipeline, &args.targets, &args.variant)?;
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let (store, db) = cache::open_read(&cache_dir)?;
    let (env, _) = cache::plan_env(&args.device)?;
    let mut planner = Planner::new(&pipeline, &db, &store, env)?;
    planner.partial = args.partial;
    let plan = planner.plan();
    let all: Vec<_> = plan.iter().flatten().collect();
    let roots: Vec<String> = all
        .iter()
        .filter(|p| p.status == Status::Fresh)
        .filter_map(|p| p.record.as_ref().map(|r| r.key.clone()))
        .collect();
    let not_fresh = all.len() - roots.len();
    if roots.is_empty() {
        anyhow::bail!(InvalidInput(format!(
            "nothing of {} is fresh in the cache {}: run it first",
            args.pipeline.display(),
            cache_dir.display()
        )));
    }
    let scope = Scope { pipeline: pipeline.name.clone(), targets: args.targets.clone(), not_fresh };
    let w = write::write(&db, &store, &roots, &scope, &args.out)?;
    let m = &w.manifest;
    let compressed: u64 = m.files.values().map(|f| f.bytes).sum();
    println!(
        "{:>12} {} instances, {} objects ({:.1} MB) into {} ({:.2} MB in all, id {})",
        "Bundled",
        m.instances,
        m.objects,
        m.object_bytes as f64 / 1e6,
        w.dir.display(),
        compressed as f64 / 1e6,
        &w.id[..12]
    );
    if !m.left_out.is_empty() {
        println!(
            "{:>12} {} output(s) of datasets: `run` rebuilds them from the raw files",
            "Left out",
            m.left_out.len()
        );
    }
    if not_fresh > 0 {
        println!("{:>12} {not_fresh} instance(s) of the pipeline are not fresh and not in the bundle", "Warning");
    }
    Ok(ExitCode::SUCCESS)
}
