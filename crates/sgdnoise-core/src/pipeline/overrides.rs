//! `--set PATH=VALUE`: a variant of a pipeline without editing its file. The value is YAML
//! (`2^-4`, `"0..3"`, `[256, 512]`, `{ T: 0.5 }`) and replaces, or adds, the node at PATH of the
//! parsed file before it is validated, so a variant is checked exactly as a file would be.
//!
//! PATH is dot-separated keys. `name`, `description`, `defaults.…` and `stages.…` are taken as
//! they are; any other path is under `stages` (`train.params.max_steps`,
//! `train.sweep.grid.seed`). The stage must exist. Nodes set this way carry line 0, which errors
//! show as `(--set)`.

use std::str::FromStr;

use super::located::{self, Node, NodeKind, Pos};

/// One `--set PATH=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The keys from the file's root.
    pub path: Vec<String>,
    /// The value as given (YAML).
    pub value: String,
}

/// Why an override cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--set {given}: {message}")]
pub struct OverrideError {
    pub given: String,
    pub message: String,
}

impl FromStr for Override {
    type Err = OverrideError;

    fn from_str(given: &str) -> Result<Override, OverrideError> {
        let err = |message: &str| OverrideError { given: given.to_owned(), message: message.to_owned() };
        let (path, value) =
            given.split_once('=').ok_or_else(|| err("expected PATH=VALUE, e.g. train.params.max_steps=2^20"))?;
        let mut keys: Vec<String> = path.trim().split('.').map(str::to_owned).collect();
        if keys.iter().any(|k| k.is_empty()) {
            return Err(err("a path is keys joined by dots, e.g. train.sweep.grid.seed"));
        }
        if !matches!(keys[0].as_str(), "name" | "description" | "defaults" | "stages") {
            keys.insert(0, "stages".to_owned());
        }
        if keys[0] == "stages" && keys.len() < 3 {
            return Err(err("name a stage's field, e.g. train.params.T or train.sweep.grid.seed"));
        }
        Ok(Override { path: keys, value: value.to_owned() })
    }
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path[0] == "stages" { &self.path[1..] } else { &self.path[..] };
        write!(f, "{}={}", path.join("."), self.value)
    }
}

/// Marks a node and everything under it as given on the command line.
fn from_command_line(node: &mut Node) {
    node.pos = Pos { line: 0, col: 0 };
    match &mut node.kind {
        NodeKind::Scalar { .. } => {}
        NodeKind::Seq(items) => items.iter_mut().for_each(from_command_line),
        NodeKind::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            from_command_line(k);
            from_command_line(v);
        }),
    }
}

fn key(text: &str) -> Node {
    Node { kind: NodeKind::Scalar { text: text.to_owned(), plain: true }, pos: Pos { line: 0, col: 0 } }
}

/// Sets `o`'s value at its path in `tree`, adding the keys that are missing.
pub fn apply(tree: &mut Node, o: &Override) -> Result<(), OverrideError> {
    let err = |message: String| OverrideError { given: o.to_string(), message };
    let parsed = located::parse(&o.value).map_err(|e| err(format!("the value is not YAML: {}", e.message)))?;
    let mut value = parsed.unwrap_or_else(|| key("~"));
    from_command_line(&mut value);
    if o.path[0] == "stages" {
        let stages = find(tree, "stages");
        let known: Vec<String> = match stages.map(|s| &s.kind) {
            Some(NodeKind::Map(entries)) => entries.iter().filter_map(|(k, _)| k.scalar().map(str::to_owned)).collect(),
            _ => Vec::new(),
        };
        if !known.contains(&o.path[1]) {
            return Err(err(format!("no stage `{}` (stages: {})", o.path[1], known.join(", "))));
        }
    }
    let mut node = tree;
    for (depth, k) in o.path.iter().enumerate() {
        let NodeKind::Map(entries) = &mut node.kind else {
            return Err(err(format!("`{}` is not a mapping", o.path[..depth].join("."))));
        };
        let at = match entries.iter().position(|(key, _)| key.scalar() == Some(k)) {
            Some(i) => i,
            None => {
                entries.push((key(k), Node { kind: NodeKind::Map(Vec::new()), pos: Pos { line: 0, col: 0 } }));
                entries.len() - 1
            }
        };
        if depth + 1 == o.path.len() {
            entries[at].0.pos = Pos { line: 0, col: 0 };
            entries[at].1 = value;
            return Ok(());
        }
        node = &mut entries[at].1;
    }
    unreachable!("a path has at least one key")
}

fn find<'a>(tree: &'a Node, k: &str) -> Option<&'a Node> {
    match &tree.kind {
        NodeKind::Map(entries) => entries.iter().find(|(key, _)| key.scalar() == Some(k)).map(|(_, v)| v),
        _ => None,
    }
}

/// The name of a variant: the pipeline's own name, then `-set-` and 8 hex digits of the
/// overrides, so that its report folder is its own. An override of `name` names it instead.
pub fn variant_name(name: &str, overrides: &[Override]) -> String {
    if overrides.is_empty() || overrides.iter().any(|o| o.path == ["name"]) {
        return name.to_owned();
    }
    let text: Vec<String> = overrides.iter().map(ToString::to_string).collect();
    format!("{name}-set-{}", &blake3::hash(text.join("\n").as_bytes()).to_hex()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Node {
        located::parse(text).unwrap().unwrap()
    }

    #[test]
    fn a_path_is_under_stages_unless_it_names_the_root() {
        let o: Override = "train.params.T=2^-4".parse().unwrap();
        assert_eq!(o.path, ["stages", "train", "params", "T"]);
        assert_eq!(o.to_string(), "train.params.T=2^-4");
        let o: Override = "defaults.train.max_steps=100".parse().unwrap();
        assert_eq!(o.path, ["defaults", "train", "max_steps"]);
        assert!("train.params.T".parse::<Override>().unwrap_err().message.contains("PATH=VALUE"));
        assert!("train=1".parse::<Override>().is_err());
        assert!("train..T=1".parse::<Override>().is_err());
    }

    #[test]
    fn a_value_replaces_or_adds_and_a_missing_stage_is_named() {
        let mut t = tree("name: x\nstages:\n  train:\n    kind: train\n    sweep: { grid: { seed: \"0..1\" } }\n");
        apply(&mut t, &"train.sweep.grid.seed=0..3".parse().unwrap()).unwrap();
        apply(&mut t, &"train.params.T=[0.5, 1]".parse().unwrap()).unwrap();
        let stages = find(&t, "stages").unwrap();
        let train = find(stages, "train").unwrap();
        let seed = find(find(find(train, "sweep").unwrap(), "grid").unwrap(), "seed").unwrap();
        assert_eq!(seed.scalar(), Some("0..3"));
        assert_eq!(seed.pos.line, 0, "marked as from the command line");
        assert!(matches!(&find(find(train, "params").unwrap(), "T").unwrap().kind, NodeKind::Seq(v) if v.len() == 2));
        let e = apply(&mut t, &"trian.params.T=1".parse().unwrap()).unwrap_err();
        assert_eq!(e.to_string(), "--set trian.params.T=1: no stage `trian` (stages: train)");
        let e = apply(&mut t, &"train.kind.x=1".parse().unwrap()).unwrap_err();
        assert_eq!(e.message, "`stages.train.kind` is not a mapping");
    }

    #[test]
    fn a_variant_has_its_own_name_unless_it_sets_one() {
        let o: Vec<Override> = vec!["train.params.T=1".parse().unwrap()];
        let v = variant_name("quick", &o);
        assert!(v.starts_with("quick-set-") && v.len() == "quick-set-".len() + 8, "{v}");
        assert_ne!(v, variant_name("quick", &["train.params.T=2".parse().unwrap()]));
        assert_eq!(variant_name("quick", &[]), "quick");
        assert_eq!(variant_name("quick", &["name=big".parse().unwrap(), o[0].clone()]), "quick");
    }
}
