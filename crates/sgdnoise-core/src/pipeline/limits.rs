//! The bounds on what a pipeline file may ask for, each a named constant with its reason. A file
//! past one is refused with a message that names the constant and points at the text, before
//! anything in proportion to the request is allocated: no input, however hostile, takes the
//! memory or the time of the machine.

pub use super::located::{MAX_ALIAS_EXPANSION, MAX_NESTING};

/// The largest pipeline file read, in bytes (the paper's whole grid is 9 kB). Only regular files
/// are read: not a FIFO, a device (`/dev/zero`) or a folder.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The most stages in one pipeline (the paper's has a few dozen).
pub const MAX_STAGES: usize = 1_000;

/// The most instances over all stages of a pipeline, counted as each sweep is expanded and
/// before its points are allocated (the paper's grid has 17k; parsing 50k takes about 0.5 s and 250 MB).
pub const MAX_INSTANCES: usize = 50_000;

/// The longest pipeline name, stage name or quoted value shown in full in a message; longer ones
/// are cut, with their length.
pub const MAX_QUOTE: usize = 80;

/// The longest instance id or file name the tool writes as one path component (Linux allows 255).
pub const MAX_COMPONENT_BYTES: usize = 240;

/// Whether `name` is safe as one path component of a folder or file the tool writes (an exported
/// instance's folder, an output file): not empty, not `.` or `..`, not hidden (a leading `.`), no
/// `/`, `\` or control character, at most [`MAX_COMPONENT_BYTES`] bytes. Spaces and other text
/// are fine (`report[title=SGD vs GD]`).
pub fn is_path_component(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_COMPONENT_BYTES
        && !name.starts_with('.')
        && !name.chars().any(|c| c == '/' || c == '\\' || c.is_control())
}

/// Whether `name` is a pipeline name: it names `reports/<name>/`, so letters, digits, `_`, `-`
/// and `.` (not first), at most [`MAX_QUOTE`] bytes.
pub fn is_pipeline_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_QUOTE
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// `text`, cut to [`MAX_QUOTE`] characters with its length when longer.
pub fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTE {
        return text.to_owned();
    }
    let head: String = text.chars().take(MAX_QUOTE).collect();
    format!("{head}… ({} bytes)", text.len())
}

/// A message with every span between backticks or double quotes longer than [`MAX_QUOTE`]
/// cut (messages quote what the file said; a 100 MB scalar is not echoed).
pub fn clip_quoted(message: &str) -> String {
    if message.len() <= 4 * MAX_QUOTE {
        return message.to_owned();
    }
    let mut out = String::new();
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let q = rest.as_bytes()[open] as char;
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let close = rest.find(q).unwrap_or(rest.len());
        out.push_str(&clip(&rest[..close]));
        rest = &rest[close..];
        if let Some(stripped) = rest.strip_prefix(q) {
            out.push(q);
            rest = stripped;
        }
    }
    out.push_str(&clip(rest));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components_cannot_escape_or_hide() {
        for ok in ["paper-cpu", "report[title=a b]", "train[P=256,T=0.25,seed=0]", "index.html", "fig_1.svg", "é"] {
            assert!(is_path_component(ok), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "/etc", ".hidden", "a\\b", "a\0b", "a\nb", &"x".repeat(241)] {
            assert!(!is_path_component(bad), "{bad:?}");
        }
        assert!(is_pipeline_name("paper-cpu") && is_pipeline_name("v1.2"));
        for bad in ["../../../x", "/abs", "a/..", ".", "", "a b", &"n".repeat(81)] {
            assert!(!is_pipeline_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn long_quotes_are_cut_with_their_length() {
        let big = "y".repeat(10_000);
        let m = clip_quoted(&format!("unknown stage kind `{big}` (known: train)"));
        assert_eq!(m, format!("unknown stage kind `{}… (10000 bytes)` (known: train)", "y".repeat(MAX_QUOTE)));
        let m = clip_quoted(&format!("invalid type: string \"{big}\", expected a map"));
        assert!(m.len() < 200 && m.ends_with("\", expected a map"), "{m}");
        assert_eq!(clip_quoted("short `x`"), "short `x`");
    }
}
