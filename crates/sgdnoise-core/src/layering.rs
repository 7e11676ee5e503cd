//! The layering rule of `lib.rs`, held: a module imports only from modules declared below it
//! there, and no import circle remains among the library's files. Read from the sources, so a new
//! upward `use crate::…` (or a path written inline) fails here, naming the file and the import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules in the order of `lib.rs`'s module map (its table of layers), top first;
/// every module `lib.rs` declares must have its row.
fn layers(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let order: Vec<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//! | `"))
        .filter_map(|r| r.split_once('`').map(|(m, _)| m.to_owned()))
        .collect();
    for declared in lib.lines().filter_map(|l| l.strip_prefix("pub mod ").and_then(|r| r.strip_suffix(';'))) {
        assert!(order.iter().any(|m| m == declared), "module `{declared}` has no row in lib.rs's layer table");
    }
    order
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path: `engine/plan.rs` → [engine, plan]; `stages/mod.rs` → [stages].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The code of a file without its comments and `#[cfg(test)]` module (tests may reach anywhere).
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path a file names: `crate::a::b::…` and `super::…`, with `use` groups
/// (`crate::{a, b::c}`) expanded one level.
fn references(code: &str, own: &[String], is_mod_file: bool) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    for (start, _) in code.match_indices("crate::").chain(code.match_indices("super::")) {
        if start > 0 && code[..start].chars().last().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        {
            continue;
        }
        let rest = &code[start..];
        let end = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
        let path = &rest[..end];
        let mut parts: Vec<String> = path.split("::").filter(|p| !p.is_empty()).map(str::to_owned).collect();
        // Resolve `super` against the file's own module (a mod.rs is its folder's module).
        let mut base: Vec<String> = own.to_vec();
        if parts[0] == "super" {
            if !is_mod_file || !base.is_empty() {
                base.pop();
            }
            parts.remove(0);
            while parts.first().is_some_and(|p| p == "super") {
                base.pop();
                parts.remove(0);
            }
        } else {
            base.clear();
            parts.remove(0);
        }
        let groups: Vec<Vec<String>> = if rest[end..].starts_with('{') {
            let close = rest[end..].find('}').map_or(rest.len(), |i| end + i);
            rest[end + 1..close]
                .split(',')
                .map(|g| g.trim().split("::").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
                .collect()
        } else {
            vec![Vec::new()]
        };
        for g in groups {
            let mut full = base.clone();
            full.extend(parts.iter().cloned());
            full.extend(g.into_iter().filter(|s| s != "self"));
            out.push(full);
        }
    }
    out
}

/// The longest prefix of `path` that is a file of the library.
fn resolve(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains(p))
}

#[test]
fn layering() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let order = layers(&src);
    assert!(order.len() > 10, "lib.rs declares {order:?}");
    let rank = |m: &str| order.iter().position(|o| o == m);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut upward = Vec::new();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let own = module_of(&src, file);
        if own.is_empty() || own == ["layering"] {
            continue;
        }
        let is_mod = file.file_name().is_some_and(|n| n == "mod.rs");
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for reference in references(&code, &own, is_mod) {
            let Some(target) = resolve(&reference, &modules) else { continue };
            let (from, to) = (rank(&own[0]), rank(&target[0]));
            if let (Some(from), Some(to)) = (from, to) {
                if to < from {
                    upward.push(format!("{}: imports {} (above {})", file.display(), reference.join("::"), own[0]));
                }
            }
            // A folder's mod.rs declaring or re-exporting its children is not a dependency.
            let declares = is_mod && target.len() > own.len() && target.starts_with(&own);
            if target != own && !declares {
                edges.entry(own.clone()).or_default().insert(target);
            }
        }
    }
    assert!(upward.is_empty(), "upward imports break the layering of lib.rs:\n{}", upward.join("\n"));

    // No circle among files: depth-first search for a back edge.
    fn visit(
        m: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        match state.get(m) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|s| s == m).unwrap();
                let mut cycle = stack[at..].to_vec();
                cycle.push(m.clone());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(m.clone(), 1);
        stack.push(m.clone());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, edges, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(m.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in edges.keys() {
        let cycle = visit(m, &edges, &mut state, &mut Vec::new());
        let cycle: Vec<String> = cycle.unwrap_or_default().iter().map(|p| p.join("::")).collect();
        assert!(cycle.is_empty(), "an import circle among the library's files: {}", cycle.join(" → "));
    }
}
