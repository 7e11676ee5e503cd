//! Stage kinds: the science plugged into the engine. The interface is `kind.rs`; each kind is one
//! file; this file is the catalogue of them.

pub mod analysis_params;
pub mod collect;
pub mod crossover;
pub mod dataset;
pub mod fit;
pub mod kind;
pub mod optimum;
pub mod params;
pub mod report;
pub mod train;

pub use kind::{ExecContext, ExecOutput, StageError, StageKind, Trainer};
pub use params::Params;

/// Every stage kind, in the order `kinds` lists them.
pub fn all() -> &'static [&'static dyn StageKind] {
    &[
        &self::dataset::Dataset,
        &self::train::Train,
        &self::collect::Collect,
        &self::fit::Fit,
        &self::crossover::Crossover,
        &self::optimum::Optimum,
        &self::report::Report,
    ]
}

pub fn find(name: &str) -> Option<&'static dyn StageKind> {
    all().iter().copied().find(|k| k.name() == name)
}

pub fn kind_names() -> Vec<&'static str> {
    all().iter().map(|k| k.name()).collect()
}
