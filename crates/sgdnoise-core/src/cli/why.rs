//! `sgdnoise why TARGET`: the provenance chain of an instance, an output, or a report item,
//! with the value audited (for an analysis) and the runs it used and left out.
//!
//! Where it looks, in order, stopping at the first that knows the target: the cache (when it
//! has a provenance database); then each `--bundle DIR`; with no `--bundle`, the bundles
//! committed with the results, `docs/results/*/bundle` under the current folder. So every audit
//! command printed in the README and the committed reports works on a fresh clone, offline.
//! When nothing matches, it says where it looked.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::cache;
use crate::bundle::Bundle;
use crate::cli::InvalidInput;
use crate::provenance::why::{self, ChainItem, Mark, WhyError};
use crate::provenance::Db;
use crate::report::audit::{self, Audited};
use crate::store::Store;

#[derive(Debug, Args)]
pub(crate) struct WhyArgs {
    /// A key, an object or output hash (or a prefix of at least 6 characters), an instance id
    /// like `train[P=256,seed=0]`, or a report item id like `fit:2d074aefac77`.
    target: String,
    /// Also look in this results bundle (repeatable); the committed bundles are then not searched.
    #[arg(long)]
    bundle: Vec<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The cache folder (default: $SGDNOISE_CACHE or ./cache).
    #[arg(long)]
    cache: Option<PathBuf>,
}

/// Where a chain was found: objects come from there too.
enum Place {
    Cache(Store),
    Bundle(Box<Bundle>),
}

impl Place {
    fn object(&self, hash: &str) -> Option<Vec<u8>> {
        match self {
            Place::Cache(store) => store.get(hash).ok(),
            Place::Bundle(b) => b.object(hash).ok().flatten(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Place::Cache(store) => format!("cache {}", store.root().display()),
            Place::Bundle(b) => format!("bundle {} (id {})", b.dir.display(), &b.id[..12]),
        }
    }
}

/// The committed bundles: `docs/results/*/bundle` under the current folder, sorted.
fn committed_bundles() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir("docs/results")
        .map(|rd| rd.flatten().map(|d| d.path().join("bundle")).filter(|p| p.join("manifest.json").is_file()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// A bundle's lines as an in-memory provenance database, for the queries `why` makes.
fn bundle_db(bundle: &Bundle) -> anyhow::Result<Db> {
    let mut db = Db::open(Path::new(":memory:"))?;
    let left = bundle.left_out();
    let rows: Vec<_> =
        bundle.entries.iter().map(|e| (e.to_row(), e.outputs.values().all(|h| !left.contains(h.as_str())))).collect();
    db.import(&rows)?;
    Ok(db)
}

pub(crate) fn run(args: WhyArgs) -> anyhow::Result<ExitCode> {
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let mut looked = Vec::new();
    let mut found = None;
    if cache_dir.join(cache::DB_FILE).is_file() {
        let (store, db) = cache::open_read(&cache_dir)?;
        match why::resolve(&db, &args.target) {
            Ok(key) => found = Some((Place::Cache(store), why::chain(&db, &key)?, key)),
            Err(WhyError::NotFound(_)) => looked.push(format!("the cache {}", cache_dir.display())),
            Err(e) => return Err(e.into()),
        }
    } else {
        looked.push(format!("the cache {} (no provenance database there)", cache_dir.display()));
    }
    let bundles = if args.bundle.is_empty() { committed_bundles() } else { args.bundle.clone() };
    for dir in bundles {
        if found.is_some() {
            break;
        }
        let bundle = Bundle::open(&dir).map_err(|e| InvalidInput(format!("cannot read the bundle: {e}")))?;
        let db = bundle_db(&bundle)?;
        match why::resolve(&db, &args.target) {
            Ok(key) => found = Some((Place::Bundle(Box::new(bundle)), why::chain(&db, &key)?, key)),
            Err(WhyError::NotFound(_)) => {
                looked.push(format!("the bundle {} ({} instances)", dir.display(), bundle.entries.len()))
            }
            Err(e) => return Err(e.into()),
        }
    }
    if args.bundle.is_empty() && looked.iter().all(|l| !l.starts_with("the bundle")) {
        looked.push("no committed bundle (docs/results/*/bundle under the current folder)".into());
    }
    let Some((place, chain, key)) = found else {
        anyhow::bail!(InvalidInput(format!(
            "{}; looked in {}",
            WhyError::NotFound(args.target.clone()),
            looked.join(", ")
        )));
    };
    let audited = chain.first().and_then(|top| {
        top.outputs.iter().find_map(|(file, hash)| place.object(hash).and_then(|b| audit::audited(file, hash, &b)))
    });
    if args.json {
        let value = serde_json::json!({
            "target": args.target,
            "key": key,
            "found_in": place.describe(),
            "audited": audited,
            "chain": chain,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{:>12} {}", "Found in", place.describe());
        print!("{}", render(&chain, audited.as_ref()));
    }
    Ok(ExitCode::SUCCESS)
}

/// The chain, with the audited value under the target and each training run marked used, left
/// out (with the reason) or not selected.
fn render(chain: &[ChainItem], audited: Option<&Audited>) -> String {
    let Some(a) = audited else { return why::render(chain, "", &|_| None) };
    let mut head = String::new();
    for v in &a.values {
        head.push_str(&format!("  value {v}\n"));
    }
    let excluded: usize = a.excluded.values().sum();
    head.push_str(&format!("  used {} run(s); left out {excluded}", a.used.len()));
    for (reason, n) in &a.excluded {
        head.push_str(&format!(", {n} for {reason}"));
    }
    if let Some(p) = &a.provisional {
        head.push_str(&format!("; provisional: {p}"));
    }
    head.push('\n');
    let mark = |key: &str| -> Option<Mark> {
        if a.used.contains(key) {
            return Some(Mark::Used);
        }
        if let Some((reason, _)) = a.excluded_keys.iter().find(|(_, keys)| keys.iter().any(|k| k == key)) {
            return Some(Mark::LeftOut(reason.clone()));
        }
        Some(Mark::NotSelected)
    };
    why::render(chain, &head, &mark)
}
