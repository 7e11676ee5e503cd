//! The command reference, read off a clap command tree: Markdown for the manual (a test holds
//! `docs/commands.md` equal to it) and the list of arguments that lack help text.

use std::fmt::Write;

/// Every visible command under `root` (depth first, the root first) with its full name.
fn walk(root: &clap::Command) -> Vec<(String, &clap::Command)> {
    fn go<'a>(cmd: &'a clap::Command, name: String, out: &mut Vec<(String, &'a clap::Command)>) {
        out.push((name.clone(), cmd));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            go(sub, format!("{name} {}", sub.get_name()), out);
        }
    }
    let mut out = Vec::new();
    go(root, root.get_name().to_owned(), &mut out);
    out
}

/// The visible arguments of a command, clap's own `--help` and `--version` left out.
fn arguments(cmd: &clap::Command) -> impl Iterator<Item = &clap::Arg> {
    cmd.get_arguments().filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
}

/// How an argument is written: `<PIPELINE>`, `-j, --jobs <JOBS>`, `--partial`.
fn spelling(arg: &clap::Arg) -> String {
    let value = arg.get_value_names().map(|v| v.iter().map(|n| format!("<{n}>")).collect::<Vec<_>>().join(" "));
    let value = value.unwrap_or_else(|| format!("<{}>", arg.get_id().as_str().to_uppercase()));
    if arg.is_positional() {
        let many = matches!(arg.get_num_args(), Some(r) if r.max_values() > 1);
        return if many { format!("{value}…") } else { value };
    }
    let mut names = Vec::new();
    if let Some(s) = arg.get_short() {
        names.push(format!("-{s}"));
    }
    if let Some(l) = arg.get_long() {
        names.push(format!("--{l}"));
    }
    let takes_value = arg.get_num_args().is_some_and(|r| r.takes_values());
    if takes_value {
        format!("{} {value}", names.join(", "))
    } else {
        names.join(", ")
    }
}

/// An argument's help on one line, with its choices and default.
fn meaning(arg: &clap::Arg) -> String {
    let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
    let mut text = help.split_whitespace().collect::<Vec<_>>().join(" ");
    if !text.is_empty() && !text.ends_with(['.', '?', '!', ')']) {
        text.push('.');
    }
    let takes_value = arg.get_num_args().is_some_and(|r| r.takes_values());
    let choices: Vec<String> =
        arg.get_possible_values().iter().filter(|v| !v.is_hide_set()).map(|v| v.get_name().to_owned()).collect();
    if !choices.is_empty() && takes_value {
        let _ = write!(text, " One of: {}.", choices.join(", "));
    }
    let defaults: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
    if !defaults.is_empty() && takes_value {
        let _ = write!(text, " Default: `{}`.", defaults.join(" "));
    }
    text.trim().replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;")
}

/// The Markdown reference of every visible command of `root`.
pub fn markdown(root: &clap::Command) -> String {
    let mut root = root.clone();
    root.build();
    let mut out = String::new();
    for (name, cmd) in walk(&root) {
        if cmd.get_subcommands().any(|s| !s.is_hide_set()) && name == root.get_name() {
            continue; // the root's own entry is the list of commands itself
        }
        let _ = writeln!(out, "### `{name}`\n");
        if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
            let _ = writeln!(out, "{}\n", about.to_string().trim());
        }
        let usage = cmd.clone().render_usage().to_string();
        let usage = usage.trim_start_matches("Usage: ").trim();
        let _ = writeln!(out, "```text\n{usage}\n```\n");
        let args: Vec<&clap::Arg> = arguments(cmd).collect();
        if !args.is_empty() {
            out.push_str("| argument | meaning |\n|---|---|\n");
            for arg in args {
                let _ = writeln!(out, "| `{}` | {} |", spelling(arg), meaning(arg));
            }
            out.push('\n');
        }
    }
    out
}

/// `command --flag` for every visible argument of every visible command that has no help text.
pub fn missing_help(root: &clap::Command) -> Vec<String> {
    let mut root = root.clone();
    root.build();
    let mut missing = Vec::new();
    for (name, cmd) in walk(&root) {
        if name != root.get_name() && cmd.get_about().is_none() {
            missing.push(name.clone());
        }
        for arg in arguments(cmd).filter(|a| a.get_help().is_none() && a.get_long_help().is_none()) {
            missing.push(format!("{name} {}", spelling(arg)));
        }
    }
    missing
}
