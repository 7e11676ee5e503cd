//! A YAML tree that remembers where each node is, so that every error can point at the text.
//!
//! serde_yaml deserialises the typed spec but forgets positions and silently keeps the last of
//! duplicate keys; this tree, built from yaml-rust2's marked events, rejects duplicate keys and
//! maps a key path (`stages.train.sweep.grid.T`) back to a line and column.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Scalar(String),
    Seq(Vec<Node>),
    /// Keys (scalars) and values, in file order.
    Map(Vec<(Node, Node)>),
    Alias,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub pos: Pos,
}

/// A syntax error or a duplicate key, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedError {
    pub pos: Pos,
    pub path: String,
    pub message: String,
}

fn pos(m: &Marker) -> Pos {
    Pos { line: m.line(), col: m.col() + 1 }
}

#[derive(Default)]
struct Builder {
    stack: Vec<(Node, Option<Node>)>,
    root: Option<Node>,
}

impl Builder {
    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some((parent, pending_key)) => match &mut parent.kind {
                NodeKind::Seq(items) => items.push(node),
                NodeKind::Map(entries) => match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => entries.push((key, node)),
                },
                _ => unreachable!("only collections are pushed on the stack"),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let p = pos(&mark);
        match ev {
            Event::Scalar(value, ..) => self.push_value(Node { kind: NodeKind::Scalar(value), pos: p }),
            Event::Alias(_) => self.push_value(Node { kind: NodeKind::Alias, pos: p }),
            Event::SequenceStart(..) => self.stack.push((Node { kind: NodeKind::Seq(Vec::new()), pos: p }, None)),
            Event::MappingStart(..) => self.stack.push((Node { kind: NodeKind::Map(Vec::new()), pos: p }, None)),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, _)) = self.stack.pop() {
                    self.push_value(node);
                }
            }
            _ => {}
        }
    }
}

/// Parses `text` into a located tree; rejects syntax errors and duplicate keys.
pub fn parse(text: &str) -> Result<Option<Node>, LocatedError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| LocatedError {
        pos: pos(e.marker()),
        path: String::new(),
        message: format!("invalid YAML: {}", e.info()),
    })?;
    if let Some(root) = &builder.root {
        check_duplicates(root, "")?;
    }
    Ok(builder.root)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn check_duplicates(node: &Node, path: &str) -> Result<(), LocatedError> {
    match &node.kind {
        NodeKind::Map(entries) => {
            let mut seen: Vec<(&str, Pos)> = Vec::new();
            for (k, v) in entries {
                let key = scalar(k).unwrap_or("?");
                if let Some((_, first)) = seen.iter().find(|(s, _)| *s == key) {
                    return Err(LocatedError {
                        pos: k.pos,
                        path: join(path, key),
                        message: format!("duplicate key `{key}` (first at line {})", first.line),
                    });
                }
                seen.push((key, k.pos));
                check_duplicates(v, &join(path, key))?;
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                check_duplicates(item, &format!("{path}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn scalar(node: &Node) -> Option<&str> {
    match &node.kind {
        NodeKind::Scalar(s) => Some(s),
        _ => None,
    }
}

impl Node {
    /// The position of the deepest node along `path` (dotted keys, `[i]` for sequence items);
    /// for a map entry, the position of its key.
    pub fn locate(&self, path: &str) -> Pos {
        let mut node = self;
        let mut best = self.pos;
        for part in split_path(path) {
            let next = match (&node.kind, part) {
                (NodeKind::Map(entries), PathPart::Key(k)) => {
                    entries.iter().find(|(key, _)| scalar(key) == Some(k)).map(|(key, v)| (key.pos, v))
                }
                (NodeKind::Seq(items), PathPart::Index(i)) => items.get(i).map(|v| (v.pos, v)),
                _ => None,
            };
            match next {
                Some((p, v)) => {
                    best = p;
                    node = v;
                }
                None => break,
            }
        }
        best
    }

    /// The position of the value at `path` (not its key), when it exists.
    pub fn value_pos(&self, path: &str) -> Option<Pos> {
        let mut node = self;
        for part in split_path(path) {
            node = match (&node.kind, part) {
                (NodeKind::Map(entries), PathPart::Key(k)) => {
                    &entries.iter().find(|(key, _)| scalar(key) == Some(k))?.1
                }
                (NodeKind::Seq(items), PathPart::Index(i)) => items.get(i)?,
                _ => return None,
            };
            let _ = &node;
        }
        Some(node.pos)
    }
}

#[derive(Debug, Clone, Copy)]
enum PathPart<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<PathPart<'_>> {
    let mut out = Vec::new();
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let (key, rest) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        if !key.is_empty() {
            out.push(PathPart::Key(key));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(PathPart::Index(i));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_keys_and_rejects_duplicates() {
        let text = "name: x\nstages:\n  train:\n    kind: train\n    params: { P: 1, T: 2 }\n";
        let root = parse(text).unwrap().unwrap();
        assert_eq!(root.locate("stages.train.kind"), Pos { line: 4, col: 5 });
        assert_eq!(root.locate("stages.train.params.T"), Pos { line: 5, col: 21 });
        assert_eq!(root.value_pos("stages.train.kind"), Some(Pos { line: 4, col: 11 }));
        // A missing key falls back to the deepest existing node.
        assert_eq!(root.locate("stages.train.sweep.grid"), Pos { line: 3, col: 3 });
        let dup = "stages:\n  a:\n    kind: train\n    kind: fit\n";
        let err = parse(dup).unwrap_err();
        assert_eq!(err.pos, Pos { line: 4, col: 5 });
        assert_eq!(err.path, "stages.a.kind");
        assert_eq!(err.message, "duplicate key `kind` (first at line 3)");
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse("stages:\n  a: [1, 2\n").unwrap_err();
        assert!(err.message.starts_with("invalid YAML: "), "{err:?}");
        assert!(err.pos.line >= 2);
    }
}
