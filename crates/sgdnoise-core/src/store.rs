//! The content-addressed store under `cache/objects/`: immutable files named by their blake3
//! hash, written to a temporary file, fsynced and renamed into place only when complete, so a
//! killed run never leaves a partial object.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: no space left on the disk that holds {holder}; nothing partial was kept: free space and rerun")]
    Full { path: PathBuf, holder: &'static str },
    #[error(
        "object {0} is not in the store (the next `run` remakes the instance that made it; `sgdnoise verify` names it)"
    )]
    Missing(String),
    #[error("object {hash} is corrupt: its content hashes to {actual} (the next `run` remakes the instance that made it; `sgdnoise verify --repair` drops it now)")]
    Corrupt { hash: String, actual: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    io_in(path, "the cache")
}

/// An I/O error on `path`, on the disk that holds `holder` (the cache, an export folder).
fn io_in<'a>(path: &'a Path, holder: &'static str) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| match source.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => StoreError::Full { path: path.to_owned(), holder },
        _ => StoreError::Io { path: path.to_owned(), source },
    }
}

/// How long a temporary file in `cache/tmp` goes unmodified before `gc` and `run` take it for
/// the leftover of a killed writer (writing an object takes seconds).
pub const STALE_TMP_AGE: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store of the cache folder `cache`.
    pub fn open(cache: &Path) -> Result<Store, StoreError> {
        for sub in ["objects", "tmp", "jobs"] {
            let p = cache.join(sub);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
        Ok(Store { root: cache.to_owned() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, hash: &str) -> PathBuf {
        let (a, b) = hash.split_at(2.min(hash.len()));
        self.root.join("objects").join(a).join(b)
    }

    pub fn contains(&self, hash: &str) -> bool {
        hash.len() == 64 && self.path(hash).is_file()
    }

    /// Stores `bytes`, returning their hash; an object already present is not rewritten unless
    /// its content no longer matches its name (then it is replaced by the good bytes).
    pub fn put(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let hash = blake3::hash(bytes).to_hex().to_string();
        let dest = self.path(&hash);
        if dest.is_file() && self.verify(&hash).is_ok() {
            // Touched, so that a `gc` meanwhile sees it as made by work in flight and keeps it
            // until the result naming it is collected.
            if let Ok(f) = std::fs::File::options().append(true).open(&dest) {
                let _ = f.set_modified(std::time::SystemTime::now());
                return Ok(hash);
            }
            // Gone meanwhile (a gc): written again below.
        }
        let dir = dest.parent().expect("object path has a parent");
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        self.write_atomic(&dest, bytes)?;
        Ok(hash)
    }

    /// Writes `bytes` to `dest` atomically: a temporary file (tempfile's), fsynced, renamed into
    /// place (`persist`), then the folder fsynced. Inside the cache the temporary file lives in
    /// `cache/tmp`, where `gc` finds what a killed run left; elsewhere (an export folder, maybe
    /// on another filesystem) beside `dest`, since a rename cannot cross filesystems.
    pub fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        let in_cache = dest.starts_with(&self.root);
        let tmp_dir = if in_cache { self.root.join("tmp") } else { dir.to_owned() };
        let io = |p| io_in(p, if in_cache { "the cache" } else { "that folder" });
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", dest.file_name().and_then(|n| n.to_str()).unwrap_or("object")))
            .tempfile_in(&tmp_dir)
            .map_err(io(dest))?;
        // A failure drops `tmp`, which removes it: a full disk gives its space back at once. The
        // file itself is written (tempfile's own writes wrap errors, hiding ENOSPC from `io`).
        tmp.as_file_mut().write_all(bytes).and_then(|()| tmp.as_file().sync_all()).map_err(io(dest))?;
        tmp.persist(dest).map_err(|e| StoreError::Io { path: dest.to_owned(), source: e.error })?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// The bytes of an object, checked against its hash: a store that hands out what it did
    /// not store is worse than none. (blake3 hashes gigabytes a second; objects are small.)
    pub fn get(&self, hash: &str) -> Result<Vec<u8>, StoreError> {
        let bytes = self.read_unverified(hash)?;
        let actual = blake3::hash(&bytes).to_hex().to_string();
        if actual != hash {
            return Err(StoreError::Corrupt { hash: hash.to_owned(), actual });
        }
        Ok(bytes)
    }

    fn read_unverified(&self, hash: &str) -> Result<Vec<u8>, StoreError> {
        let p = self.path(hash);
        match std::fs::read(&p) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::Missing(hash.to_owned())),
            Err(e) => Err(StoreError::Io { path: p, source: e }),
        }
    }

    /// Rehashes an object: `Missing`, `Corrupt`, or fine.
    pub fn verify(&self, hash: &str) -> Result<(), StoreError> {
        self.get(hash).map(|_| ())
    }

    /// Every object hash in the store.
    pub fn list(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(dirs) = std::fs::read_dir(self.root.join("objects")) else { return out };
        for d in dirs.flatten() {
            let prefix = d.file_name().to_string_lossy().to_string();
            if let Ok(files) = std::fs::read_dir(d.path()) {
                for f in files.flatten() {
                    out.push(format!("{prefix}{}", f.file_name().to_string_lossy()));
                }
            }
        }
        out.sort();
        out
    }

    pub fn remove(&self, hash: &str) -> Result<u64, StoreError> {
        let p = self.path(hash);
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        std::fs::remove_file(&p).map_err(io(&p))?;
        Ok(len)
    }

    /// Temporary files left by killed runs: those in `cache/tmp` untouched for [`STALE_TMP_AGE`].
    /// A younger one may be an object a Slurm node is writing right now (nodes hold no lock).
    pub fn stale_tmp(&self) -> Vec<PathBuf> {
        let stale = |e: &std::fs::DirEntry| {
            e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_TMP_AGE))
        };
        std::fs::read_dir(self.root.join("tmp"))
            .map(|rd| rd.flatten().filter(stale).map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    pub fn job_path(&self, key: &str) -> PathBuf {
        self.root.join("jobs").join(format!("{key}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_verify_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let h = s.put(b"hello").unwrap();
        assert_eq!(h, blake3::hash(b"hello").to_hex().to_string());
        assert_eq!(s.get(&h).unwrap(), b"hello");
        assert_eq!(s.put(b"hello").unwrap(), h);
        assert_eq!(s.list(), vec![h.clone()]);
        assert!(s.stale_tmp().is_empty());
        // A temporary file being written is not stale; one untouched for STALE_TMP_AGE is.
        let tmp = dir.path().join("tmp/.x.partial");
        std::fs::write(&tmp, b"half").unwrap();
        assert!(s.stale_tmp().is_empty(), "a writer may be busy with it");
        let old = std::time::SystemTime::now() - STALE_TMP_AGE - std::time::Duration::from_secs(1);
        std::fs::File::options().write(true).open(&tmp).unwrap().set_modified(old).unwrap();
        assert_eq!(s.stale_tmp(), vec![tmp.clone()]);
        std::fs::remove_file(&tmp).unwrap();
        s.verify(&h).unwrap();
        std::fs::write(s.path(&h), b"jello").unwrap();
        assert!(matches!(s.verify(&h), Err(StoreError::Corrupt { .. })));
        // Reads check the hash: a flipped object is never handed out.
        assert!(matches!(s.get(&h), Err(StoreError::Corrupt { .. })));
        // Storing the good bytes again repairs it.
        assert_eq!(s.put(b"hello").unwrap(), h);
        assert_eq!(s.get(&h).unwrap(), b"hello");
        assert!(matches!(s.get(&"0".repeat(64)), Err(StoreError::Missing(_))));
    }
}
