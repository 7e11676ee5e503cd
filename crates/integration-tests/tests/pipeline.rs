//! Pipeline validation: every malformed file of the corpus gives its located, whole message
//! (pinned as an insta snapshot per file, in snapshots/), none panics, and the CLI exits 2 for it.

use std::path::Path;

use crate::support::{binary, repo, sgdnoise};

#[test]
fn malformed_pipelines_give_located_errors_and_never_panic() {
    let mut paths: Vec<_> = std::fs::read_dir(repo().join("crates/integration-tests/tests/fixtures/bad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    let mut checked = 0;
    for path in &paths {
        let name = path.file_name().unwrap().to_str().unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let shown = Path::new("bad").join(name);
        let result = std::panic::catch_unwind(|| sgdnoise_core::pipeline::spec::parse(&shown, &text));
        let err = match result {
            Err(_) => panic!("{name}: the parser panicked"),
            Ok(Ok(_)) => panic!("{name}: accepted a malformed pipeline"),
            Ok(Err(e)) => e.to_string(),
        };
        // Located: file:line:col, except for an empty file.
        if !text.is_empty() {
            let loc = err.strip_prefix(&format!("bad/{name}:")).unwrap_or_else(|| panic!("{name}: not located: {err}"));
            let mut parts = loc.splitn(3, ':');
            assert!(parts.next().unwrap().parse::<usize>().is_ok(), "{name}: no line in {err}");
            assert!(parts.next().unwrap().parse::<usize>().is_ok(), "{name}: no column in {err}");
        }
        insta::assert_snapshot!(format!("malformed_pipelines_give_located_errors_and_never_panic@{name}"), err);
        checked += 1;
    }
    assert!(checked >= 74, "the corpus has {checked} files");
}

#[test]
fn invalid_pipeline_exits_2_with_the_message() {
    let out = sgdnoise(&[
        "plan",
        "crates/integration-tests/tests/fixtures/bad/11-unknown-kind.yaml",
        "--cache",
        "/nonexistent/never-created",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: crates/integration-tests/tests/fixtures/bad/11-unknown-kind.yaml:4:11: stages.train.kind: unknown stage kind `trian` (known: dataset, train, collect, fit, crossover, optimum, report)\n"
    );
}

/// Random byte-level mutations of a valid pipeline never panic the parser.
#[test]
fn mutated_pipelines_never_panic() {
    let base = std::fs::read_to_string(repo().join("crates/integration-tests/tests/fixtures/tiny.yaml")).unwrap();
    let mut rng = sgdnoise_core::rng::Rng::stream(42, sgdnoise_core::rng::Stream::Batches);
    let alphabet = b" :-[]{},\"'#&*!|>\n\t0123456789.^abcxyzPT";
    for _ in 0..2000 {
        let mut bytes = base.clone().into_bytes();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(bytes.len() as u64) as usize;
            match rng.below(3) {
                0 => bytes[i] = alphabet[rng.below(alphabet.len() as u64) as usize],
                1 => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i, alphabet[rng.below(alphabet.len() as u64) as usize]),
            }
        }
        let text = String::from_utf8_lossy(&bytes).to_string();
        let r =
            std::panic::catch_unwind(|| sgdnoise_core::pipeline::spec::parse(Path::new("m.yaml"), &text).map(|_| ()));
        assert!(r.is_ok(), "parser panicked on:\n{text}");
    }
}

/// Alias bombs (nested lists, maps, a long scalar) are refused with a located message by a
/// process held to 512 MiB of address space: before the bound, each grew past gigabytes.
#[test]
fn alias_bombs_are_refused_in_bounded_memory() {
    let dir = "crates/integration-tests/tests/fixtures/bad";
    for name in ["70-alias-bomb-lists.yaml", "71-alias-bomb-maps.yaml", "72-alias-bomb-scalar.yaml"] {
        let script = format!(
            "ulimit -v 524288; exec '{}' plan {dir}/{name} --cache /nonexistent/never-created",
            binary().display()
        );
        let out = std::process::Command::new("bash").args(["-c", &script]).current_dir(repo()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("(MAX_ALIAS_EXPANSION): an alias bomb?"), "{name}: {stderr}");
    }
}
