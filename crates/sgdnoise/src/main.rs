//! `sgdnoise`: plans, keys, runs and records pipelines, and hands training to `sgdnoise-torch`.
//! It links no libtorch; everything it does is `sgdnoise_core`'s. It passes on the source
//! revision it was built from (build.rs), which provenance records.

use sgdnoise_core::host::Source;

fn main() -> std::process::ExitCode {
    let source = Source::from_build(env!("SGDNOISE_SOURCE_COMMIT"), env!("SGDNOISE_SOURCE_DIRTY"));
    sgdnoise_core::cli::main(&source)
}
