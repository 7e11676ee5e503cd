//! `import`: a checked bundle merged into a cache. Nothing is written until the whole bundle has
//! passed (files, lines, chain, every object); then the objects go into the store and the
//! executions and records into provenance in one transaction, so a refused or interrupted
//! import leaves the cache as it was (at most some objects no record names, which `gc` takes).
//! Importing twice changes nothing the second time. A key the cache already holds with other
//! outputs is a conflict: reported, and the cache's own record kept.

use std::collections::BTreeSet;

use super::format::{short, BundleError, Origin};
use super::read::{Bundle, ObjectsChecked};
use crate::provenance::Db;
use crate::store::Store;

/// A key whose outputs differ between the cache and the bundle: the same computation gave
/// different bytes on two machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub key: String,
    pub instance: String,
    pub ours: String,
    pub theirs: String,
}

#[derive(Debug, Default)]
pub struct Imported {
    /// Lines in the bundle.
    pub instances: usize,
    /// Executions added to provenance.
    pub added: usize,
    /// Keys the cache already had with the same outputs.
    pub present: usize,
    pub conflicts: Vec<Conflict>,
    pub objects_written: usize,
    pub objects_present: usize,
    /// Outputs left out of the bundle, rebuilt by the next `run`.
    pub left_out: usize,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (key {}): this cache's outputs hash to {}, the bundle's to {}",
            self.instance,
            short(&self.key),
            short(&self.ours),
            short(&self.theirs)
        )
    }
}

/// Merges `bundle`, whose objects passed `_checked`, into the cache. `at` and `on` say when and
/// on which host (for provenance). The objects are read once more to be stored, each rehashed
/// again by the reader.
pub fn import(
    bundle: &Bundle,
    _checked: ObjectsChecked,
    store: &Store,
    db: &mut Db,
    at: &str,
    on: &str,
) -> Result<Imported, BundleError> {
    let records = db.records()?;
    let left = bundle.left_out();
    let mut done = Imported { instances: bundle.entries.len(), left_out: left.len(), ..Default::default() };
    let mut rows = Vec::new();
    let mut needed = BTreeSet::new();
    for e in &bundle.entries {
        if let Some(rec) = records.get(&e.key) {
            if rec.output_hash == e.output_hash {
                done.present += 1;
            } else {
                done.conflicts.push(Conflict {
                    key: e.key.clone(),
                    instance: e.instance.clone(),
                    ours: rec.output_hash.clone(),
                    theirs: e.output_hash.clone(),
                });
            }
            continue;
        }
        let mut row = e.to_row();
        let origin = Origin {
            bundle: bundle.id.clone(),
            path: std::path::absolute(&bundle.dir).unwrap_or_else(|_| bundle.dir.clone()).display().to_string(),
            imported_at: at.to_owned(),
            imported_on: on.to_owned(),
            earlier: e.origin.clone().map(Box::new),
        };
        row.origin = Some(serde_json::to_value(&origin).expect("origin serialises"));
        let carried = e.outputs.values().all(|h| !left.contains(h.as_str()));
        if carried {
            needed.extend(e.outputs.values().cloned());
        }
        rows.push((row, carried));
    }
    let mut reader = bundle.objects()?;
    while let Some((hash, bytes)) = reader.next_object()? {
        if !needed.contains(&hash) {
            continue;
        }
        if store.contains(&hash) && store.verify(&hash).is_ok() {
            done.objects_present += 1;
        } else {
            store.put(&bytes)?;
            done.objects_written += 1;
        }
    }
    done.added = db.import(&rows)?;
    Ok(done)
}
