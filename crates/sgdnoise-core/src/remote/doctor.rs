//! `cache doctor`: does this store keep what is written once? It writes a probe only if absent,
//! then tries to write other bytes at the same place, again only if absent: a store that accepts
//! the second write (ignoring `If-None-Match`) would let two machines overwrite each other's
//! records unseen, and is refused. A remote that passed is noted in the cache
//! (`remotes-checked`), so `run --remote` checks each remote once.

use std::path::Path;

use super::client::{Put, Remote, RemoteError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Write-once holds: the second write was refused and the first bytes stayed.
    WriteOnce,
    /// The second write went through.
    Overwrites,
}

/// Probes the remote (and removes the probe).
pub fn probe(remote: &Remote, nonce: &str) -> Result<Verdict, RemoteError> {
    let rel = format!("doctor/probe-{nonce}");
    let first = remote.put_once(&rel, b"first".to_vec())?;
    let second = remote.put_once(&rel, b"second".to_vec())?;
    let now = remote.get(&rel, 64)?;
    let _ = remote.delete(&rel);
    Ok(if first == Put::Written && second == Put::Present && now.as_deref() == Some(b"first".as_slice()) {
        Verdict::WriteOnce
    } else {
        Verdict::Overwrites
    })
}

const CHECKED: &str = "remotes-checked";

/// Whether this cache has seen `url` pass the doctor.
pub fn checked(cache: &Path, url: &str) -> bool {
    std::fs::read_to_string(cache.join(CHECKED)).is_ok_and(|t| t.lines().any(|l| l == url))
}

/// Notes that `url` passed.
pub fn note_checked(cache: &Path, url: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(cache.join(CHECKED))?;
    writeln!(f, "{url}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures_util::stream::BoxStream;
    use object_store::local::LocalFileSystem;
    use object_store::path::Path as StorePath;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode,
        PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
    };

    use super::*;

    /// A store that ignores write-if-absent, as some S3 servers do with `If-None-Match`.
    #[derive(Debug)]
    struct IgnoresIfNoneMatch(LocalFileSystem);

    impl std::fmt::Display for IgnoresIfNoneMatch {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "IgnoresIfNoneMatch")
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for IgnoresIfNoneMatch {
        async fn put_opts(&self, location: &StorePath, payload: PutPayload, mut opts: PutOptions) -> Result<PutResult> {
            opts.mode = PutMode::Overwrite;
            self.0.put_opts(location, payload, opts).await
        }
        async fn put_multipart_opts(
            &self,
            location: &StorePath,
            opts: PutMultipartOptions,
        ) -> Result<Box<dyn MultipartUpload>> {
            self.0.put_multipart_opts(location, opts).await
        }
        async fn get_opts(&self, location: &StorePath, options: GetOptions) -> Result<GetResult> {
            self.0.get_opts(location, options).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, Result<StorePath>>,
        ) -> BoxStream<'static, Result<StorePath>> {
            self.0.delete_stream(locations)
        }
        fn list(&self, prefix: Option<&StorePath>) -> BoxStream<'static, Result<ObjectMeta>> {
            self.0.list(prefix)
        }
        async fn list_with_delimiter(&self, prefix: Option<&StorePath>) -> Result<ListResult> {
            self.0.list_with_delimiter(prefix).await
        }
        async fn copy_opts(&self, from: &StorePath, to: &StorePath, options: CopyOptions) -> Result<()> {
            self.0.copy_opts(from, to, options).await
        }
    }

    #[test]
    fn a_store_that_ignores_write_if_absent_is_caught_and_a_real_one_passes() {
        let dir = tempfile::tempdir().unwrap();
        let good = Remote::open(&format!("file://{}", dir.path().display())).unwrap();
        assert_eq!(probe(&good, "a").unwrap(), Verdict::WriteOnce);
        let bad = Remote::with_store(
            "test://ignores",
            Arc::new(IgnoresIfNoneMatch(LocalFileSystem::new_with_prefix(dir.path()).unwrap())),
        );
        assert_eq!(probe(&bad, "b").unwrap(), Verdict::Overwrites);
        assert!(!checked(dir.path(), "file:///x"));
        note_checked(dir.path(), "file:///x").unwrap();
        assert!(checked(dir.path(), "file:///x"));
    }
}
