//! Numbers as pipelines write them: plain numbers and powers of two (`2^-6`), and the serde
//! helpers that accept both wherever a parameter is a number.

use serde::de;

/// Parses `2^-6` (a power of two) or a plain number.
pub fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    if let Some(exp) = t.strip_prefix("2^") {
        let e: f64 = exp.trim().parse().ok()?;
        let v = 2f64.powf(e);
        return v.is_finite().then_some(v);
    }
    let v: f64 = t.parse().ok()?;
    v.is_finite().then_some(v)
}

/// How a value is described in an error: `` `1.5` ``, a list, nothing.
pub(crate) fn describe(u: de::Unexpected<'_>) -> String {
    match u {
        de::Unexpected::Unit | de::Unexpected::Option => "nothing".into(),
        de::Unexpected::Seq => "a list".into(),
        de::Unexpected::Map => "a mapping".into(),
        de::Unexpected::Bool(b) => format!("`{b}`"),
        de::Unexpected::Signed(i) => format!("`{i}`"),
        de::Unexpected::Unsigned(i) => format!("`{i}`"),
        de::Unexpected::Float(f) => {
            format!("`{}`", serde_json::Number::from_f64(f).map_or(f.to_string(), |n| n.to_string()))
        }
        de::Unexpected::Str(s) => format!("`{s}`"),
        other => other.to_string(),
    }
}

/// Numbers as parameters take plain numbers and `2^k`: `deserialize_with` helpers for floats and
/// integers (optional or not), whose errors read "expected a number, got `2^x`".
pub mod num {
    use std::marker::PhantomData;

    use serde::de::{self, Deserializer, Visitor};

    use super::{describe, parse_number};

    fn wrong<E: de::Error>(expected: &str, got: de::Unexpected<'_>) -> E {
        E::custom(format!("expected {expected}, got {}", describe(got)))
    }

    macro_rules! reject_others {
        ($what:expr) => {
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Err(wrong($what, de::Unexpected::Bool(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Err(wrong($what, de::Unexpected::Unit))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
                Err(wrong($what, de::Unexpected::Seq))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
                Err(wrong($what, de::Unexpected::Map))
            }
        };
    }

    struct Float;

    impl<'de> Visitor<'de> for Float {
        type Value = f64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a number")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            if v.is_finite() {
                Ok(v)
            } else {
                Err(wrong("a number", de::Unexpected::Float(v)))
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            parse_number(v).ok_or_else(|| wrong("a number", de::Unexpected::Str(v)))
        }
        reject_others!("a number");
    }

    struct Int<T>(PhantomData<T>);

    impl<'de, T: TryFrom<i64>> Visitor<'de> for Int<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            T::try_from(v).map_err(|_| wrong("a non-negative integer", de::Unexpected::Signed(v)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            i64::try_from(v)
                .ok()
                .and_then(|i| T::try_from(i).ok())
                .ok_or_else(|| wrong("a smaller integer", de::Unexpected::Unsigned(v)))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            if v.fract() == 0.0 && v.abs() < 9.0e15 {
                self.visit_i64(v as i64)
            } else {
                Err(wrong("an integer", de::Unexpected::Float(v)))
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            match parse_number(v) {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => self.visit_i64(f as i64),
                _ => Err(wrong("an integer", de::Unexpected::Str(v))),
            }
        }
        reject_others!("an integer");
    }

    struct Opt<V>(V);

    impl<'de, V: Visitor<'de>> Visitor<'de> for Opt<V> {
        type Value = Option<V::Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.expecting(f)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self.0).map(Some)
        }
    }

    pub fn float<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        d.deserialize_any(Float)
    }

    pub fn int<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
        d.deserialize_any(Int(PhantomData))
    }

    pub fn opt_float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_option(Opt(Float))
    }

    pub fn opt_int<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_option(Opt(Int(PhantomData)))
    }
}
