//! Payloads of the Socket.IO events, their checks, and what the server sends.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use duet_auth::{GuestId, Timestamp};
use duet_matchmaker::Interests;
use duet_presence_store::RoomId;
use serde::{Deserialize, Serialize};

use super::reply::EventError;

/// The longest chat text, in Unicode scalar values.
pub const MAX_TEXT_CHARS: usize = 2000;
/// The longest `clientId`, in Unicode scalar values (an addition to the protocol).
pub const MAX_CLIENT_ID_CHARS: usize = 128;
/// The longest file name, in Unicode scalar values (an addition to the protocol).
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// The longest file MIME type, in bytes (an addition to the protocol).
pub const MAX_FILE_TYPE_BYTES: usize = 255;

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
    fn field(&self, name: &str) -> Option<&Loose> {
        match self {
            Self::Object(fields) => fields
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value)
                .filter(|value| **value != Self::Null),
            _ => None,
        }
    }

    fn text(&self) -> Option<&str> {
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

/// `chat:message` as a client sends it. `null` counts as absent; unknown fields are ignored.
#[derive(Debug)]
pub(crate) struct IncomingMessage {
    text: Option<String>,
    file: Option<IncomingFile>,
    client_id: Option<String>,
}

/// A checked `chat:message`.
#[derive(Debug, Clone)]
pub(crate) struct ChatText {
    pub(crate) text: Option<String>,
    pub(crate) file: Option<(String, String, Bytes)>,
    pub(crate) client_id: Option<String>,
}

#[derive(Debug)]
pub(crate) struct IncomingFile {
    name: String,
    kind: String,
    data: Bytes,
}

impl IncomingMessage {
    /// Reads the shape; `None` when it is not `{text?: string, file?: {name, type, data}, clientId?: string}`.
    pub(crate) fn from_loose(payload: &Loose) -> Option<Self> {
        let Loose::Object(_) = payload else {
            return None;
        };
        let optional_text = |name: &str| match payload.field(name) {
            None => Some(None),
            Some(value) => value.text().map(|t| Some(t.to_owned())),
        };
        let text = optional_text("text")?;
        let client_id = optional_text("clientId")?;
        let file = match payload.field("file") {
            None => None,
            Some(file) => {
                let name = file.field("name")?.text()?.to_owned();
                let kind = file.field("type")?.text()?.to_owned();
                let Loose::Binary(data) = file.field("data")? else {
                    return None;
                };
                Some(IncomingFile {
                    name,
                    kind,
                    data: data.clone(),
                })
            }
        };
        Some(Self {
            text,
            file,
            client_id,
        })
    }
    /// Size first (`PAYLOAD_TOO_LARGE`), then shape (`INVALID_PAYLOAD`).
    pub(crate) fn check(self, max_file_bytes: usize) -> Result<ChatText, EventError> {
        if let Some(text) = &self.text {
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(EventError::too_large(format!(
                    "text must be at most {MAX_TEXT_CHARS} characters"
                )));
            }
            if !text.chars().any(|c| !c.is_whitespace() && !c.is_control()) {
                return Err(EventError::invalid("text must have a visible character"));
            }
        }
        if let Some(file) = &self.file {
            if file.data.len() > max_file_bytes {
                return Err(EventError::too_large(format!(
                    "a file must be at most {max_file_bytes} bytes"
                )));
            }
            let name_ok = !file.name.trim().is_empty()
                && file.name.chars().count() <= MAX_FILE_NAME_CHARS
                && !file.name.chars().any(char::is_control);
            if !name_ok || file.kind.len() > MAX_FILE_TYPE_BYTES {
                return Err(EventError::invalid("file needs a name and a type"));
            }
        }
        if self.text.is_none() && self.file.is_none() {
            return Err(EventError::invalid("a message needs text or a file"));
        }
        if self
            .client_id
            .as_ref()
            .is_some_and(|id| id.chars().count() > MAX_CLIENT_ID_CHARS)
        {
            return Err(EventError::invalid(format!(
                "clientId must be at most {MAX_CLIENT_ID_CHARS} characters"
            )));
        }
        Ok(ChatText {
            text: self.text,
            file: self.file.map(|f| (f.name, f.kind, f.data)),
            client_id: self.client_id,
        })
    }
}

/// `user:match` as a client sends it: no payload, `{}`, or `{"interests": [string]}`.
#[derive(Debug, Default)]
pub(crate) struct MatchRequest {
    interests: Vec<String>,
}

impl MatchRequest {
    /// Reads the shape; `None` when `interests` is there but not a list of strings.
    pub(crate) fn from_loose(payload: Option<&Loose>) -> Option<Self> {
        let Some(payload) = payload else {
            return Some(Self::default());
        };
        match payload {
            Loose::Null => return Some(Self::default()),
            Loose::Object(_) => {}
            _ => return None,
        }
        let interests = match payload.field("interests") {
            None => Vec::new(),
            Some(Loose::List(items)) => items
                .iter()
                .map(|item| item.text().map(str::to_owned))
                .collect::<Option<Vec<_>>>()?,
            Some(_) => return None,
        };
        Some(Self { interests })
    }

    pub(crate) fn check(self) -> Result<Interests, EventError> {
        Interests::parse(self.interests).map_err(|error| EventError::invalid(error.to_string()))
    }
}

/// `chat:message` as the partner receives it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutgoingMessage {
    pub(crate) id: String,
    pub(crate) room_id: RoomId,
    pub(crate) from: GuestId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
    pub(crate) file: Option<OutgoingFile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<String>,
    pub(crate) sent_at: Timestamp,
}

/// Serializes a present option as its value, not through `serialize_some`: socketioxide's
/// serializer turns nested bytes into binary attachments only along paths it wraps, and
/// `serialize_some` is not one of them.
fn present<T: Serialize, S: serde::Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => value.serialize(serializer),
        None => serializer.serialize_unit(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct OutgoingFile {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) size: usize,
    /// Sent as a Socket.IO binary attachment.
    pub(crate) data: Bytes,
}

/// What is kept for a guest whose connection dropped, replayed in order when it returns.
///
/// Stored as JSON (file data in base64) so any node can replay it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub(crate) enum Held {
    /// A `chat:message` its partner sent meanwhile.
    Message(HeldMessage),
    /// Its partner cleared the chat (everything held before is gone).
    Cleared { room_id: RoomId, by: GuestId },
    /// The chat ended while it was away.
    Ended { room_id: RoomId, reason: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HeldMessage {
    id: String,
    room_id: RoomId,
    from: GuestId,
    text: Option<String>,
    file: Option<(String, String, String)>,
    client_id: Option<String>,
    sent_at: Timestamp,
}

impl From<&OutgoingMessage> for HeldMessage {
    fn from(message: &OutgoingMessage) -> Self {
        Self {
            id: message.id.clone(),
            room_id: message.room_id,
            from: message.from,
            text: message.text.clone(),
            file: message
                .file
                .as_ref()
                .map(|f| (f.name.clone(), f.kind.clone(), STANDARD.encode(&f.data))),
            client_id: message.client_id.clone(),
            sent_at: message.sent_at,
        }
    }
}

impl HeldMessage {
    pub(crate) fn into_outgoing(self) -> OutgoingMessage {
        OutgoingMessage {
            id: self.id,
            room_id: self.room_id,
            from: self.from,
            text: self.text,
            file: self.file.map(|(name, kind, data)| {
                let data = Bytes::from(STANDARD.decode(data).unwrap_or_default());
                OutgoingFile {
                    name,
                    kind,
                    size: data.len(),
                    data,
                }
            }),
            client_id: self.client_id,
            sent_at: self.sent_at,
        }
    }
}

impl Held {
    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(value: serde_json::Value) -> Result<ChatText, &'static str> {
        let loose: Loose = serde_json::from_value(value).map_err(|_| "INVALID_PAYLOAD")?;
        let incoming = IncomingMessage::from_loose(&loose).ok_or("INVALID_PAYLOAD")?;
        incoming.check(1024).map_err(|e| e.code)
    }

    #[test]
    fn text_is_bounded_in_characters_and_must_be_visible() {
        assert!(message(json!({"text": "é".repeat(2000)})).is_ok());
        assert_eq!(
            message(json!({"text": "é".repeat(2001)})).err(),
            Some("PAYLOAD_TOO_LARGE")
        );
        assert_eq!(
            message(json!({"text": " \n\t "})).err(),
            Some("INVALID_PAYLOAD")
        );
        assert_eq!(message(json!({"text": ""})).err(), Some("INVALID_PAYLOAD"));
        assert_eq!(message(json!({})).err(), Some("INVALID_PAYLOAD"));
        assert_eq!(
            message(json!({"text": null, "file": null})).err(),
            Some("INVALID_PAYLOAD")
        );
        assert_eq!(message(json!({"text": 5})).err(), Some("INVALID_PAYLOAD"));
        assert!(message(json!({"text": "hi", "clientId": null, "extra": [1]})).is_ok());
        assert_eq!(
            message(json!({"text": "hi", "clientId": "x".repeat(129)})).err(),
            Some("INVALID_PAYLOAD")
        );
    }

    #[test]
    fn held_messages_round_trip_with_their_file() {
        let outgoing = OutgoingMessage {
            id: "m1".into(),
            room_id: RoomId::random(),
            from: GuestId::random(),
            text: None,
            file: Some(OutgoingFile {
                name: "a.bin".into(),
                kind: "application/octet-stream".into(),
                size: 3,
                data: Bytes::from_static(&[0, 1, 255]),
            }),
            client_id: Some("c".into()),
            sent_at: Timestamp::from_unix_millis(5),
        };
        let held = Held::Message(HeldMessage::from(&outgoing));
        let Some(Held::Message(back)) = Held::decode(&held.encode()) else {
            panic!("not a message");
        };
        let back = back.into_outgoing();
        assert_eq!(
            back.file.map(|f| (f.size, f.data)),
            Some((3, Bytes::from_static(&[0, 1, 255])))
        );
        assert_eq!(back.client_id.as_deref(), Some("c"));
    }

    /// Any JSON a client could send, nested a few levels, with long and odd strings.
    fn any_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number)),
            ".{0,40}".prop_map(serde_json::Value::from),
            (0usize..3000).prop_map(|n| serde_json::Value::from("x".repeat(n))),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            let keys = prop_oneof![
                Just("text".to_owned()),
                Just("file".to_owned()),
                Just("name".to_owned()),
                Just("type".to_owned()),
                Just("data".to_owned()),
                Just("clientId".to_owned()),
                Just("interests".to_owned()),
                Just("sdp".to_owned()),
                Just("candidate".to_owned()),
                ".{0,8}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::vec((keys, inner), 0..6)
                    .prop_map(|fields| serde_json::Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The decoding boundary of every event: whatever arrives, nothing panics, and what is
        /// accepted is within the documented bounds.
        #[test]
        fn decoding_never_panics_and_accepts_only_documented_shapes(payload in any_json()) {
            let loose: Loose = serde_json::from_value(payload.clone()).unwrap_or(Loose::Null);
            if let Some(message) = IncomingMessage::from_loose(&loose)
                && let Ok(checked) = message.check(1024)
            {
                proptest::prop_assert!(checked.text.is_some() || checked.file.is_some());
                if let Some(text) = &checked.text {
                    proptest::prop_assert!(text.chars().count() <= MAX_TEXT_CHARS);
                }
                proptest::prop_assert!(checked.file.is_none(), "JSON cannot carry a binary attachment");
            }
            if let Some(request) = MatchRequest::from_loose(Some(&loose))
                && let Ok(interests) = request.check()
            {
                proptest::prop_assert!(interests.as_slice().len() <= duet_matchmaker::MAX_INTERESTS);
            }
            let json = loose.clone().into_json();
            for kind in [duet_signaling::SignalKind::Offer, duet_signaling::SignalKind::Answer,
                         duet_signaling::SignalKind::IceCandidate, duet_signaling::SignalKind::Hangup] {
                if let Ok(duet_signaling::Signal::Offer { sdp } | duet_signaling::Signal::Answer { sdp }) =
                    duet_signaling::Signal::parse(kind, &json)
                {
                    proptest::prop_assert!(sdp.len() <= duet_signaling::MAX_SDP_BYTES);
                }
            }
        }
    }
}
