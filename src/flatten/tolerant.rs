//! Tolerant JSON value types for CAD payloads.
//!
//! Firmware updates add, remove and retype fields without notice, so a
//! strict serde model would drop a whole message over one odd field. These
//! types accept anything, remember *what* they got, and leave the decision
//! (write, skip, warn) to the flattener. They also borrow strings from the
//! payload where they can, so the common case allocates nothing.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What a JSON value was when it was not what we wanted; used in warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Bool,
    Str,
    Object,
    Array,
    Number,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Found::Bool => "a boolean",
            Found::Str => "a string",
            Found::Object => "an object",
            Found::Array => "an array",
            Found::Number => "a number",
        })
    }
}

/// A numeric field: absent, `null`, the wrong type, or a number.
///
/// Numeric strings (`"6613.405"`) are accepted as numbers: early local
/// firmware (2021 - mid 2022) sends every number so, and units on it may
/// never have been updated. A documented behaviour (README, Metrics).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Num {
    #[default]
    Missing,
    Null,
    Invalid(Found),
    Value(f64),
}

/// A text field: absent, `null`, the wrong type, or a string.
///
/// A number where text belongs (an MPAN sent as `1234`) is kept as text.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Text<'a> {
    #[default]
    Missing,
    Null,
    Invalid(Found),
    Value(Cow<'a, str>),
}

/// A nested object that may be absent, `null` or not an object at all.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Obj<T> {
    #[default]
    Missing,
    Null,
    Invalid(Found),
    Value(T),
}

/// An object key as bytes. Keys are only matched against the names the
/// schema knows, never written out, so they need no UTF-8 check; serde_json
/// skips it when asked for bytes, and keys are most of what a payload's
/// strings are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key<'a>(Cow<'a, [u8]>);

impl Key<'_> {
    /// The key's bytes, escapes decoded.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_vec())))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v.as_bytes())))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.as_bytes().to_vec())))
            }
        }
        d.deserialize_bytes(V(PhantomData))
    }
}

impl<'a> Text<'a> {
    /// The text, if there is some.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Text::Value(s) => Some(s),
            _ => None,
        }
    }
}

impl<T> Obj<T> {
    /// The object, if it is one.
    pub fn as_ref(&self) -> Option<&T> {
        match self {
            Obj::Value(v) => Some(v),
            _ => None,
        }
    }
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(Num::Value(v))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num::Value(v as f64))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num::Value(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                Ok(match v.trim().parse::<f64>() {
                    Ok(n) => Num::Value(n),
                    Err(_) => Num::Invalid(Found::Str),
                })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Num, E> {
                Ok(Num::Invalid(Found::Bool))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Num, E> {
                Ok(Num::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Num, E> {
                Ok(Num::Null)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Num, A::Error> {
                drain_map(map).map(|()| Num::Invalid(Found::Object))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Num, A::Error> {
                drain_seq(seq).map(|()| Num::Invalid(Found::Array))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text::Value(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text::Value(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text::Value(Cow::Owned(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text<'a>, E> {
                Ok(Text::Value(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text<'a>, E> {
                Ok(Text::Value(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text<'a>, E> {
                Ok(Text::Value(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text<'a>, E> {
                Ok(Text::Invalid(Found::Bool))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text<'a>, E> {
                Ok(Text::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Text<'a>, E> {
                Ok(Text::Null)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text<'a>, A::Error> {
                drain_map(map).map(|()| Text::Invalid(Found::Object))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text<'a>, A::Error> {
                drain_seq(seq).map(|()| Text::Invalid(Found::Array))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Obj::Value)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Obj<T>, E> {
                Ok(Obj::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Obj<T>, E> {
                Ok(Obj::Null)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Obj<T>, E> {
                Ok(Obj::Invalid(Found::Bool))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Obj<T>, E> {
                Ok(Obj::Invalid(Found::Number))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Obj<T>, E> {
                Ok(Obj::Invalid(Found::Number))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Obj<T>, E> {
                Ok(Obj::Invalid(Found::Number))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Obj<T>, E> {
                Ok(Obj::Invalid(Found::Str))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Obj<T>, A::Error> {
                drain_seq(seq).map(|()| Obj::Invalid(Found::Array))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Declares a payload struct of tolerant fields and its `Deserialize`.
///
/// serde's derive refuses a duplicated key (`duplicate field 'software'`),
/// which would drop a whole STATE or sensor message over one repeated
/// field. Here, as in the meter payloads, the last value wins; unknown keys
/// are skipped unparsed; every field starts at its `Default` (`Missing`).
macro_rules! tolerant_struct {
    ($(#[$meta:meta])* struct $name:ident<$lt:lifetime> {
        $($(#[$fmeta:meta])* $field:ident : $ty:ty,)*
    }) => {
        $(#[$meta])*
        #[derive(Default)]
        struct $name<$lt> {
            $($(#[$fmeta])* $field: $ty,)*
        }

        impl<'de: $lt, $lt> serde::Deserialize<'de> for $name<$lt> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V<$lt>(std::marker::PhantomData<&$lt ()>);
                impl<'de: $lt, $lt> serde::de::Visitor<'de> for V<$lt> {
                    type Value = $name<$lt>;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<Self::Value, A::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<$crate::flatten::tolerant::Key<'de>>()? {
                            $(
                                if key.as_bytes() == stringify!($field).as_bytes() {
                                    out.$field = map.next_value()?;
                                    continue;
                                }
                            )*
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V(std::marker::PhantomData))
            }
        }
    };
}
pub(crate) use tolerant_struct;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Probe<'a> {
        n: Num,
        #[serde(borrow)]
        t: Text<'a>,
    }

    fn probe(json: &str) -> Probe<'_> {
        serde_json::from_str(json).expect("probe JSON parses")
    }

    #[test]
    fn numbers_in_every_shape() {
        assert_eq!(probe(r#"{"n":1.5}"#).n, Num::Value(1.5));
        assert_eq!(probe(r#"{"n":46}"#).n, Num::Value(46.0));
        assert_eq!(probe(r#"{"n":"6613.405"}"#).n, Num::Value(6613.405));
        assert_eq!(probe(r#"{"n":null}"#).n, Num::Null);
        assert_eq!(probe("{}").n, Num::Missing);
        assert_eq!(probe(r#"{"n":"kWh"}"#).n, Num::Invalid(Found::Str));
        assert_eq!(probe(r#"{"n":{"a":[1]}}"#).n, Num::Invalid(Found::Object));
        assert_eq!(probe(r#"{"n":[1,2]}"#).n, Num::Invalid(Found::Array));
        assert_eq!(probe(r#"{"n":true}"#).n, Num::Invalid(Found::Bool));
    }

    #[test]
    fn keys_are_bytes_with_escapes_decoded() {
        let keys = |json: &'static str| -> Vec<Vec<u8>> {
            let mut de = serde_json::Deserializer::from_str(json);
            struct Keys;
            impl<'de> Visitor<'de> for Keys {
                type Value = Vec<Vec<u8>>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a map")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    let mut out = Vec::new();
                    while let Some(k) = map.next_key::<Key<'de>>()? {
                        out.push(k.as_bytes().to_vec());
                        map.next_value::<IgnoredAny>()?;
                    }
                    Ok(out)
                }
            }
            de.deserialize_map(Keys).expect("keys parse")
        };
        assert_eq!(
            keys(r#"{"units":1,"cumul\u0061tive":2,"\u00e9":3}"#),
            vec![
                b"units".to_vec(),
                b"cumulative".to_vec(),
                "é".as_bytes().to_vec()
            ]
        );
    }

    #[test]
    fn text_borrows_when_it_can_and_keeps_numbers() {
        assert!(matches!(
            probe(r#"{"t":"kWh"}"#).t,
            Text::Value(Cow::Borrowed("kWh"))
        ));
        assert!(
            matches!(probe(r#"{"t":"k\u0057h"}"#).t, Text::Value(Cow::Owned(ref s)) if s == "kWh")
        );
        assert_eq!(probe(r#"{"t":1234}"#).t.as_str(), Some("1234"));
        assert_eq!(probe(r#"{"t":null}"#).t, Text::Null);
        assert_eq!(probe(r#"{"t":[]}"#).t, Text::Invalid(Found::Array));
    }
}
