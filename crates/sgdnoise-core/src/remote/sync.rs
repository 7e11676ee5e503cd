//! Moving records between a cache and a remote: `push` writes each record's objects, then the
//! record, each only if absent; `pull` fetches records and their objects, checks them all, and
//! imports them into provenance in one transaction. Both are idempotent, so an interrupted one is
//! resumed by running it again; a record never reaches the remote before its objects, so a
//! reader never finds one it cannot use.

use std::collections::HashMap;

use super::client::{Put, Remote, RemoteError};
use crate::bundle::format::{short, Entry, Origin};
use crate::bundle::import::Conflict;
use crate::provenance::Db;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Db(#[from] crate::provenance::db::DbError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

#[derive(Debug, Default)]
pub struct Pushed {
    pub records_written: usize,
    pub records_present: usize,
    pub objects_written: usize,
    pub objects_present: usize,
    pub conflicts: Vec<Conflict>,
}

#[derive(Debug, Default)]
pub struct Pulled {
    pub imported: usize,
    pub present: usize,
    /// Keys the remote does not have.
    pub absent: usize,
    pub objects_fetched: usize,
    pub conflicts: Vec<Conflict>,
    /// Records that could not be used (an object missing or corrupt on the remote), with why.
    pub refused: Vec<String>,
}

/// Pushes the records of `keys` (and their objects first). `present` holds the keys the remote
/// is known to have (one listing), which are only compared.
pub fn push(
    remote: &Remote,
    db: &Db,
    store: &Store,
    keys: &[String],
    tick: &mut dyn FnMut(usize),
) -> Result<Pushed, SyncError> {
    let mut done = Pushed::default();
    let there: std::collections::BTreeSet<String> = remote.record_keys()?.into_iter().collect();
    for (i, key) in keys.iter().enumerate() {
        tick(i);
        let Some(entry) = db.execution_for_key(key)?.as_ref().and_then(Entry::of_row) else { continue };
        if there.contains(key) {
            compare(remote, &entry, &mut done.conflicts, &mut done.records_present)?;
            continue;
        }
        for hash in entry.outputs.values() {
            match remote.put_object(hash, &store.get(hash)?)? {
                Put::Written => done.objects_written += 1,
                Put::Present => done.objects_present += 1,
            }
        }
        match remote.put_record(&entry)? {
            Put::Written => done.records_written += 1,
            // Another machine won the race for this key: compare what it wrote.
            Put::Present => compare(remote, &entry, &mut done.conflicts, &mut done.records_present)?,
        }
    }
    Ok(done)
}

fn compare(remote: &Remote, ours: &Entry, conflicts: &mut Vec<Conflict>, same: &mut usize) -> Result<(), SyncError> {
    match remote.get_record(&ours.key)? {
        Some(theirs) if theirs.output_hash != ours.output_hash => conflicts.push(Conflict {
            key: ours.key.clone(),
            instance: ours.instance.clone(),
            ours: ours.output_hash.clone(),
            theirs: theirs.output_hash,
        }),
        _ => *same += 1,
    }
    Ok(())
}

/// Fetches the records of `keys` (all the remote has when `None`) that this cache lacks, with
/// their objects, and imports them. `at` and `on` say when and where, for provenance.
pub fn pull(
    remote: &Remote,
    db: &mut Db,
    store: &Store,
    keys: Option<Vec<String>>,
    at: &str,
    on: &str,
    tick: &mut dyn FnMut(usize),
) -> Result<Pulled, SyncError> {
    let mut done = Pulled::default();
    let keys = match keys {
        Some(k) => k,
        None => remote.record_keys()?,
    };
    let local = db.records()?;
    let mut rows = Vec::new();
    'keys: for (i, key) in keys.iter().enumerate() {
        tick(i);
        let entry = match remote.get_record(key) {
            Ok(Some(e)) => e,
            Ok(None) => {
                done.absent += 1;
                continue;
            }
            Err(e) => {
                done.refused.push(e.to_string());
                continue;
            }
        };
        if let Some(rec) = local.get(key) {
            if rec.output_hash == entry.output_hash {
                done.present += 1;
            } else {
                done.conflicts.push(Conflict {
                    key: key.clone(),
                    instance: entry.instance.clone(),
                    ours: rec.output_hash.clone(),
                    theirs: entry.output_hash.clone(),
                });
            }
            continue;
        }
        for hash in entry.outputs.values() {
            if store.contains(hash) && store.verify(hash).is_ok() {
                continue;
            }
            match remote.get_object(hash) {
                Ok(Some(bytes)) => {
                    store.put(&bytes)?;
                    done.objects_fetched += 1;
                }
                Ok(None) => {
                    done.refused.push(format!(
                        "{} (key {}): its object {} is not on the remote",
                        entry.instance,
                        short(key),
                        short(hash)
                    ));
                    continue 'keys;
                }
                Err(e) => {
                    done.refused.push(format!("{} (key {}): {e}", entry.instance, short(key)));
                    continue 'keys;
                }
            }
        }
        let mut row = entry.to_row();
        let origin = Origin {
            bundle: "remote".into(),
            path: remote.url().to_owned(),
            imported_at: at.to_owned(),
            imported_on: on.to_owned(),
            earlier: entry.origin.clone().map(Box::new),
        };
        row.origin = Some(serde_json::to_value(&origin).expect("origin serialises"));
        rows.push((row, true));
    }
    done.imported = db.import(&rows)?;
    Ok(done)
}

/// Keys of the records of a cache, for `cache push` of everything.
pub fn local_keys(db: &Db) -> Result<Vec<String>, SyncError> {
    let records: HashMap<String, _> = db.records()?;
    let mut keys: Vec<String> = records.into_keys().collect();
    keys.sort();
    Ok(keys)
}
