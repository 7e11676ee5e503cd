//! `sgdnoise why TARGET`: the provenance chain of an instance, an output, or a report item.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::cache;
use crate::provenance::why;

#[derive(Debug, Args)]
pub(crate) struct WhyArgs {
    /// A key, an object or output hash (or a prefix of at least 6 characters), an instance id
    /// like `train[P=256,seed=0]`, or a report item id.
    target: String,
    #[arg(long)]
    json: bool,
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub(crate) fn run(args: WhyArgs) -> anyhow::Result<ExitCode> {
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let (_store, db) = cache::open_read(&cache_dir)?;
    let key = why::resolve(&db, &args.target)?;
    let chain = why::chain(&db, &key)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "target": args.target, "key": key, "chain": chain }))?
        );
    } else {
        print!("{}", why::render(&chain));
    }
    Ok(ExitCode::SUCCESS)
}
