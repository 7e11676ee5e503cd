//! sgdnoise without libtorch: everything but the training itself. Pipelines, keys, the store,
//! provenance, the dispatcher and its executors (local workers, Slurm), the stage kinds, the
//! analyses and the report. The `sgdnoise` binary is this crate's command line (`cli`); training
//! is handed to `sgdnoise-torch`, which plugs its trainer in as a value
//! ([`stages::Trainer`] in [`stages::ExecContext`]).
//!
//! Data flows one way: pipeline file → validated spec → expanded instances → keys and plan →
//! dispatcher → executors → stage kinds → store + provenance → analysis → report.
//!
//! # Layers
//!
//! **A module imports only from modules listed below it in this table** (a test, `layering`,
//! reads the table and holds the rule; no import circle remains among the files either):
//!
//! | module       | what                                                                       |
//! |--------------|----------------------------------------------------------------------------|
//! | `cli`        | the command line: arguments → library calls; `anyhow` lives here only       |
//! | `remote`     | a shared write-once cache (file://, s3://): push, pull, doctor             |
//! | `bundle`     | results bundles: written, checked (hostile input refused), imported        |
//! | `engine`     | keys, plans and reasons, the dispatcher, executors (local, Slurm), estimates |
//! | `pipeline`   | the YAML front end: located parsing, the validated spec, sweeps, targets    |
//! | `stages`     | the kind interface (`kind.rs`), the catalogue (`mod.rs`), one file per kind |
//! | `report`     | claims, tables, HTML/Markdown and figures, from stored outputs              |
//! | `outputs`    | the typed stored outputs of every kind                                      |
//! | `analysis`   | numeric fits: power laws, crossovers, optima                                |
//! | `job`        | a planned instance as an executor receives it                               |
//! | `run`        | the plain types of a training run (spec, names, records)                    |
//! | `datasets`   | raw data sources, prepared pools, the depleted generator                    |
//! | `provenance` | the SQLite record of every execution, and `why`                            |
//! | `store`      | the content-addressed object store                                          |
//! | `canonical`  | canonical JSON and parameters: one text per value                           |
//! | `numbers`    | the number syntax (`2^k`)                                                   |
//! | `host`       | this machine: cores, memory, the libtorch beside us                         |
//! | `json_float` | floats in JSON as the outputs store them                                    |
//! | `rng`        | the random streams every run draws from                                     |
//! | `named`      | enums with stable names                                                     |

pub mod analysis;
pub mod bundle;
pub mod canonical;
pub mod cli;
pub mod datasets;
pub mod engine;
pub mod host;
pub mod job;
pub mod json_float;
pub mod named;
pub mod numbers;
pub mod outputs;
pub mod pipeline;
pub mod provenance;
pub mod remote;
pub mod report;
pub mod rng;
pub mod run;
pub mod stages;
pub mod store;

#[cfg(test)]
mod layering;
#[cfg(test)]
mod properties;
