//! What `verify` checks and `verify --repair` mends: every object rehashed, every record's
//! objects present, the database's own integrity; each bad object named by the instances whose
//! records use it.

use std::collections::BTreeMap;

use super::db::{Db, DbError};
use crate::store::{Store, StoreError};

/// What is wrong with an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A record names it and the store does not have it.
    Missing,
    /// Its content hashes to something else.
    Corrupt { actual: String },
    /// It cannot be read (permissions, an I/O error).
    Unreadable { message: String },
}

/// A record output that uses an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub key: String,
    pub pipeline: String,
    pub stage: String,
    pub instance: String,
    pub output: String,
}

#[derive(Debug, Clone)]
pub struct BadObject {
    pub hash: String,
    pub problem: Problem,
    pub users: Vec<User>,
}

#[derive(Debug, Default)]
pub struct Audit {
    pub objects: usize,
    pub records: usize,
    pub bad: Vec<BadObject>,
    /// What `PRAGMA integrity_check` reported, when not `ok`.
    pub integrity: Vec<String>,
}

impl Audit {
    pub fn problems(&self) -> usize {
        self.bad.len() + self.integrity.len()
    }
}

/// Rehashes every object and checks every record's objects are there.
pub fn audit(store: &Store, db: &Db) -> Result<Audit, DbError> {
    let integrity = db.integrity_check()?;
    let records = db.records()?;
    let mut used: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for rec in records.values() {
        for (name, hash) in &rec.outputs {
            used.entry(hash.as_str()).or_default().push((rec.key.as_str(), name.as_str()));
        }
    }
    let objects = store.list();
    let mut bad = Vec::new();
    let mut problem_of = |hash: &str, problem: Problem| -> Result<(), DbError> {
        let mut users = Vec::new();
        for (key, output) in used.get(hash).map(Vec::as_slice).unwrap_or_default() {
            let row = db.execution_for_key(key)?;
            let (pipeline, stage, instance) =
                row.map(|r| (r.pipeline, r.stage, r.instance)).unwrap_or_else(|| ("?".into(), "?".into(), "?".into()));
            users.push(User { key: (*key).to_owned(), pipeline, stage, instance, output: (*output).to_owned() });
        }
        bad.push(BadObject { hash: hash.to_owned(), problem, users });
        Ok(())
    };
    for hash in &objects {
        match store.verify(hash) {
            Ok(()) => {}
            Err(StoreError::Corrupt { actual, .. }) => problem_of(hash, Problem::Corrupt { actual })?,
            // Listed a moment ago, gone now: a concurrent gc; a record that needs it is caught below.
            Err(StoreError::Missing(_)) => {}
            Err(e) => problem_of(hash, Problem::Unreadable { message: e.to_string() })?,
        }
    }
    let listed: std::collections::BTreeSet<&str> = objects.iter().map(String::as_str).collect();
    let missing: Vec<&str> = used.keys().copied().filter(|h| !listed.contains(h) && !store.contains(h)).collect();
    for hash in missing {
        problem_of(hash, Problem::Missing)?;
    }
    Ok(Audit { objects: objects.len(), records: records.len(), bad, integrity })
}

/// What `repair` removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Repaired {
    pub objects: usize,
    pub records: usize,
}

/// Drops the corrupt objects and every record that uses a corrupt or missing one, so that the
/// next `run` redoes exactly those instances (and what is downstream of them, whose keys follow).
/// An object that could not be read (permissions, an I/O error) is left alone, records and all:
/// it may be fine, and only the reason is reported.
pub fn repair(store: &Store, db: &mut Db, audit: &Audit) -> Result<Repaired, RepairError> {
    let mut done = Repaired::default();
    let repairable = |b: &&BadObject| matches!(b.problem, Problem::Missing | Problem::Corrupt { .. });
    let mut keys: Vec<&str> =
        audit.bad.iter().filter(repairable).flat_map(|b| b.users.iter().map(|u| u.key.as_str())).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        db.delete_record(key)?;
        done.records += 1;
    }
    for b in audit.bad.iter().filter(|b| matches!(b.problem, Problem::Corrupt { .. })) {
        store.remove(&b.hash)?;
        done.objects += 1;
    }
    Ok(done)
}

#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
