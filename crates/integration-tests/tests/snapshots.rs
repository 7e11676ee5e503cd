//! Output meant for people, pinned whole (insta): `kinds`, `plan --explain`, `why` and the
//! closing lines of `run` (the malformed corpus is pinned in `pipeline.rs`, the reports by the
//! committed ones). Paths, times and hosts are normalised; review a change with `cargo insta
//! review`.

use std::path::Path;

use crate::support::{repo, sgdnoise};

fn text(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The output with what changes from run to run replaced: the cache and repository paths, the
/// host, dates (`2026-12-06T11:59:46.836Z`) and durations (`1.2s`, `340ms`).
fn normalised(text: &str, cache: &Path) -> String {
    let text = text
        .replace(&cache.display().to_string(), "[CACHE]")
        .replace(&repo().display().to_string(), "[REPO]")
        .replace(&format!(" on {} ", hostname()), " on [HOST] ");
    let words: Vec<String> =
        text.split('\n').map(|line| line.split(' ').map(word).collect::<Vec<_>>().join(" ")).collect();
    sourceless(&words.join("\n"))
}

/// The source revision (`(source 0123456789ab)`, `-dirty`, `unknown`) as `(source [SOURCE])`:
/// it is the commit the binary was built from.
fn sourceless(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("(source ") {
        out.push_str(&rest[..i]);
        out.push_str("(source [SOURCE])");
        let after = &rest[i..];
        rest = &after[after.find(')').map_or(after.len(), |j| j + 1)..];
    }
    out.push_str(rest);
    out
}

/// One space-separated word, a date or a duration replaced.
fn word(w: &str) -> String {
    let b = w.as_bytes();
    if b.len() >= 19 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[10] == b'T' {
        return "[DATE]".into();
    }
    let core = w.trim_end_matches([',', ')', ';', '.']);
    let number = core.trim_end_matches(|c: char| c.is_alphabetic());
    let unit = &core[number.len()..];
    let numeric = !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && number.starts_with(|c: char| c.is_ascii_digit());
    if numeric && matches!(unit, "s" | "ms" | "µs") {
        return format!("[TIME]{}", &w[core.len()..]);
    }
    w.to_owned()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned()
}

#[test]
fn kinds_lists_every_kind_with_its_parameters() {
    insta::assert_snapshot!(text(&sgdnoise(&["kinds"])));
}

#[test]
fn plan_explain_run_and_why_on_a_tiny_pipeline() {
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path().to_str().unwrap();
    let p = "crates/integration-tests/tests/fixtures/tiny.yaml";
    let n = |text: String| normalised(&text, cache.path());
    // `-j 1`: the estimate's wall time is priced at the worker count, which defaults to the cores.
    insta::assert_snapshot!(
        "plan_explain_empty_cache",
        n(text(&sgdnoise(&["plan", p, "--explain", "--cache", c, "-j", "1"])))
    );
    let run = sgdnoise(&["run", p, "--cache", c, "-j", "2"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    // The closing lines (the per-instance lines before them finish in any order).
    let stderr = String::from_utf8_lossy(&run.stderr);
    let tail: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim_start().starts_with("Running") && !l.trim_start().starts_with("Finished train["))
        .collect();
    insta::assert_snapshot!("run_summary", n(tail.join("\n")));
    insta::assert_snapshot!("plan_explain_all_fresh", n(text(&sgdnoise(&["plan", p, "--explain", "--cache", c]))));
    insta::assert_snapshot!("why_fit", n(text(&sgdnoise(&["why", "weights", "--cache", c]))));
}
