//! The command line of `sgdnoise-torch`: the commands that load libtorch (`train`, `exec`,
//! `doctor`, `verify`); any other goes to the core's command line, as `sgdnoise` would run it.

mod doctor;
mod exec;
mod train;
mod verify;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
pub(crate) use sgdnoise_core::cli::{cache, InvalidInput, EXIT_FAILED};
use sgdnoise_core::stages::Trainer;

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
    /// Rehash the store; optionally re-execute cached instances and compare.
    Verify(verify::VerifyArgs),
    /// Execute planned instances by key (used by `run` and the Slurm executor).
    Exec(exec::ExecArgs),
    /// libtorch version, devices, threads and datasets.
    Doctor(doctor::DoctorArgs),
}

/// Runs the command in this process's arguments; `trainer` executes training jobs.
pub fn main(trainer: &dyn Trainer) -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let torch = args.get(1).and_then(|a| a.to_str()).is_some_and(|c| sgdnoise_core::cli::TORCH_COMMANDS.contains(&c));
    if !torch {
        // Not told its source revision (only the light binary is rebuilt on every edit to learn
        // it): a run started through this binary records it as unknown.
        return sgdnoise_core::cli::run_args(args, &sgdnoise_core::host::Source::unknown());
    }
    sgdnoise_core::cli::report(match Cli::parse_from(args).command {
        Command::Train(args) => train::run(*args),
        Command::Verify(args) => verify::run(args, trainer),
        Command::Exec(args) => exec::run(args, trainer),
        Command::Doctor(args) => doctor::run(args),
    })
}
