//! Results bundles: everything a set of results rests on, in a folder that travels (committed
//! with the results, mailed to a colleague, put on a shared disk), and that anyone can check
//! and merge into a cache.
//!
//! A bundle is a folder of four files, nothing else:
//!
//! | file                     | what                                                                  |
//! |--------------------------|-----------------------------------------------------------------------|
//! | `manifest.json`          | format, pipeline, counts, what was left out and how to rebuild it, and the size and blake3 hash of each other file |
//! | `provenance.jsonl.gz`    | one line per instance of the chain: its execution (key inputs, parameters, inputs, outputs, environment, host, times), sorted by key |
//! | `objects.pack.gz`        | the stored outputs, sorted by hash, each as `HASH SIZE\n` then its bytes |
//! | `ro-crate-metadata.json` | the same chain as a Workflow Run RO-Crate (Provenance Run Crate profile) |
//!
//! The one idea: **nothing in a bundle is trusted before it is checked**. Every file is checked
//! against the manifest (size, then hash), every object against its name, every line's output
//! hash against its outputs, every input against the chain; names are never used as paths.
//! Reading stays bounded in memory whatever the bundle holds, and `import` writes nothing until
//! the whole bundle has passed. A bundle's id is the blake3 hash of its manifest.
//!
//! Outputs of kinds that rebuild exactly from keyed raw files (`dataset`) are left out: the
//! manifest lists their hashes, and `run` rebuilds them (their keys name the raw files' sha256).

pub mod format;
pub mod import;
pub mod pack;
pub mod read;
pub mod ro_crate;
pub mod write;

pub use format::{BundleError, Entry, Manifest};
pub use read::Bundle;
