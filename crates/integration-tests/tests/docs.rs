//! The front door as a reader meets it: the manual builds with its links checked, every command
//! it, the README and the CLI's hints print parses, and the generated references are the code's.

use std::path::PathBuf;

use crate::support::{repo, sgdnoise};

/// The README and every page of the manual (docs/*.md; the committed reports are tested by the
/// bundles test, their commands being audit ids).
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![repo().join("README.md")];
    let mut manual: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    manual.sort();
    assert!(manual.len() >= 10, "the manual's chapters: {manual:?}");
    pages.extend(manual);
    pages
}

/// Splits a shell command line into words: plain words, '…' and "…" (no expansion).
fn words(line: &str) -> Vec<String> {
    let (mut out, mut word, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

/// The `sgdnoise …` commands in a Markdown text's shell blocks, as argument lists: a prompt
/// (`$ `), a path to the binary, environment assignments, continuation lines, comments, pipes and
/// redirections are taken off; a command with a placeholder (`…`, `<id>`, `[`) is left out.
fn shell_commands(text: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let (mut in_shell, mut in_block, mut pending) = (false, false, String::new());
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_shell = !in_block && matches!(info.trim(), "" | "sh" | "bash" | "console" | "shell");
            in_block = !in_block;
            continue;
        }
        if !in_shell {
            continue;
        }
        pending.push_str(trimmed.trim_end_matches('\\'));
        pending.push(' ');
        if trimmed.ends_with('\\') {
            continue;
        }
        let line = std::mem::take(&mut pending);
        let line = line.strip_prefix("$ ").unwrap_or(&line);
        let cut = [" #", " |", " >", " &&", " 2>"].iter().filter_map(|s| line.find(s)).min().unwrap_or(line.len());
        let mut ws = words(&line[..cut]);
        while ws.first().is_some_and(|w| w.contains('=') && !w.starts_with('-')) {
            ws.remove(0);
        }
        if !ws.first().is_some_and(|w| w == "sgdnoise" || w.ends_with("/sgdnoise")) {
            continue;
        }
        if ws.iter().any(|w| w.contains('…') || w.contains("...") || w.starts_with('<') || w.starts_with('[')) {
            continue;
        }
        commands.push(ws[1..].to_vec());
    }
    commands
}

/// Runs `sgdnoise ARGS` told only to parse them.
fn parses(args: &[String]) -> Result<(), String> {
    let out = std::process::Command::new(crate::support::binary())
        .args(args)
        .current_dir(repo())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env(sgdnoise_core::cli::PARSE_ONLY_VAR, "1")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn the_parse_only_switch_refuses_what_does_not_parse() {
    assert!(parses(&["plan".into(), "pipelines/quick.yaml".into(), "-j".into(), "2".into()]).is_ok());
    assert!(
        parses(&["train".into(), "--T".into(), "2^-8".into()]).is_ok(),
        "a torch command is parsed by sgdnoise-torch"
    );
    let bad = parses(&["plan".into(), "pipelines/quick.yaml".into(), "--no-such-flag".into()]).unwrap_err();
    assert!(bad.contains("unexpected argument '--no-such-flag'"), "{bad}");
    assert!(parses(&["train".into(), "--nope".into()]).is_err());
}

#[test]
fn every_sgdnoise_command_in_the_readme_and_the_manual_parses() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for page in pages() {
        for args in shell_commands(&std::fs::read_to_string(&page).unwrap()) {
            checked += 1;
            if let Err(e) = parses(&args) {
                failures.push(format!("{}: sgdnoise {}: {e}", page.display(), args.join(" ")));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 20, "only {checked} commands found");
}

/// The backquoted `sgdnoise …` commands in the string literals of the code that prints them
/// (tests left out), with `{…}` holes filled with a plausible value.
fn hints() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for root in ["crates/sgdnoise-core/src", "crates/sgdnoise-torch/src"] {
        let mut stack = vec![repo().join(root)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap();
                for line in code.lines().map(str::trim).filter(|l| !l.starts_with("//") && l.contains('"')) {
                    for piece in line.split("`sgdnoise ").skip(1) {
                        let Some(end) = piece.find('`') else { continue };
                        let hint = piece[..end].replace("{}", "x").replace("{id}", "fit:0123456789ab");
                        out.push((format!("{}", path.strip_prefix(repo()).unwrap().display()), hint));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_hint_the_cli_prints_is_a_command_that_parses() {
    let hints = hints();
    assert!(hints.len() >= 10, "{hints:?}");
    let mut failures = Vec::new();
    for (file, hint) in &hints {
        let args = words(hint);
        if args.iter().any(|w| w.starts_with('<') || w.chars().all(|c| c.is_ascii_uppercase())) {
            continue; // a form with a placeholder (`sgdnoise why <run key>`)
        }
        // A bare `sgdnoise run` names a command: it must exist. Anything longer must parse.
        let args = if args.len() == 1 { vec![args[0].clone(), "--help".into()] } else { args };
        if let Err(e) = parses(&args) {
            failures.push(format!("{file}: `sgdnoise {hint}`: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_manual_builds_with_every_internal_link_and_anchor_checked() {
    let home = std::env::var_os("SGDNOISE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/sgdnoise"));
    let mkdocs = home.join("tools/bin/mkdocs");
    assert!(mkdocs.exists(), "{} is missing: run scripts/setup.sh", mkdocs.display());
    let site = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&mkdocs)
        .args(["build", "--strict", "--site-dir"])
        .arg(site.path())
        .current_dir(repo())
        .env("NO_MKDOCS_2_WARNING", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "mkdocs build --strict: {}", String::from_utf8_lossy(&out.stderr));
    for page in ["science/index.html", "glossary/index.html", "results/quick/report/index.html"] {
        assert!(site.path().join(page).is_file(), "{page} was not built");
    }
}

#[test]
fn the_command_reference_in_the_manual_is_the_code_s() {
    let out = sgdnoise(&["reference"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reference = String::from_utf8(out.stdout).unwrap();
    for expected in
        ["### `sgdnoise run`", "| `-j, --jobs <JOBS>` |", "### `sgdnoise train`", "### `sgdnoise cache push`"]
    {
        assert!(reference.contains(expected), "{expected}: {reference}");
    }
    let page = std::fs::read_to_string(repo().join("docs/commands.md")).unwrap();
    let begin = "<!-- sgdnoise reference: begin -->\n";
    let start = page.find(begin).expect("docs/commands.md marks the generated reference") + begin.len();
    let end = page.find("<!-- sgdnoise reference: end -->").unwrap();
    assert_eq!(
        &page[start..end],
        reference,
        "docs/commands.md out of date: paste `sgdnoise reference` between the marks"
    );
}

#[test]
fn completions_and_man_pages_cover_every_command() {
    let bash = sgdnoise(&["completions", "bash"]);
    assert!(bash.status.success(), "{}", String::from_utf8_lossy(&bash.stderr));
    let script = String::from_utf8(bash.stdout).unwrap();
    assert!(
        script.contains("_sgdnoise()") && script.contains("--partial") && script.contains("--test-size"),
        "{script}"
    );
    let man = tempfile::tempdir().unwrap();
    let out = sgdnoise(&["man", "--out", man.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for page in ["sgdnoise.1", "sgdnoise-run.1", "sgdnoise-train.1", "sgdnoise-cache-push.1"] {
        let text = std::fs::read_to_string(man.path().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}: {text}");
    }
    let bad = sgdnoise(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}
