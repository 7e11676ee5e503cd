//! The command line of the light `sgdnoise`: parse arguments into a validated configuration and
//! call library code; the commands that load libtorch are handed to `sgdnoise-torch`.
//! Errors print as `error: …` then `caused by: …`; invalid input exits 2, a failed run 1.

mod bundle;
pub mod cache;
mod export;
mod gc;
mod import;
mod kinds;
mod plan;
pub mod reference;
mod remote;
mod results;
pub mod run;
mod status;
mod why;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Exit status for invalid input (arguments, pipeline files, configurations).
pub const EXIT_INVALID: u8 = 2;
/// Exit status for a run or stage that failed.
pub const EXIT_FAILED: u8 = 1;

/// The commands that `sgdnoise` hands to `sgdnoise-torch`: those that load libtorch, and those
/// that describe the whole command line (whose torch commands only `sgdnoise-torch` defines).
pub const TORCH_COMMANDS: [&str; 7] = ["train", "exec", "doctor", "verify", "completions", "man", "reference"];

/// Set (to anything) in the environment, a command is parsed and not run: exit 0 when it parses,
/// 2 with clap's error when it does not. The tests check every command the docs and hints print.
pub const PARSE_ONLY_VAR: &str = "SGDNOISE_PARSE_ONLY";

/// Whether this process only parses its command (see [`PARSE_ONLY_VAR`]).
pub fn parse_only() -> bool {
    std::env::var_os(PARSE_ONLY_VAR).is_some()
}

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

/// The arguments of a command that `sgdnoise-torch` parses.
#[derive(Debug, clap::Args)]
struct Forwarded {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One training run, no pipeline; prints its record.
    Train(Forwarded),
    /// Run a pipeline: execute what is not fresh, record everything.
    Run(Box<run::RunArgs>),
    /// Dry run: which instances are fresh and which will run, and why.
    Plan(plan::PlanArgs),
    /// Where each stage stands: done, to run and why, failed and why, running now.
    Status(status::StatusArgs),
    /// One row per instance of a stage: parameters and outputs.
    Results(results::ResultsArgs),
    /// The provenance chain of an instance, output or report item.
    Why(why::WhyArgs),
    /// Remove objects no record references.
    Gc(gc::GcArgs),
    /// Rehash the store; optionally re-execute cached instances and compare.
    Verify(Forwarded),
    /// Copy a stage's outputs (e.g. the report) out of the store.
    Export(export::ExportArgs),
    /// Write the results bundle of a pipeline: its chain of executions and stored outputs.
    Bundle(bundle::BundleArgs),
    /// Merge a results bundle into the cache, checked first.
    Import(import::ImportArgs),
    /// Share the cache through a write-once remote: push, pull, doctor.
    Cache(remote::CacheArgs),
    /// Execute planned instances by key (used by `run` and the Slurm executor).
    Exec(Forwarded),
    /// libtorch version, devices, threads and datasets.
    Doctor(Forwarded),
    /// Every stage kind's parameters: types, defaults, meanings.
    Kinds(kinds::KindsArgs),
    /// Print a shell's completion script (bash, zsh, fish, elvish, powershell).
    Completions(Forwarded),
    /// Write the man pages: sgdnoise(1) and one per command.
    Man(Forwarded),
    /// Print the command reference as Markdown (the manual's is this).
    #[command(hide = true)]
    Reference(Forwarded),
}

/// The light binary's command line. Its torch commands are placeholders: `sgdnoise-torch`
/// puts in their definitions (for the reference, completions and man pages).
pub fn command() -> clap::Command {
    Cli::command()
}

/// The light `sgdnoise`: commands that load libtorch go to `sgdnoise-torch` (same arguments),
/// the rest run here without it.
pub fn main(source: &crate::host::Source) -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).and_then(|a| a.to_str()).is_some_and(|c| TORCH_COMMANDS.contains(&c)) {
        use std::os::unix::process::CommandExt;
        let exe = crate::host::torch_exe();
        // Named `sgdnoise` in its usage lines and errors, as the user typed it.
        let err = std::process::Command::new(&exe).arg0("sgdnoise").args(&args[1..]).exec();
        eprintln!("error: cannot run {}: {err}", exe.display());
        return ExitCode::from(EXIT_FAILED);
    }
    run_args(args, source)
}

/// Parses and runs a command that needs no libtorch; `source` is the revision this binary was
/// built from, as provenance records it.
pub fn run_args(args: Vec<OsString>, source: &crate::host::Source) -> ExitCode {
    let cli = Cli::parse_from(args);
    if parse_only() {
        return ExitCode::SUCCESS;
    }
    if matches!(
        cli.command,
        Command::Plan(_) | Command::Status(_) | Command::Results(_) | Command::Why(_) | Command::Kinds(_)
    ) {
        // Commands that only print: a reader that stops early (`| head`) ends them quietly, as
        // it ends `ls`, instead of a panic on the failed write. Not `run`: it must outlive a
        // closed pipe to a worker and record the failure.
        // SAFETY: sets the default disposition of one signal, before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    report(match cli.command {
        Command::Run(args) => run::run(*args, source),
        Command::Plan(args) => plan::run(args),
        Command::Status(args) => status::run(args),
        Command::Results(args) => results::run(args),
        Command::Why(args) => why::run(args),
        Command::Gc(args) => gc::run(args),
        Command::Export(args) => export::run(args),
        Command::Bundle(args) => bundle::run(args),
        Command::Import(args) => import::run(args),
        Command::Cache(args) => remote::run(args),
        Command::Kinds(args) => kinds::run(args),
        Command::Train(_)
        | Command::Verify(_)
        | Command::Exec(_)
        | Command::Doctor(_)
        | Command::Completions(_)
        | Command::Man(_)
        | Command::Reference(_) => Err(InvalidInput("this command runs in sgdnoise-torch".into()).into()),
    })
}

/// Prints an error as `error: …` then `caused by: …`; invalid input exits 2, a failure 1.
pub fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
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
