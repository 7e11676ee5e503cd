//! A cache a lab can share: a remote store of objects and records that many machines read and
//! write, with no shared mutable state. `file:///path` (a shared filesystem) and
//! `s3://bucket/prefix` (any S3-compatible store: credentials and endpoint from the standard AWS
//! variables) go through the `object_store` crate.
//!
//! The one idea: **the remote is write-once, and nothing read from it is trusted.** Objects live at
//! `objects/HASH` and records (a bundle line: the execution with its outputs) at
//! `records/KEY.json`; each is written only if absent (`PutMode::Create`, `If-None-Match: *` on
//! S3), and a record only after all its objects. Every download is rehashed (an object) or
//! checked (a record) before use, and fetched once more when it does not pass. Each machine keeps
//! its own provenance and imports what it fetches; a record that exists remotely with other
//! outputs than ours is reported: a free check that two machines computed the same bytes.
//! `cache doctor` checks that a store enforces write-once and refuses one that does not (some S3
//! servers ignore `If-None-Match`, and a client cannot tell otherwise).

pub mod client;
pub mod doctor;
pub mod sync;

pub use client::{Remote, RemoteError};
