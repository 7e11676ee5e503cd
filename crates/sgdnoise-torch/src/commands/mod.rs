//! The command line of `sgdnoise-torch`: the commands that load libtorch (`train`, `exec`,
//! `doctor`, `verify`); any other goes to the core's command line, as `sgdnoise` would run it.

mod doctor;
mod exec;
mod train;
mod verify;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
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
    /// Print a shell's completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Write the man pages: sgdnoise(1) and one per command.
    Man(ManArgs),
    /// Print the command reference as Markdown (the manual's is this).
    #[command(hide = true)]
    Reference,
}

#[derive(Debug, clap::Args)]
struct CompletionsArgs {
    /// The shell, e.g. `sgdnoise completions bash > /etc/bash_completion.d/sgdnoise`.
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
struct ManArgs {
    /// The folder to write sgdnoise.1 and sgdnoise-COMMAND.1 into (created if missing).
    #[arg(long, default_value = "man")]
    out: std::path::PathBuf,
}

/// The whole command line of `sgdnoise`: the light binary's commands with this binary's
/// definitions of the ones it runs.
pub fn command() -> clap::Command {
    let mine = Cli::command();
    let mut all = sgdnoise_core::cli::command();
    for sub in mine.get_subcommands() {
        all = all.mut_subcommand(sub.get_name(), |_| sub.clone());
    }
    all
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
    let cli = Cli::parse_from(args);
    if sgdnoise_core::cli::parse_only() {
        return ExitCode::SUCCESS;
    }
    sgdnoise_core::cli::report(match cli.command {
        Command::Train(args) => train::run(*args),
        Command::Verify(args) => verify::run(args, trainer),
        Command::Exec(args) => exec::run(args, trainer),
        Command::Doctor(args) => doctor::run(args),
        Command::Completions(args) => {
            clap_complete::generate(args.shell, &mut command(), "sgdnoise", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man(args) => man(&args.out),
        Command::Reference => {
            print!("{}", sgdnoise_core::cli::reference::markdown(&command()));
            Ok(ExitCode::SUCCESS)
        }
    })
}

/// Writes sgdnoise.1 and a page per command into `out`.
fn man(out: &std::path::Path) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    clap_mangen::generate_to(command(), out).with_context(|| format!("writing man pages into {}", out.display()))?;
    eprintln!("{:>12} man pages in {}", "Wrote", out.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_command_and_option_has_help_text() {
        let missing = sgdnoise_core::cli::reference::missing_help(&super::command());
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    #[test]
    fn the_whole_command_line_has_the_torch_commands_own_options() {
        let all = super::command();
        let train = all.find_subcommand("train").unwrap();
        assert!(train.get_arguments().any(|a| a.get_long() == Some("test-size")), "train's options, not a placeholder");
        assert!(all.find_subcommand("run").unwrap().get_arguments().any(|a| a.get_long() == Some("partial")));
    }
}
