//! Enums that are written by name in pipelines, on the command line and in records: one list of
//! `Variant = "name"` gives the serde form, the clap value and `name()`, so the three never drift,
//! and an unknown name is an error that lists the known ones (not their aliases).

/// Declares a fieldless enum whose variants are written as the given names (with optional
/// aliases), deriving serde and `clap::ValueEnum` from that one list.
#[macro_export]
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident {
            $( $(#[doc = $doc:literal])* $variant:ident = $name:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
        $vis enum $ty {
            $(
                $(#[doc = $doc])*
                #[value(name = $name $(, alias = $alias)*)]
                $variant,
            )+
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                struct Names;
                impl serde::de::Visitor<'_> for Names {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($crate::named::known(&[$($name),+]).as_str())
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> ::std::result::Result<$ty, E> {
                        $ty::parse(v).ok_or_else(|| {
                            E::custom(format!("unknown `{v}` (expected {})", $crate::named::known(&[$($name),+])))
                        })
                    }
                }
                d.deserialize_str(Names)
            }
        }

        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name as written in pipelines and records.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }

            /// The variant of a name or alias.
            pub fn parse(text: &str) -> Option<$ty> {
                match text {
                    $($name $(| $alias)* => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }

        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "enum": [$($name),+] })
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

/// `a, b or c`.
pub fn known(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
