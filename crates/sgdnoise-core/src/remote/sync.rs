//! Moving records between a cache and a remote: `push` writes each record's objects, then the
//! record, each only if absent; `pull` fetches records and their objects, checks them all, and
//! imports them into provenance in one transaction. Both are idempotent, so an interrupted one is
//! resumed by running it again; a record never reaches the remote before its objects, so a
//! reader never finds one it cannot use.

use std::collections::HashMap;

use super::client::{Outgoing, Put, Remote, RemoteError};
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

/// Records handed to the remote together: at most this many, and at most [`BATCH_BYTES`] of
/// objects read into memory.
const BATCH: usize = 256;
const BATCH_BYTES: usize = 64 << 20;

/// Pushes the records of `keys` (each record's objects first), [`super::client::CONCURRENCY`]
/// records at a time. Keys the remote already has (one listing) are only compared.
pub fn push(remote: &Remote, db: &Db, store: &Store, keys: &[String]) -> Result<Pushed, SyncError> {
    let mut done = Pushed::default();
    let there: std::collections::BTreeSet<String> = remote.record_keys()?.into_iter().collect();
    let mut entries = Vec::new();
    for key in keys {
        if let Some(entry) = db.execution_for_key(key)?.as_ref().and_then(Entry::of_row) {
            entries.push(entry);
        }
    }
    let (present, absent): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(|e| there.contains(&e.key));
    for chunk in present.chunks(BATCH) {
        let keys: Vec<String> = chunk.iter().map(|e| e.key.clone()).collect();
        for (ours, theirs) in chunk.iter().zip(remote.get_records(&keys)) {
            compare(ours, theirs?, &mut done.conflicts, &mut done.records_present);
        }
    }
    let mut batch: Vec<Outgoing> = Vec::new();
    let mut bytes = 0;
    for entry in absent {
        let mut objects = Vec::new();
        for hash in entry.outputs.values() {
            let b = store.get(hash)?;
            bytes += b.len();
            objects.push((hash.clone(), b));
        }
        batch.push((entry, objects));
        if batch.len() >= BATCH || bytes >= BATCH_BYTES {
            push_batch(remote, std::mem::take(&mut batch), &mut done)?;
            bytes = 0;
        }
    }
    push_batch(remote, batch, &mut done)?;
    Ok(done)
}

fn push_batch(remote: &Remote, batch: Vec<Outgoing>, done: &mut Pushed) -> Result<(), SyncError> {
    let entries: Vec<Entry> = batch.iter().map(|(e, _)| e.clone()).collect();
    let mut raced = Vec::new();
    for (entry, result) in entries.into_iter().zip(remote.push_many(batch)) {
        let (written, present, put) = result?;
        done.objects_written += written;
        done.objects_present += present;
        match put {
            Put::Written => done.records_written += 1,
            // Another machine won the race for this key: compare what it wrote.
            Put::Present => raced.push(entry),
        }
    }
    let keys: Vec<String> = raced.iter().map(|e| e.key.clone()).collect();
    for (ours, theirs) in raced.iter().zip(remote.get_records(&keys)) {
        compare(ours, theirs?, &mut done.conflicts, &mut done.records_present);
    }
    Ok(())
}

fn compare(ours: &Entry, theirs: Option<Entry>, conflicts: &mut Vec<Conflict>, same: &mut usize) {
    match theirs {
        Some(theirs) if theirs.output_hash != ours.output_hash => conflicts.push(Conflict {
            key: ours.key.clone(),
            instance: ours.instance.clone(),
            ours: ours.output_hash.clone(),
            theirs: theirs.output_hash,
        }),
        _ => *same += 1,
    }
}

/// Fetches the records of `keys` (all the remote has when `None`) that this cache lacks, with
/// their objects, [`super::client::CONCURRENCY`] requests at a time, checks them all and imports
/// them. `at` and `on` say when and where, for provenance.
pub fn pull(
    remote: &Remote,
    db: &mut Db,
    store: &Store,
    keys: Option<Vec<String>>,
    at: &str,
    on: &str,
) -> Result<Pulled, SyncError> {
    let mut done = Pulled::default();
    let keys = match keys {
        Some(k) => k,
        None => remote.record_keys()?,
    };
    let local = db.records()?;
    let mut rows = Vec::new();
    for chunk in keys.chunks(BATCH) {
        let mut wanted: Vec<Entry> = Vec::new();
        for (key, got) in chunk.iter().zip(remote.get_records(chunk)) {
            match got {
                Ok(Some(entry)) => match local.get(key) {
                    Some(rec) if rec.output_hash == entry.output_hash => done.present += 1,
                    Some(rec) => done.conflicts.push(Conflict {
                        key: key.clone(),
                        instance: entry.instance.clone(),
                        ours: rec.output_hash.clone(),
                        theirs: entry.output_hash.clone(),
                    }),
                    None => wanted.push(entry),
                },
                Ok(None) => done.absent += 1,
                Err(e) => done.refused.push(e.to_string()),
            }
        }
        let mut hashes: Vec<String> = wanted
            .iter()
            .flat_map(|e| e.outputs.values().cloned())
            .filter(|h| !(store.contains(h) && store.verify(h).is_ok()))
            .collect();
        hashes.sort();
        hashes.dedup();
        let mut problem: HashMap<String, String> = HashMap::new();
        for (hash, got) in hashes.iter().zip(remote.get_objects(&hashes)) {
            match got {
                Ok(Some(bytes)) => {
                    store.put(&bytes)?;
                    done.objects_fetched += 1;
                }
                Ok(None) => {
                    problem.insert(hash.clone(), format!("its object {} is not on the remote", short(hash)));
                }
                Err(e) => {
                    problem.insert(hash.clone(), e.to_string());
                }
            }
        }
        for entry in wanted {
            if let Some(why) = entry.outputs.values().find_map(|h| problem.get(h)) {
                done.refused.push(format!("{} (key {}): {why}", entry.instance, short(&entry.key)));
                continue;
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
