//! One writer per cache: `run` and `gc` hold an exclusive lock on `cache/lock` (std's
//! `File::try_lock`, flock on Unix: released by the kernel even when the process is killed). A
//! second writer gets a clear error naming the holder.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another sgdnoise process ({holder}) is using the cache {cache}; wait for it to finish or use another --cache"
    )]
    Busy { cache: String, holder: String },
    #[error("cannot lock {path}: {source}{}", read_only_hint(source))]
    Io { path: String, source: std::io::Error },
}

/// What to do when the cache cannot be written at all.
fn read_only_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM) => {
            " (this command writes the cache; plan, why, results, export and verify can read a read-only one)"
        }
        _ => "",
    }
}

/// Held for the lifetime of the value.
pub struct CacheLock {
    _file: File,
}

pub fn acquire(cache: &Path) -> Result<CacheLock, LockError> {
    let path = cache.join("lock");
    let io = |source| LockError::Io { path: path.display().to_string(), source };
    std::fs::create_dir_all(cache).map_err(io)?;
    let mut file =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = if holder.trim().is_empty() { "unknown pid".to_owned() } else { holder.trim().to_owned() };
            return Err(LockError::Busy { cache: cache.display().to_string(), holder });
        }
        Err(TryLockError::Error(err)) => return Err(io(err)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "pid {}", std::process::id()).map_err(io)?;
    Ok(CacheLock { _file: file })
}

/// Who holds the cache's lock now (`pid N`), or `None` when nobody does (or there is no lock
/// file). Takes no lock that outlives the call, and works on a read-only cache.
pub fn holder(cache: &Path) -> Option<String> {
    let mut file = File::open(cache.join("lock")).ok()?;
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Some(if holder.trim().is_empty() { "unknown pid".to_owned() } else { holder.trim().to_owned() })
        }
        Err(TryLockError::Error(_)) => None,
    }
}
