//! One remote: its URL, the `object_store` behind it, and blocking calls over a private
//! single-threaded runtime (the engine is synchronous; transfers are small and sequential).

use std::sync::Arc;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};

use crate::bundle::format::{is_hash, Entry, MAX_LINE_BYTES, MAX_OBJECT_BYTES};

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("remote {url}: {message}")]
    Url { url: String, message: String },
    #[error("remote {url}: {path}: {source}")]
    Store { url: String, path: String, source: object_store::Error },
    #[error("remote {url}: {path}: {message}")]
    Invalid { url: String, path: String, message: String },
}

/// Requests in flight at once in a batch (`push_many`, `get_records`, `get_objects`).
pub const CONCURRENCY: usize = 16;

/// A record to push, with its objects as (hash, bytes).
pub type Outgoing = (Entry, Vec<(String, Vec<u8>)>);

/// How a write-once put ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Written,
    /// Something was already there (what, the caller checks).
    Present,
}

pub struct Remote {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: String,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.url)
    }
}

/// `--remote`, else `SGDNOISE_REMOTE`, else none.
pub fn remote_url(flag: Option<&str>) -> Option<String> {
    flag.map(str::to_owned).or_else(|| std::env::var("SGDNOISE_REMOTE").ok()).filter(|u| !u.is_empty())
}

impl Remote {
    /// Opens `file:///abs/path` (made if missing) or `s3://bucket[/prefix]` (credentials, region
    /// and endpoint from the AWS variables; plain HTTP allowed only for an `http://` endpoint).
    pub fn open(url: &str) -> Result<Remote, RemoteError> {
        let bad = |message: String| RemoteError::Url { url: url.to_owned(), message };
        // rustls's crypto for HTTPS: ring (see the workspace's Cargo.toml). rustls 0.23.48 marks
        // it deprecated for lacking post-quantum key exchange; results in transit to a lab's
        // store do not need that, and aws-lc-rs costs a minute of every cold build. Installed
        // once per process; a second call finds it there.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start the I/O runtime: {e}")))?;
        let (store, prefix): (Arc<dyn ObjectStore>, String) = if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad("a file remote is file:///absolute/path".into()));
            }
            std::fs::create_dir_all(path).map_err(|e| bad(format!("cannot make {path}: {e}")))?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(path)
                .map_err(|e| bad(e.to_string()))?
                .with_automatic_cleanup(true);
            (Arc::new(fs), String::new())
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("an S3 remote is s3://bucket or s3://bucket/prefix".into()));
            }
            let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
            let endpoint = std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT")).ok();
            if let Some(e) = endpoint {
                b = b.with_allow_http(e.starts_with("http://")).with_endpoint(e);
            }
            let s3 = b.build().map_err(|e| bad(e.to_string()))?;
            (Arc::new(s3), prefix.trim_matches('/').to_owned())
        } else {
            return Err(bad("expected file:///path or s3://bucket/prefix".into()));
        };
        Ok(Remote { url: url.to_owned(), store, prefix, rt })
    }

    /// For tests: a remote over any store.
    #[cfg(test)]
    pub(crate) fn with_store(url: &str, store: Arc<dyn ObjectStore>) -> Remote {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        Remote { url: url.to_owned(), store, prefix: String::new(), rt }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn path(&self, rel: &str) -> StorePath {
        if self.prefix.is_empty() {
            StorePath::from(rel)
        } else {
            StorePath::from(format!("{}/{rel}", self.prefix))
        }
    }

    fn object_path(hash: &str) -> String {
        format!("objects/{}/{}", &hash[..2], &hash[2..])
    }

    fn record_path(key: &str) -> String {
        format!("records/{key}.json")
    }

    fn err(&self, path: &StorePath) -> impl FnOnce(object_store::Error) -> RemoteError + '_ {
        let path = path.to_string();
        move |source| RemoteError::Store { url: self.url.clone(), path, source }
    }

    fn invalid(&self, path: &StorePath, message: impl Into<String>) -> RemoteError {
        RemoteError::Invalid { url: self.url.clone(), path: path.to_string(), message: message.into() }
    }

    /// The bytes at `rel`, at most `limit` of them; `None` when absent.
    pub(crate) fn get(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        self.rt.block_on(self.get_async(rel, limit))
    }

    async fn get_async(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        let path = self.path(rel);
        // Some(Ok(bytes)), Some(Err(size)) when over the limit, None when absent.
        let got: Result<Option<Result<Vec<u8>, u64>>, object_store::Error> = match self.store.get(&path).await {
            Ok(r) if r.meta.size > limit => Ok(Some(Err(r.meta.size))),
            Ok(r) => r.bytes().await.map(|b| Some(Ok(b.to_vec()))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        };
        match got.map_err(self.err(&path))? {
            None => Ok(None),
            Some(Ok(bytes)) => Ok(Some(bytes)),
            Some(Err(size)) => Err(self.invalid(&path, format!("{size} bytes: more than {limit} allowed"))),
        }
    }

    /// Writes `bytes` at `rel` only if nothing is there.
    pub(crate) fn put_once(&self, rel: &str, bytes: Vec<u8>) -> Result<Put, RemoteError> {
        self.rt.block_on(self.put_once_async(rel, bytes))
    }

    async fn put_once_async(&self, rel: &str, bytes: Vec<u8>) -> Result<Put, RemoteError> {
        let path = self.path(rel);
        match self.store.put_opts(&path, PutPayload::from(bytes), PutMode::Create.into()).await {
            Ok(_) => Ok(Put::Written),
            Err(object_store::Error::AlreadyExists { .. }) | Err(object_store::Error::Precondition { .. }) => {
                Ok(Put::Present)
            }
            Err(e) => Err(self.err(&path)(e)),
        }
    }

    pub(crate) fn delete(&self, rel: &str) -> Result<(), RemoteError> {
        let path = self.path(rel);
        self.rt.block_on(self.store.delete(&path)).map_err(self.err(&path))
    }

    /// An object, rehashed: one that does not match its name is fetched once more, then refused.
    pub fn get_object(&self, hash: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        self.rt.block_on(self.get_object_async(hash))
    }

    async fn get_object_async(&self, hash: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        let rel = Self::object_path(hash);
        let mut actual = String::new();
        for _ in 0..2 {
            let Some(bytes) = self.get_async(&rel, MAX_OBJECT_BYTES).await? else { return Ok(None) };
            actual = blake3::hash(&bytes).to_hex().to_string();
            if actual == hash {
                return Ok(Some(bytes));
            }
        }
        Err(self.invalid(
            &self.path(&rel),
            format!(
                "corrupt: its content hashes to {actual}, twice; refused (the remote is write-once: repair it by hand)"
            ),
        ))
    }

    /// Writes an object if absent. One already there that does not match its name is reported.
    pub fn put_object(&self, hash: &str, bytes: &[u8]) -> Result<Put, RemoteError> {
        self.rt.block_on(self.put_object_async(hash, bytes.to_vec()))
    }

    async fn put_object_async(&self, hash: &str, bytes: Vec<u8>) -> Result<Put, RemoteError> {
        let put = self.put_once_async(&Self::object_path(hash), bytes).await?;
        if put == Put::Present {
            // Someone wrote it first; it must be the same bytes.
            self.get_object_async(hash).await?;
        }
        Ok(put)
    }

    /// A record, parsed and checked; fetched once more when it does not pass.
    pub fn get_record(&self, key: &str) -> Result<Option<Entry>, RemoteError> {
        self.rt.block_on(self.get_record_async(key))
    }

    async fn get_record_async(&self, key: &str) -> Result<Option<Entry>, RemoteError> {
        let rel = Self::record_path(key);
        let mut last = String::new();
        for _ in 0..2 {
            let Some(bytes) = self.get_async(&rel, MAX_LINE_BYTES).await? else { return Ok(None) };
            match serde_json::from_slice::<Entry>(&bytes) {
                Ok(e) if e.key == key => match e.check() {
                    Ok(()) => return Ok(Some(e)),
                    Err(m) => last = m,
                },
                Ok(e) => last = format!("holds the record of key {}", &e.key[..e.key.len().min(12)]),
                Err(e) => last = format!("malformed JSON: {e}"),
            }
        }
        Err(self.invalid(&self.path(&rel), last))
    }

    /// Writes a record if absent (its objects must be there already).
    pub fn put_record(&self, entry: &Entry) -> Result<Put, RemoteError> {
        self.rt.block_on(self.put_record_async(entry))
    }

    async fn put_record_async(&self, entry: &Entry) -> Result<Put, RemoteError> {
        let bytes = serde_json::to_vec(entry).expect("entries serialise");
        self.put_once_async(&Self::record_path(&entry.key), bytes).await
    }

    /// Pushes records [`CONCURRENCY`] at a time, each its objects first and then itself; returns,
    /// in order, (objects written, objects present, how the record's put ended).
    pub fn push_many(&self, items: Vec<Outgoing>) -> Vec<Result<(usize, usize, Put), RemoteError>> {
        let one = |(entry, objects): Outgoing| async move {
            let (mut written, mut present) = (0, 0);
            for (hash, bytes) in objects {
                match self.put_object_async(&hash, bytes).await? {
                    Put::Written => written += 1,
                    Put::Present => present += 1,
                }
            }
            let put = self.put_record_async(&entry).await?;
            Ok((written, present, put))
        };
        self.rt.block_on(stream::iter(items).map(one).buffered(CONCURRENCY).collect())
    }

    /// Fetches records [`CONCURRENCY`] at a time, in order.
    pub fn get_records(&self, keys: &[String]) -> Vec<Result<Option<Entry>, RemoteError>> {
        self.rt
            .block_on(stream::iter(keys.iter()).map(|key| self.get_record_async(key)).buffered(CONCURRENCY).collect())
    }

    /// Fetches objects [`CONCURRENCY`] at a time, in order, each rehashed.
    pub fn get_objects(&self, hashes: &[String]) -> Vec<Result<Option<Vec<u8>>, RemoteError>> {
        self.rt.block_on(stream::iter(hashes.iter()).map(|h| self.get_object_async(h)).buffered(CONCURRENCY).collect())
    }

    /// The keys of every record on the remote.
    pub fn record_keys(&self) -> Result<Vec<String>, RemoteError> {
        let prefix = self.path("records");
        let metas: Vec<object_store::ObjectMeta> =
            self.rt.block_on(self.store.list(Some(&prefix)).try_collect()).map_err(self.err(&prefix))?;
        let mut keys: Vec<String> = metas
            .iter()
            .filter_map(|m| m.location.filename().and_then(|f| f.strip_suffix(".json")).map(str::to_owned))
            .filter(|k| is_hash(k))
            .collect();
        keys.sort();
        Ok(keys)
    }
}
