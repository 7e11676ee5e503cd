// One definition, included by the build scripts and by sgdnoise_core::host (which reads the
// version at run time without loading libtorch).

/// The version of the libtorch in `lib_dir` (its `lib/`): `version.py` beside it in a PyPI wheel,
/// `build-version` in a libtorch archive.
pub fn libtorch_version(lib_dir: &std::path::Path) -> Option<String> {
    let root = lib_dir.parent()?;
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("__version__") {
                let v = rest.trim_start_matches([' ', '=', ':']).trim_start_matches("str").trim();
                return Some(v.trim_matches(|c| c == '\'' || c == '"').to_owned());
            }
        }
    }
    std::fs::read_to_string(root.join("build-version")).ok().map(|s| s.trim().to_owned())
}
