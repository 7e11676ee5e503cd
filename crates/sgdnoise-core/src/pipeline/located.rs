//! The one YAML front end: yaml-rust2's marked events build a tree that remembers where each node
//! is, rejects duplicate keys, and is itself a serde `Deserializer`, so a typed spec is read
//! straight from it and every error, serde's own included, carries the position and key path of
//! the node it is about (`stages.train.sweep.grid.T`). Nothing rewrites another parser's messages.
//!
//! Plain scalars resolve by YAML 1.2's core schema (null, booleans, integers, floats, strings);
//! quoted scalars are strings. Infinite and NaN numbers are rejected: no parameter takes them.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A scalar's text; `plain` when unquoted (only plain scalars resolve to non-strings).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Keys (scalars) and values, in file order.
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub pos: Pos,
}

/// A syntax error, a duplicate key or a value of the wrong shape, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LocatedError {
    pub pos: Pos,
    pub path: String,
    pub message: String,
}

fn pos(m: &Marker) -> Pos {
    Pos { line: m.line(), col: m.col() + 1 }
}

/// The most a pipeline's aliases may add to its tree, in nodes plus scalar bytes. A pipeline
/// reuses an anchor a few times (a list of seeds, a shared `params` map); a "billion laughs"
/// bomb of aliases to aliases multiplies at every level, and is refused here before its copies
/// are made, within a few milliseconds and a few megabytes.
pub const MAX_ALIAS_EXPANSION: usize = 1 << 18;

/// The deepest a pipeline's collections may nest. Pipelines nest six levels; a bound keeps the
/// tree's recursive walks (checks, deserialisation, drop) off the end of the stack.
pub const MAX_NESTING: usize = 64;

/// One open collection: the node, a key read and waiting for its value, its anchor id, and
/// its weight so far (see [`MAX_ALIAS_EXPANSION`]).
struct Open {
    node: Node,
    pending_key: Option<Node>,
    anchor: usize,
    weight: usize,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    /// Anchored nodes with their weights.
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    /// What aliases have added so far.
    expanded: usize,
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize, weight: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), weight));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(open) => {
                open.weight += weight;
                match &mut open.node.kind {
                    NodeKind::Seq(items) => items.push(node),
                    NodeKind::Map(entries) => match open.pending_key.take() {
                        None => open.pending_key = Some(node),
                        Some(key) => entries.push((key, node)),
                    },
                    NodeKind::Scalar { .. } => unreachable!("only collections are pushed on the stack"),
                }
            }
        }
    }

    fn open(&mut self, kind: NodeKind, pos: Pos, anchor: usize) -> Result<(), LocatedError> {
        if self.stack.len() >= MAX_NESTING {
            return Err(LocatedError {
                pos,
                path: String::new(),
                message: format!("collections nest deeper than {MAX_NESTING} levels (MAX_NESTING)"),
            });
        }
        self.stack.push(Open { node: Node { kind, pos }, pending_key: None, anchor, weight: 1 });
        Ok(())
    }

    fn on_event(&mut self, ev: Event, mark: Marker) -> Result<(), LocatedError> {
        let p = pos(&mark);
        match ev {
            Event::Scalar(text, style, anchor, _) => {
                let plain = style == TScalarStyle::Plain;
                let weight = 1 + text.len();
                self.push_value(Node { kind: NodeKind::Scalar { text, plain }, pos: p }, anchor, weight)
            }
            Event::Alias(id) => {
                // The parser rejects unknown anchors; the aliased node keeps its own position.
                if let Some((node, weight)) = self.anchors.get(&id) {
                    let (node, weight) = (node.clone(), *weight);
                    self.expanded = self.expanded.saturating_add(weight);
                    if self.expanded > MAX_ALIAS_EXPANSION {
                        return Err(LocatedError {
                            pos: p,
                            path: String::new(),
                            message: format!(
                                "aliases expand the document past {MAX_ALIAS_EXPANSION} nodes and bytes \
                                 (MAX_ALIAS_EXPANSION): an alias bomb?"
                            ),
                        });
                    }
                    self.push_value(node, 0, weight);
                }
            }
            Event::SequenceStart(anchor, _) => self.open(NodeKind::Seq(Vec::new()), p, anchor)?,
            Event::MappingStart(anchor, _) => self.open(NodeKind::Map(Vec::new()), p, anchor)?,
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(open) = self.stack.pop() {
                    self.push_value(open.node, open.anchor, open.weight);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Parses `text` into a located tree; rejects syntax errors, duplicate keys, alias bombs and
/// nesting past [`MAX_NESTING`]. Only the first document is read.
pub fn parse(text: &str) -> Result<Option<Node>, LocatedError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    loop {
        let (ev, mark) = parser.next_token().map_err(|e| LocatedError {
            pos: pos(e.marker()),
            path: String::new(),
            message: format!("invalid YAML: {}", e.info()),
        })?;
        if matches!(ev, Event::DocumentEnd | Event::StreamEnd) {
            break;
        }
        builder.on_event(ev, mark)?;
    }
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
            let mut seen: std::collections::HashMap<&str, Pos> = std::collections::HashMap::new();
            for (k, v) in entries {
                let key = k.scalar().unwrap_or("?");
                if let Some(first) = seen.get(key) {
                    return Err(LocatedError {
                        pos: k.pos,
                        path: join(path, key),
                        message: format!("duplicate key `{key}` (first at line {})", first.line),
                    });
                }
                seen.insert(key, k.pos);
                check_duplicates(v, &join(path, key))?;
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                check_duplicates(item, &format!("{path}[{i}]"))?;
            }
        }
        NodeKind::Scalar { .. } => {}
    }
    Ok(())
}

/// What a plain scalar means under the core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

fn resolve(text: &str) -> Resolved<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map(Resolved::Int).unwrap_or_else(|_| Resolved::Float(text.parse().unwrap_or(f64::NAN)));
    }
    let numeric = digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    match text.parse::<f64>() {
        Ok(f) if numeric => Resolved::Float(f),
        _ => Resolved::Str(text),
    }
}

impl Node {
    /// The text of a scalar node.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether the node is an explicit or empty null.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, plain: true } if resolve(text) == Resolved::Null)
    }

    /// The position of the deepest node along `path` (dotted keys, `[i]` for sequence items);
    /// for a map entry, the position of its key.
    pub fn locate(&self, path: &str) -> Pos {
        let mut node = self;
        let mut best = self.pos;
        for part in split_path(path) {
            let next = match (&node.kind, part) {
                (NodeKind::Map(entries), PathPart::Key(k)) => {
                    entries.iter().find(|(key, _)| key.scalar() == Some(k)).map(|(key, v)| (key.pos, v))
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
                    &entries.iter().find(|(key, _)| key.scalar() == Some(k))?.1
                }
                (NodeKind::Seq(items), PathPart::Index(i)) => items.get(i)?,
                _ => return None,
            };
        }
        Some(node.pos)
    }

    /// Deserialises the tree (a whole document) into `T`; an error names the node it is about,
    /// and one about the document as a whole (a missing top-level field) points at its start.
    pub fn deserialize<'de, T: de::Deserialize<'de>>(&self) -> Result<T, LocatedError> {
        let start = Pos { line: 1, col: 1 };
        T::deserialize(De { node: self, path: String::new(), key: Some(start) }).map_err(|e| e.located(start, ""))
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

/// A deserialisation error, located by the innermost node that saw it.
#[derive(Debug)]
pub struct DeError {
    at: Option<(Pos, String)>,
    message: String,
}

impl DeError {
    fn at(pos: Pos, path: &str, message: impl Into<String>) -> Self {
        DeError { at: Some((pos, path.to_owned())), message: message.into() }
    }

    /// Keeps the innermost location; a raw serde error takes this one.
    fn or_at(self, pos: Pos, path: &str) -> Self {
        match self.at {
            Some(_) => self,
            None => DeError { at: Some((pos, path.to_owned())), message: self.message },
        }
    }

    fn located(self, pos: Pos, path: &str) -> LocatedError {
        let (pos, path) = self.at.unwrap_or((pos, path.to_owned()));
        LocatedError { pos, path, message: self.message }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError { at: None, message: msg.to_string() }
    }
}

/// A node being deserialised, with its key path and the position of its key, if it has one.
struct De<'a> {
    node: &'a Node,
    path: String,
    key: Option<Pos>,
}

impl<'a> De<'a> {
    fn unexpected(&self) -> de::Unexpected<'a> {
        match &self.node.kind {
            NodeKind::Seq(_) => de::Unexpected::Seq,
            NodeKind::Map(_) => de::Unexpected::Map,
            NodeKind::Scalar { text, plain: false } => de::Unexpected::Str(text),
            NodeKind::Scalar { text, plain: true } => match resolve(text) {
                Resolved::Null => de::Unexpected::Unit,
                Resolved::Bool(b) => de::Unexpected::Bool(b),
                Resolved::Int(i) => de::Unexpected::Signed(i),
                Resolved::Float(f) => de::Unexpected::Float(f),
                Resolved::Str(s) => de::Unexpected::Str(s),
            },
        }
    }

    fn wrong<V>(&self, exp: &dyn de::Expected) -> Result<V, DeError> {
        Err(DeError::at(
            self.node.pos,
            &self.path,
            <DeError as de::Error>::invalid_type(self.unexpected(), exp).message,
        ))
    }

    /// Locates an error a visitor raised about this node as a whole (a missing field): at its
    /// key for a collection, at the value for a scalar.
    fn here<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        let pos = match self.node.kind {
            NodeKind::Scalar { .. } => self.node.pos,
            _ => self.key.unwrap_or(self.node.pos),
        };
        r.map_err(|e| e.or_at(pos, &self.path))
    }
}

macro_rules! forward_to_any {
    ($($name:ident)*) => {
        $(fn $name<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.deserialize_any(visitor)
        })*
    };
}

impl<'de> de::Deserializer<'de> for De<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.kind {
            NodeKind::Scalar { text, plain: false } => visitor.visit_str(text),
            NodeKind::Scalar { text, plain: true } => match resolve(text) {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) => visitor.visit_i64(i),
                Resolved::Float(f) if f.is_finite() => visitor.visit_f64(f),
                Resolved::Float(_) => {
                    return Err(DeError::at(self.node.pos, &self.path, format!("invalid number `{text}`")))
                }
                Resolved::Str(s) => visitor.visit_str(s),
            },
            NodeKind::Seq(items) => visitor.visit_seq(Items { items: items.iter(), index: 0, path: &self.path }),
            NodeKind::Map(entries) => {
                visitor.visit_map(Entries { entries: entries.iter(), value: None, path: &self.path })
            }
        };
        self.here(result)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    /// Any non-null scalar reads as a string where one is expected (`name: 2024`).
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Scalar { text, .. } if !self.node.is_null() => {
                let r = visitor.visit_str(text);
                self.here(r)
            }
            _ => self.wrong(&visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Seq(_) => self.deserialize_any(visitor),
            _ => self.wrong(&visitor),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Map(_) => self.deserialize_any(visitor),
            _ => self.wrong(&visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    /// Unit variants, written as their name (`act: gelu`).
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Scalar { text, .. } if !self.node.is_null() => {
                let r = visitor.visit_enum(text.as_str().into_deserializer());
                self.here(r)
            }
            _ => self.wrong(&visitor),
        }
    }

    forward_to_any! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_u8
        deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_bytes deserialize_byte_buf deserialize_unit deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }
}

struct Items<'a> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
    path: &'a str,
}

impl<'de> de::SeqAccess<'de> for Items<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else { return Ok(None) };
        let path = format!("{}[{}]", self.path, self.index);
        self.index += 1;
        seed.deserialize(De { node, path: path.clone(), key: None }).map(Some).map_err(|e| e.or_at(node.pos, &path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Entries<'a> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    /// The value of the key just read, with the key's position and the path.
    value: Option<(&'a Node, Pos, String)>,
    path: &'a str,
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        let Some(text) = key.scalar() else {
            return Err(DeError::at(key.pos, self.path, "keys must be strings"));
        };
        let path = join(self.path, text);
        let k =
            seed.deserialize(de::value::StrDeserializer::<DeError>::new(text)).map_err(|e| e.or_at(key.pos, &path))?;
        self.value = Some((value, key.pos, path));
        Ok(Some(k))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (node, key, path) = self.value.take().expect("a value follows its key");
        seed.deserialize(De { node, path: path.clone(), key: Some(key) }).map_err(|e| e.or_at(node.pos, &path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A mapping read in file order (keys are unique: the tree rejects duplicates).
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<V> Ordered<V> {
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de, V: de::Deserialize<'de>> de::Deserialize<'de> for Ordered<V> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: de::Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered<V>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, V>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(OrderedVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

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

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let root = parse("a: [1, -2, 0.5, 1e3, '7', 2^-6, true, ~, x1, .5, inf]\n").unwrap().unwrap();
        let v: serde_json::Value = root.deserialize().unwrap();
        assert_eq!(v, serde_json::json!({"a": [1, -2, 0.5, 1000.0, "7", "2^-6", true, null, "x1", 0.5, "inf"]}));
        let nan = parse("a:\n  b: .nan\n").unwrap().unwrap().deserialize::<serde_json::Value>().unwrap_err();
        assert_eq!(
            (nan.pos, nan.path.as_str(), nan.message.as_str()),
            (Pos { line: 2, col: 6 }, "a.b", "invalid number `.nan`")
        );
    }

    #[test]
    fn serde_errors_name_the_innermost_node() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Inner {
            kind: String,
            #[serde(default)]
            needs: Vec<String>,
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Top {
            name: String,
            stages: Ordered<Inner>,
        }
        let err = |text: &str| {
            let e = parse(text).unwrap().unwrap().deserialize::<Top>().unwrap_err();
            format!("{}:{}: {}: {}", e.pos.line, e.pos.col, if e.path.is_empty() { "-" } else { &e.path }, e.message)
        };
        assert_eq!(
            err("name: t\nstages:\n  a: { kind: x, nedds: [] }\n"),
            "3:17: stages.a.nedds: unknown field `nedds`, expected `kind` or `needs`"
        );
        assert_eq!(err("name: t\nstages:\n  a:\n    needs: []\n"), "3:3: stages.a: missing field `kind`");
        assert_eq!(
            err("name: t\nstages:\n  a: { kind: x, needs: b }\n"),
            "3:24: stages.a.needs: invalid type: string \"b\", expected a sequence"
        );
        assert_eq!(err("stages: {}\n"), "1:1: -: missing field `name`");
        let ok: Top = parse("name: 2024\nstages:\n  b: { kind: x }\n  a: { kind: y, needs: [b] }\n")
            .unwrap()
            .unwrap()
            .deserialize()
            .unwrap();
        assert_eq!(ok.name, "2024");
        assert_eq!(ok.stages.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["b", "a"]);
    }
}
