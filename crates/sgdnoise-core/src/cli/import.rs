//! `sgdnoise import DIR`: merge a results bundle into the cache, checked first (nothing is
//! written unless the whole bundle passes), idempotently. Its instances become fresh for `plan`
//! where their keys match (same kind versions, libtorch, device class); provenance keeps where
//! and when they first ran and says which bundle brought them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::cache;
use crate::bundle::{import, Bundle};
use crate::cli::InvalidInput;
use crate::engine::clock;

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The bundle's folder.
    dir: PathBuf,
    /// The cache folder (default: $SGDNOISE_CACHE or ./cache).
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub(crate) fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let refused = |e: crate::bundle::BundleError| InvalidInput(format!("refused: {e}"));
    // Checked whole before the cache is even opened: a refused bundle leaves it as it was.
    let bundle = Bundle::open(&args.dir).map_err(refused)?;
    let checked = bundle.check_objects().map_err(refused)?;
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let _lock = crate::engine::lock::acquire(&cache_dir)?;
    let (store, mut db) = cache::open(&cache_dir)?;
    let done =
        import::import(&bundle, checked, &store, &mut db, &clock::now_rfc3339(), &clock::hostname()).map_err(|e| {
            match e {
                crate::bundle::BundleError::Invalid { .. } => anyhow::Error::new(InvalidInput(format!("refused: {e}"))),
                e => anyhow::Error::new(e),
            }
        })?;
    println!(
        "{:>12} {} (id {}): {} instances, {} added, {} already here; {} objects written, {} already here{}",
        "Imported",
        args.dir.display(),
        &bundle.id[..12],
        done.instances,
        done.added,
        done.present,
        done.objects_written,
        done.objects_present,
        if done.left_out > 0 { format!("; {} left out, rebuilt by `run`", done.left_out) } else { String::new() }
    );
    for c in &done.conflicts {
        println!("{:>12} {c}", "Conflict");
    }
    println!("{:>12} in {:.2}s", "Finished", started.elapsed().as_secs_f64());
    if !done.conflicts.is_empty() {
        println!(
            "{:>12} {} key(s) gave other outputs where the bundle was made: this cache's records are kept",
            "Warning",
            done.conflicts.len()
        );
        return Ok(ExitCode::from(super::EXIT_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}
