//! [`Loose`]: a client's payload exactly as it was sent, binary attachments included.

use bytes::Bytes;
use serde::Deserialize;

/// Any payload, with binary attachments kept as bytes.
///
/// socketioxide resolves Socket.IO binary placeholders only for values deserialized through
/// `deserialize_any`, so a typed struct with a nested `Bytes` field cannot read a file inside
/// `{"file": {"data": <binary>}}`. Decoding into this loose tree first, then checking it by
/// hand, reads every shape a client may send and keeps files as zero-copy `Bytes`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Loose {
    Null,
    Bool(bool),
    Integer(i64),
    Unsigned(u64),
    Float(f64),
    Text(String),
    Binary(Bytes),
    List(Vec<Loose>),
    Object(Vec<(String, Loose)>),
}

impl Loose {
    /// The field `name` of an object; `None` when absent, `null`, or when this is not an
    /// object (an array never stands in for an object).
    pub(crate) fn field(&self, name: &str) -> Option<&Loose> {
        match self {
            Self::Object(fields) => fields
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value)
                .filter(|value| **value != Self::Null),
            _ => None,
        }
    }

    /// The string, when this is one.
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            _ => None,
        }
    }

    /// Plain JSON for payloads that carry no binary (signaling); binary becomes `null`.
    pub(crate) fn into_json(self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Self::Null | Self::Binary(_) => Value::Null,
            Self::Bool(b) => Value::Bool(b),
            Self::Integer(n) => Value::from(n),
            Self::Unsigned(n) => Value::from(n),
            Self::Float(n) => serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
            Self::Text(t) => Value::String(t),
            Self::List(items) => Value::Array(items.into_iter().map(Self::into_json).collect()),
            Self::Object(fields) => Value::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (k, v.into_json()))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> serde::de::Visitor<'de> for LooseVisitor {
    type Value = Loose;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any Socket.IO payload")
    }

    fn visit_unit<E>(self) -> Result<Loose, E> {
        Ok(Loose::Null)
    }

    fn visit_none<E>(self) -> Result<Loose, E> {
        Ok(Loose::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Loose, D::Error> {
        Loose::deserialize(d)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Loose, E> {
        Ok(Loose::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Loose, E> {
        Ok(Loose::Integer(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Loose, E> {
        Ok(Loose::Unsigned(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Loose, E> {
        Ok(Loose::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Loose, E> {
        Ok(Loose::Text(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Loose, E> {
        Ok(Loose::Text(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Loose, E> {
        Ok(Loose::Binary(Bytes::copy_from_slice(v)))
    }

    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Loose, E> {
        Ok(Loose::Binary(Bytes::from(v)))
    }

    fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<Loose, S::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Loose>()? {
            items.push(item);
        }
        Ok(Loose::List(items))
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Loose, M::Error> {
        let mut fields = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Loose>()? {
            fields.push((key, value));
        }
        Ok(Loose::Object(fields))
    }
}
