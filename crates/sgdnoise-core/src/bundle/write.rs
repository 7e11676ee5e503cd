//! Writing a bundle: the chain of executions behind some record keys, their stored outputs
//! (less those rebuilt from raw files), the RO-Crate and the manifest, deterministically: the
//! same cache and roots give the same bytes. The manifest is written last, so a folder without
//! one is not a bundle.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::format::{
    short, BundleError, Entry, FileEntry, LeftOut, Manifest, Scope, FORMAT, MANIFEST, OBJECTS, PROVENANCE, RO_CRATE,
};
use super::pack;
use crate::provenance::Db;
use crate::store::Store;

#[derive(Debug)]
pub struct Written {
    pub dir: PathBuf,
    pub id: String,
    pub manifest: Manifest,
}

/// The lines of the chain behind `roots`: every execution they descend from.
pub fn chain(db: &Db, roots: &[String]) -> Result<Vec<Entry>, BundleError> {
    let mut out: BTreeMap<String, Entry> = BTreeMap::new();
    let mut queue: VecDeque<String> = roots.iter().cloned().collect();
    while let Some(key) = queue.pop_front() {
        if out.contains_key(&key) {
            continue;
        }
        let row = db.execution_for_key(&key)?;
        let Some(entry) = row.as_ref().and_then(Entry::of_row) else {
            return Err(BundleError::Invalid {
                path: PathBuf::from("provenance.sqlite"),
                message: format!("no successful execution of key {} is recorded: the cache lost part of the chain (`sgdnoise verify`)", short(&key)),
            });
        };
        queue.extend(entry.inputs.iter().map(|i| i.key.clone()));
        out.insert(key, entry);
    }
    Ok(out.into_values().collect())
}

/// Writes one file of the bundle atomically, readable by all (it is made to be shared).
fn write_file(store: &Store, dir: &Path, name: &str, bytes: &[u8]) -> Result<FileEntry, BundleError> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    store.write_atomic(&path, bytes)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
        .map_err(|source| BundleError::Io { path: path.clone(), source })?;
    Ok(FileEntry { bytes: bytes.len() as u64, blake3: blake3::hash(bytes).to_hex().to_string() })
}

/// Writes the bundle of `roots` into `dir` (made if needed; a folder that holds anything but a
/// bundle is refused).
pub fn write(db: &Db, store: &Store, roots: &[String], scope: &Scope, dir: &Path) -> Result<Written, BundleError> {
    if let Ok(mut listing) = std::fs::read_dir(dir) {
        if !dir.join(MANIFEST).is_file() && listing.next().is_some() {
            return Err(BundleError::invalid(dir, "is not empty and holds no bundle: refused, to overwrite nothing"));
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| BundleError::Io { path: dir.to_owned(), source })?;
    let entries = chain(db, roots)?;

    let mut left_out = Vec::new();
    let mut carried = BTreeSet::new();
    for e in &entries {
        let rebuilt = crate::stages::find(&e.kind).is_some_and(|k| k.rederivable());
        for (output, hash) in &e.outputs {
            if rebuilt {
                left_out.push(LeftOut {
                    hash: hash.clone(),
                    instance: e.instance.clone(),
                    output: output.clone(),
                    rebuild: format!(
                        "`sgdnoise run` rebuilds it from the raw files whose sha256 the key of {} names",
                        e.instance
                    ),
                });
            } else {
                carried.insert(hash.clone());
            }
        }
    }
    left_out.sort_by(|a, b| (&a.hash, &a.instance, &a.output).cmp(&(&b.hash, &b.instance, &b.output)));
    left_out.dedup_by(|a, b| a.hash == b.hash);
    carried.retain(|h| !left_out.iter().any(|l| &l.hash == h));

    let mut lines = pack::gzip(Vec::new());
    for e in &entries {
        serde_json::to_writer(&mut lines, e).expect("entries serialise");
        lines.write_all(b"\n").expect("writes to memory");
    }
    let provenance = lines.finish().expect("writes to memory");

    // The pack is built in memory: a bundle is meant to be small (paper-cpu's is a few MB).
    let mut objects = pack::gzip(Vec::new());
    let mut object_bytes = 0u64;
    for hash in &carried {
        let bytes = store.get(hash)?;
        object_bytes += bytes.len() as u64;
        pack::put(&mut objects, hash, &bytes).expect("writes to memory");
    }
    let objects = objects.finish().expect("writes to memory");

    let crate_json = super::ro_crate::metadata(scope, &entries);
    let crate_bytes = serde_json::to_vec(&crate_json).expect("the crate serialises");

    let files = BTreeMap::from([
        (PROVENANCE.to_owned(), write_file(store, dir, PROVENANCE, &provenance)?),
        (OBJECTS.to_owned(), write_file(store, dir, OBJECTS, &objects)?),
        (RO_CRATE.to_owned(), write_file(store, dir, RO_CRATE, &crate_bytes)?),
    ]);
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        pipeline: scope.pipeline.clone(),
        targets: scope.targets.clone(),
        not_fresh: scope.not_fresh,
        instances: entries.len(),
        objects: carried.len(),
        object_bytes,
        left_out,
        files,
    };
    let mut bytes = serde_json::to_vec_pretty(&manifest).expect("the manifest serialises");
    bytes.push(b'\n');
    write_file(store, dir, MANIFEST, &bytes)?;
    Ok(Written { dir: dir.to_owned(), id: blake3::hash(&bytes).to_hex().to_string(), manifest })
}
