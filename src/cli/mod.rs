//! The command line: parse arguments into a validated configuration and call library code.
//! Errors print as `error: …` then `caused by: …`; invalid input exits 2, a failed run 1.

mod cache;
mod doctor;
mod exec;
mod export;
mod gc;
mod kinds;
mod plan;
mod results;
mod run;
mod train;
mod verify;
mod why;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for invalid input (arguments, pipeline files, configurations).
pub const EXIT_INVALID: u8 = 2;
/// Exit status for a run or stage that failed.
pub const EXIT_FAILED: u8 = 1;

/// An error caused by what the user gave us, not by a failure while running.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

#[derive(Debug, Parser)]
#[command(name = "sgdnoise", version, about = "Reproduce the effects of SGD noise in the lazy and feature regimes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One training run, no pipeline; prints its record.
    Train(Box<train::TrainArgs>),
    /// Run a pipeline: execute what is not fresh, record everything.
    Run(Box<run::RunArgs>),
    /// Dry run: which instances are fresh and which will run, and why.
    Plan(plan::PlanArgs),
    /// One row per instance of a stage: parameters and outputs.
    Results(results::ResultsArgs),
    /// The provenance chain of an instance, output or report item.
    Why(why::WhyArgs),
    /// Remove objects no record references.
    Gc(gc::GcArgs),
    /// Rehash the store; optionally re-execute cached instances and compare.
    Verify(verify::VerifyArgs),
    /// Copy a stage's outputs (e.g. the report) out of the store.
    Export(export::ExportArgs),
    /// Execute one planned instance by key (used by `run` and cluster executors).
    Exec(exec::ExecArgs),
    /// libtorch version, devices, threads and datasets.
    Doctor(doctor::DoctorArgs),
    /// Every stage kind's parameters: types, defaults, meanings.
    Kinds(kinds::KindsArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train::run(*args),
        Command::Run(args) => run::run(*args),
        Command::Plan(args) => plan::run(args),
        Command::Results(args) => results::run(args),
        Command::Why(args) => why::run(args),
        Command::Gc(args) => gc::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Exec(args) => exec::run(args),
        Command::Export(args) => export::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Kinds(args) => kinds::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("caused by: {cause}");
            }
            if err.chain().any(|c| c.is::<InvalidInput>()) {
                ExitCode::from(EXIT_INVALID)
            } else {
                ExitCode::from(EXIT_FAILED)
            }
        }
    }
}
