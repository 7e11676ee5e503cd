//! Typed stage parameters: each stage kind declares its parameters as one
//! `#[serde(deny_unknown_fields)]` struct whose serde defaults are the only defaults. A user's
//! values resolve through that struct and are serialised back into [`Params`], the canonical
//! form that is keyed, stored in job files and shown by `plan`, so that `T: 1`, `T: 1.0` and
//! `T: 2^0` give the same key. Errors name the parameter as a value, not inside a message.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::Serialize;
use serde_json::Value;

pub use crate::canonical::Params;
pub use crate::numbers::{num, parse_number};

/// What is wrong with one parameter of an instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamErrorKind {
    #[error("unknown parameter ({})", known_list(.known))]
    Unknown { known: Vec<&'static str> },
    #[error("required parameter is missing")]
    Missing,
    /// A value of the wrong type or out of its set, in serde's or our words.
    #[error("{0}")]
    Invalid(String),
}

fn known_list(known: &[&str]) -> String {
    if known.is_empty() {
        "this kind takes none".into()
    } else {
        format!("known: {}", known.join(", "))
    }
}

/// A parameter error, with the parameter it is about (empty when serde could not tell).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParamError {
    pub param: String,
    pub kind: ParamErrorKind,
}

impl de::Error for ParamError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ParamError { param: String::new(), kind: ParamErrorKind::Invalid(msg.to_string()) }
    }

    fn missing_field(field: &'static str) -> Self {
        ParamError { param: field.to_owned(), kind: ParamErrorKind::Missing }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        ParamError { param: field.to_owned(), kind: ParamErrorKind::Unknown { known: expected.to_vec() } }
    }
}

/// Where a stage kind's check found a problem: one parameter, the `needs` list, or the stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamAt {
    Param(String),
    Needs,
    Stage,
}

/// A kind's check failed: where, and why (in words for the located message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CheckError {
    pub at: ParamAt,
    pub message: String,
}

impl CheckError {
    pub fn param(name: &str, message: impl Into<String>) -> Self {
        CheckError { at: ParamAt::Param(name.to_owned()), message: message.into() }
    }

    pub fn needs(message: impl Into<String>) -> Self {
        CheckError { at: ParamAt::Needs, message: message.into() }
    }
}

impl From<ParamError> for CheckError {
    fn from(e: ParamError) -> Self {
        CheckError::param(&e.param, e.kind.to_string())
    }
}

/// A kind's parameter struct, seen without its type: what the pipeline front end and the
/// planner need of it.
pub trait Schema: Sync {
    /// The parameter names, in declaration order.
    fn fields(&self) -> &'static [&'static str];
    /// Resolves given values (defaults applied, numbers normalised) into canonical [`Params`].
    fn resolve(&self, given: &Params) -> Result<Params, ParamError>;
    /// Checks one value on its own (a default in the file's `defaults:` block).
    fn check_value(&self, name: &str, value: &Value) -> Result<(), ParamError>;
    /// Each parameter with its type, default and meaning, read off the struct (its doc
    /// comments and serde defaults): what `sgdnoise kinds` and the README show.
    fn docs(&self) -> Vec<ParamDoc>;
}

/// One parameter of a kind, as its struct declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDoc {
    pub name: &'static str,
    /// `number`, `integer`, `string`, `map`, or the names an enum takes (`relu | gelu`).
    pub ty: String,
    /// The serde default; `None` for a required parameter or one that is absent by default.
    pub default: Option<Value>,
    pub required: bool,
    /// The field's doc comment.
    pub doc: String,
}

/// A property's type in words, following `$ref`s and dropping `null` (an optional value).
fn type_text(p: &Value, root: &Value) -> String {
    if let Some(r) = p.get("$ref").and_then(Value::as_str) {
        return type_text(&root["$defs"][r.rsplit('/').next().unwrap_or_default()], root);
    }
    if let Some(names) = p.get("enum").and_then(Value::as_array) {
        return names.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | ");
    }
    let word = |t: &str| if t == "object" { "map".to_owned() } else { t.to_owned() };
    if let Some(any) = p.get("anyOf").or_else(|| p.get("oneOf")).and_then(Value::as_array) {
        let parts: Vec<String> =
            any.iter().filter(|a| a.get("type") != Some(&Value::from("null"))).map(|a| type_text(a, root)).collect();
        return parts.join(" | ");
    }
    match p.get("type") {
        Some(Value::String(t)) => word(t),
        Some(Value::Array(ts)) => {
            ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").map(word).collect::<Vec<_>>().join(" | ")
        }
        _ => "any".into(),
    }
}

/// The [`Schema`] of the parameter struct `T`.
pub struct Typed<T>(PhantomData<fn() -> T>);

impl<T> Typed<T> {
    pub const fn new() -> Self {
        Typed(PhantomData)
    }
}

impl<T> Default for Typed<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: DeserializeOwned + Serialize + schemars::JsonSchema> Schema for Typed<T> {
    fn fields(&self) -> &'static [&'static str] {
        fields_of::<T>()
    }

    fn resolve(&self, given: &Params) -> Result<Params, ParamError> {
        let typed: T = typed(given)?;
        match serde_json::to_value(&typed) {
            Ok(Value::Object(m)) => Ok(m.into_iter().collect()),
            Ok(_) | Err(_) => unreachable!("a parameter struct serialises to an object"),
        }
    }

    fn check_value(&self, name: &str, value: &Value) -> Result<(), ParamError> {
        if !self.fields().contains(&name) {
            return Err(de::Error::unknown_field(name, self.fields()));
        }
        let one: Params = [(name.to_owned(), value.clone())].into_iter().collect();
        match typed::<T>(&one) {
            // The other parameters are not given here: only this one's own error counts.
            Err(e) if e.param == name => Err(e),
            _ => Ok(()),
        }
    }

    fn docs(&self) -> Vec<ParamDoc> {
        let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
        let root = schema.as_value();
        let required: Vec<&str> =
            root["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        self.fields()
            .iter()
            .map(|&name| {
                let p = &root["properties"][name];
                ParamDoc {
                    name,
                    ty: type_text(p, root),
                    default: p.get("default").filter(|d| !d.is_null()).cloned(),
                    required: required.contains(&name),
                    doc: p.get("description").and_then(Value::as_str).unwrap_or_default().replace('\n', " "),
                }
            })
            .collect()
    }
}

/// Reads resolved (or given) parameters as the kind's struct.
pub fn typed<T: DeserializeOwned>(params: &Params) -> Result<T, ParamError> {
    T::deserialize(ParamsDe(params))
}

/// The field names of a struct, read off its `Deserialize` implementation.
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("fields read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// [`Params`] as a serde map whose value errors carry the parameter's name.
struct ParamsDe<'de>(&'de Params);

impl<'de> de::Deserializer<'de> for ParamsDe<'de> {
    type Error = ParamError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_map(ParamsAccess { entries: self.0.iter(), value: None })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct ParamsAccess<'de> {
    entries: std::collections::btree_map::Iter<'de, String, Value>,
    value: Option<(&'de str, &'de Value)>,
}

impl<'de> de::MapAccess<'de> for ParamsAccess<'de> {
    type Error = ParamError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, ParamError> {
        let Some((name, value)) = self.entries.next() else { return Ok(None) };
        self.value = Some((name, value));
        seed.deserialize(name.as_str().into_deserializer()).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ParamError> {
        let (name, value) = self.value.take().expect("a value follows its key");
        seed.deserialize(value)
            .map_err(|e| ParamError { param: name.to_owned(), kind: ParamErrorKind::Invalid(e.to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Example {
        /// The temperature.
        #[serde(rename = "T", deserialize_with = "num::float")]
        t: f64,
        #[serde(rename = "P", default = "sixteen", deserialize_with = "num::int")]
        p: usize,
        #[serde(default, deserialize_with = "num::opt_int")]
        threads: Option<u32>,
    }

    fn sixteen() -> usize {
        16
    }

    const SCHEMA: Typed<Example> = Typed::new();

    fn given(pairs: &[(&str, Value)]) -> Params {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn normalises_numbers_and_applies_defaults() {
        let a = SCHEMA.resolve(&given(&[("T", json!(1))])).unwrap();
        let b = SCHEMA.resolve(&given(&[("T", json!(1.0))])).unwrap();
        assert_eq!(a, b);
        assert_eq!(a["P"], json!(16));
        assert_eq!(a["threads"], Value::Null);
        let c = SCHEMA.resolve(&given(&[("T", json!("2^-6")), ("P", json!("2^5"))])).unwrap();
        assert_eq!((&c["T"], &c["P"]), (&json!(0.015625), &json!(32)));
        assert_eq!(SCHEMA.fields(), ["T", "P", "threads"]);
    }

    #[test]
    fn rejects_bad_values_naming_the_parameter() {
        let bad = |v: Value| {
            let e = SCHEMA.resolve(&given(&[("P", v), ("T", json!(1))])).unwrap_err();
            (e.param.clone(), e.to_string())
        };
        assert_eq!(bad(json!(1.5)), ("P".into(), "expected an integer, got `1.5`".into()));
        assert_eq!(bad(json!("many")), ("P".into(), "expected an integer, got `many`".into()));
        assert_eq!(bad(json!(-3)), ("P".into(), "expected a non-negative integer, got `-3`".into()));
        assert_eq!(bad(json!([1])), ("P".into(), "expected an integer, got a list".into()));
        let missing = SCHEMA.resolve(&Params::new()).unwrap_err();
        assert_eq!(missing, ParamError { param: "T".into(), kind: ParamErrorKind::Missing });
        let unknown = SCHEMA.resolve(&given(&[("X", json!(1))])).unwrap_err();
        assert_eq!(
            (unknown.param.as_str(), unknown.to_string().as_str()),
            ("X", "unknown parameter (known: T, P, threads)")
        );
        assert!(SCHEMA.check_value("P", &json!(4)).is_ok(), "a default alone needs no other parameter");
        assert_eq!(SCHEMA.check_value("P", &json!("x")).unwrap_err().param, "P");
        assert!(matches!(SCHEMA.check_value("Q", &json!(1)).unwrap_err().kind, ParamErrorKind::Unknown { .. }));
    }

    #[test]
    fn docs_are_read_off_the_struct() {
        let docs = SCHEMA.docs();
        let row = |d: &ParamDoc| (d.name, d.ty.clone(), d.default.clone(), d.required, d.doc.clone());
        assert_eq!(
            docs.iter().map(row).collect::<Vec<_>>(),
            [
                ("T", "number".into(), None, true, "The temperature.".into()),
                ("P", "integer".into(), Some(json!(16)), false, String::new()),
                ("threads", "integer".into(), None, false, String::new()),
            ]
        );
    }
}
