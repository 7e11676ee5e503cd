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

/// Temporary folders, durations, dates and hosts, which change from run to run.
fn settings(cache: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(&regex_escape(&cache.display().to_string()), "[CACHE]");
    s.add_filter(&regex_escape(&repo().display().to_string()), "[REPO]");
    s.add_filter(r"\b\d+(\.\d+)?(ms|s|µs)\b", "[TIME]");
    s.add_filter(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?", "[DATE]");
    s.add_filter(&regex_escape(&hostname()), "[HOST]");
    s
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned()
}

fn regex_escape(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
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
    let settings = settings(cache.path());
    settings.bind(|| {
        insta::assert_snapshot!("plan_explain_empty_cache", text(&sgdnoise(&["plan", p, "--explain", "--cache", c])));
        let run = sgdnoise(&["run", p, "--cache", c, "-j", "2"]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        // The closing lines (the per-instance lines before them finish in any order).
        let stderr = String::from_utf8_lossy(&run.stderr);
        let tail: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim_start().starts_with("Running") && !l.trim_start().starts_with("Finished train["))
            .collect();
        insta::assert_snapshot!("run_summary", tail.join("\n"));
        insta::assert_snapshot!("plan_explain_all_fresh", text(&sgdnoise(&["plan", p, "--explain", "--cache", c])));
        insta::assert_snapshot!("why_fit", text(&sgdnoise(&["why", "weights", "--cache", c])));
    });
}
