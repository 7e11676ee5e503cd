//! The bundle's files, its manifest and its provenance lines, with the limits that keep reading
//! a hostile bundle bounded, and the checks every line passes before anything uses it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use crate::provenance::why::short;

/// The format this code writes and reads.
pub const FORMAT: &str = "sgdnoise-bundle-1";
pub const MANIFEST: &str = "manifest.json";
pub const PROVENANCE: &str = "provenance.jsonl.gz";
pub const OBJECTS: &str = "objects.pack.gz";
pub const RO_CRATE: &str = "ro-crate-metadata.json";
/// Every file a bundle has besides its manifest; a manifest naming another is refused.
pub const FILES: [&str; 3] = [PROVENANCE, OBJECTS, RO_CRATE];

/// Limits on what a bundle may declare: reading stays bounded whatever it holds.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;
pub const MAX_FILE_BYTES: u64 = 16 << 30;
pub const MAX_LINE_BYTES: u64 = 64 << 20;
pub const MAX_OBJECT_BYTES: u64 = 1 << 30;
pub const MAX_ENTRIES: usize = 10_000_000;

/// A bundle refused, with the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Db(#[from] crate::provenance::db::DbError),
}

impl BundleError {
    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> BundleError {
        BundleError::Invalid { path: path.to_owned(), message: message.into() }
    }
}

/// What a bundle is made for: the pipeline and targets, and how many of their instances were
/// not fresh (and are not in it).
#[derive(Debug, Clone)]
pub struct Scope {
    pub pipeline: String,
    pub targets: Vec<String>,
    pub not_fresh: usize,
}

/// One of the bundle's files as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub bytes: u64,
    pub blake3: String,
}

/// An output the bundle does not carry, and how it is made again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeftOut {
    pub hash: String,
    pub instance: String,
    pub output: String,
    pub rebuild: String,
}

/// `manifest.json`. Nothing in it depends on when the bundle was written: the same cache gives
/// the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    /// The pipeline and targets it was made for (`bundle PIPELINE [TARGET…]`).
    pub pipeline: String,
    pub targets: Vec<String>,
    /// Instances of the pipeline that were not fresh and are not in the bundle.
    pub not_fresh: usize,
    pub instances: usize,
    pub objects: usize,
    pub object_bytes: u64,
    pub left_out: Vec<LeftOut>,
    pub files: BTreeMap<String, FileEntry>,
}

/// Where an imported execution came from: the bundle, and its own origin when it was imported
/// there too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    pub bundle: String,
    pub path: String,
    pub imported_at: String,
    pub imported_on: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earlier: Option<Box<Origin>>,
}

/// One line of `provenance.jsonl.gz`: a successful execution as its provenance row holds it.
/// `host`, `started_at` and `finished_at` are those of the original execution, wherever the
/// bundle went since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub key: String,
    pub pipeline: String,
    pub stage: String,
    pub instance: String,
    pub kind: String,
    pub kind_version: u32,
    pub key_inputs: Value,
    pub params: Value,
    pub inputs: Vec<InputRef>,
    pub outputs: BTreeMap<String, String>,
    pub output_hash: String,
    pub metrics: Value,
    pub env: Value,
    pub host: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// An upstream instance as an execution row names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRef {
    pub stage: String,
    pub instance: String,
    pub key: String,
}

pub fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Entry {
    /// The checks a line passes before anything uses it: hashes are hashes, names are plain
    /// names (`export` writes output names as files), and the output hash is the outputs'.
    pub fn check(&self) -> Result<(), String> {
        use crate::pipeline::limits::{is_path_component, is_pipeline_name};
        if !is_hash(&self.key) {
            return Err(format!("key `{}` is not a blake3 hash", clip(&self.key)));
        }
        if !is_pipeline_name(&self.pipeline) {
            return Err(format!(
                "key {}: pipeline name `{}` is not a plain name",
                short(&self.key),
                clip(&self.pipeline)
            ));
        }
        if crate::stages::find(&self.kind).is_none() {
            return Err(format!("key {}: unknown stage kind `{}`", short(&self.key), clip(&self.kind)));
        }
        for (name, hash) in &self.outputs {
            if !is_path_component(name) {
                return Err(format!("key {}: output name `{}` is not a plain file name", short(&self.key), clip(name)));
            }
            if !is_hash(hash) {
                return Err(format!(
                    "key {}: output {name} names `{}`, not a blake3 hash",
                    short(&self.key),
                    clip(hash)
                ));
            }
        }
        let actual = crate::engine::key::output_hash(&self.outputs);
        if actual != self.output_hash {
            return Err(format!(
                "key {}: output hash {} does not match its outputs (they hash to {})",
                short(&self.key),
                short(&self.output_hash),
                short(&actual)
            ));
        }
        if let Some(bad) = self.inputs.iter().find(|i| !is_hash(&i.key)) {
            return Err(format!("key {}: input key `{}` is not a blake3 hash", short(&self.key), clip(&bad.key)));
        }
        Ok(())
    }

    /// The provenance row this line stands for (not yet in any database: id 0).
    pub fn to_row(&self) -> crate::provenance::ExecutionRow {
        crate::provenance::ExecutionRow {
            id: 0,
            key: self.key.clone(),
            pipeline: self.pipeline.clone(),
            stage: self.stage.clone(),
            instance: self.instance.clone(),
            kind: self.kind.clone(),
            kind_version: self.kind_version,
            key_inputs: self.key_inputs.clone(),
            params: self.params.clone(),
            inputs: serde_json::to_value(&self.inputs).expect("inputs serialise"),
            outputs: Some(self.outputs.clone()),
            output_hash: Some(self.output_hash.clone()),
            metrics: self.metrics.clone(),
            env: self.env.clone(),
            host: self.host.clone(),
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            duration_s: self.duration_s,
            status: "ok".into(),
            error: None,
            origin: self.origin.as_ref().map(|o| serde_json::to_value(o).expect("origin serialises")),
        }
    }

    /// The line of a recorded execution; `None` for one without outputs (a failure).
    pub fn of_row(row: &crate::provenance::ExecutionRow) -> Option<Entry> {
        let inputs = row
            .inputs
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| InputRef { stage: text(i, "stage"), instance: text(i, "instance"), key: text(i, "key") })
                    .collect()
            })
            .unwrap_or_default();
        Some(Entry {
            key: row.key.clone(),
            pipeline: row.pipeline.clone(),
            stage: row.stage.clone(),
            instance: row.instance.clone(),
            kind: row.kind.clone(),
            kind_version: row.kind_version,
            key_inputs: row.key_inputs.clone(),
            params: row.params.clone(),
            inputs,
            outputs: row.outputs.clone()?,
            output_hash: row.output_hash.clone()?,
            metrics: row.metrics.clone(),
            env: row.env.clone(),
            host: row.host.clone(),
            started_at: row.started_at.clone(),
            finished_at: row.finished_at.clone(),
            duration_s: row.duration_s,
            origin: row.origin.as_ref().and_then(|o| serde_json::from_value(o.clone()).ok()),
        })
    }
}

fn text(v: &Value, field: &str) -> String {
    v.get(field).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A name from the bundle, cut for a message.
pub(crate) fn clip(s: &str) -> String {
    crate::pipeline::limits::clip(s)
}
