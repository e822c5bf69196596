//! [`ClientEvent`]: every client event of protocol.md §2, decoded once from what was sent.

use bytes::Bytes;
use duet_matchmaker::Interests;
use duet_signaling::{Signal, SignalKind};

use crate::loose::Loose;
use crate::reply::EventError;

/// The longest chat text, in Unicode scalar values.
pub const MAX_TEXT_CHARS: usize = 2000;
/// The longest `clientId`, in Unicode scalar values (an addition to the protocol).
pub const MAX_CLIENT_ID_CHARS: usize = 128;
/// The longest file name, in Unicode scalar values (an addition to the protocol).
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// The longest file MIME type, in bytes (an addition to the protocol).
pub const MAX_FILE_TYPE_BYTES: usize = 255;

/// The name of a client event. [`EventName::as_str`] is the only place each name is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum EventName {
    Match,
    CancelMatch,
    Leave,
    Message,
    Clear,
    TypingStart,
    TypingStop,
    Offer,
    Answer,
    IceCandidate,
    Hangup,
    IceServers,
    Report,
    Block,
    Leaving,
}

impl EventName {
    const ALL: [Self; 15] = [
        Self::Match,
        Self::CancelMatch,
        Self::Leave,
        Self::Message,
        Self::Clear,
        Self::TypingStart,
        Self::TypingStop,
        Self::Offer,
        Self::Answer,
        Self::IceCandidate,
        Self::Hangup,
        Self::IceServers,
        Self::Report,
        Self::Block,
        Self::Leaving,
    ];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Match => "user:match",
            Self::CancelMatch => "user:match:cancel",
            Self::Leave => "chat:leave",
            Self::Message => "chat:message",
            Self::Clear => "chat:clear",
            Self::TypingStart => "chat:typing:start",
            Self::TypingStop => "chat:typing:stop",
            Self::Offer => SignalKind::Offer.event(),
            Self::Answer => SignalKind::Answer.event(),
            Self::IceCandidate => SignalKind::IceCandidate.event(),
            Self::Hangup => SignalKind::Hangup.event(),
            Self::IceServers => "webrtc:ice-servers",
            Self::Report => "chat:report",
            Self::Block => "chat:block",
            Self::Leaving => "chat:leaving",
        }
    }

    /// The event called `name`, or `None` for an unknown one.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.as_str() == name)
    }

    /// How many events there are: the length of a table indexed by [`EventName::index`].
    pub(crate) const COUNT: usize = Self::ALL.len();

    /// The event's place in [`EventName::ALL`], below [`EventName::COUNT`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl From<SignalKind> for EventName {
    fn from(kind: SignalKind) -> Self {
        match kind {
            SignalKind::Offer => Self::Offer,
            SignalKind::Answer => Self::Answer,
            SignalKind::IceCandidate => Self::IceCandidate,
            SignalKind::Hangup => Self::Hangup,
        }
    }
}

/// A client event, checked for shape and size; what it does depends only on the node's state.
#[derive(Debug)]
pub(crate) enum ClientEvent {
    /// `user:match`.
    Match(Interests),
    /// `user:match:cancel`.
    CancelMatch,
    /// `chat:leave`.
    Leave,
    /// `chat:message`.
    Message(ChatMessage),
    /// `chat:clear`.
    Clear,
    /// `chat:typing:start` (`true`) or `chat:typing:stop` (`false`).
    Typing(bool),
    /// `webrtc:offer`, `webrtc:answer`, `webrtc:ice-candidate`, `webrtc:hangup`.
    Signal(Signal),
    /// `webrtc:ice-servers`.
    IceServers,
    /// `chat:report`.
    Report(ReportRequest),
    /// `chat:block`.
    Block,
    /// `chat:leaving`.
    Leaving,
}

/// The longest note of a `chat:report`, in Unicode scalar values.
pub const MAX_REPORT_NOTE_CHARS: usize = 500;

/// A checked `chat:report`: why, and what the reporter wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReportRequest {
    pub(crate) reason: duet_moderation::ReportReason,
    pub(crate) note: Option<String>,
}

impl ReportRequest {
    /// `{"reason": "spam" | "harassment" | "nudity" | "minor" | "other", "note"?: string}`; a
    /// blank note counts as none, a longer one than 500 characters is `PAYLOAD_TOO_LARGE`.
    fn decode(payload: Option<&Loose>) -> Result<Self, EventError> {
        let shape = || {
            EventError::invalid(
                "chat:report takes {reason: spam|harassment|nudity|minor|other, note?: string}",
            )
        };
        let payload = payload.ok_or_else(shape)?;
        let reason = payload
            .field("reason")
            .and_then(Loose::text)
            .and_then(|text| text.parse().ok())
            .ok_or_else(shape)?;
        let note = match payload.field("note") {
            None => None,
            Some(note) => Some(note.text().ok_or_else(shape)?.trim().to_owned()),
        };
        if note
            .as_ref()
            .is_some_and(|note| note.chars().count() > MAX_REPORT_NOTE_CHARS)
        {
            return Err(EventError::too_large(format!(
                "a note must be at most {MAX_REPORT_NOTE_CHARS} characters"
            )));
        }
        Ok(Self {
            reason,
            note: note.filter(|note| !note.is_empty()),
        })
    }
}

impl ClientEvent {
    /// Decodes `payload` (the first argument the client sent, `None` when it sent none) for
    /// `name`: shape first, then size. Payloads of events that take none are ignored.
    pub(crate) fn decode(
        name: EventName,
        payload: Option<Loose>,
        max_file_bytes: usize,
    ) -> Result<Self, EventError> {
        Ok(match name {
            EventName::Match => Self::Match(decode_interests(payload.as_ref())?),
            EventName::Message => {
                let payload = payload.as_ref().ok_or_else(message_shape)?;
                Self::Message(ChatMessage::decode(payload, max_file_bytes)?)
            }
            EventName::CancelMatch => Self::CancelMatch,
            EventName::Leave => Self::Leave,
            EventName::Clear => Self::Clear,
            EventName::TypingStart => Self::Typing(true),
            EventName::TypingStop => Self::Typing(false),
            EventName::IceServers => Self::IceServers,
            EventName::Offer => Self::Signal(decode_signal(SignalKind::Offer, payload)?),
            EventName::Answer => Self::Signal(decode_signal(SignalKind::Answer, payload)?),
            EventName::IceCandidate => {
                Self::Signal(decode_signal(SignalKind::IceCandidate, payload)?)
            }
            EventName::Hangup => Self::Signal(Signal::Hangup),
            EventName::Report => Self::Report(ReportRequest::decode(payload.as_ref())?),
            EventName::Block => Self::Block,
            EventName::Leaving => Self::Leaving,
        })
    }
}

/// Signals carry no binary: they are checked as plain JSON by `duet-signaling`.
fn decode_signal(kind: SignalKind, payload: Option<Loose>) -> Result<Signal, EventError> {
    let json = payload.map_or(serde_json::Value::Null, Loose::into_json);
    Signal::parse(kind, &json).map_err(|error| EventError {
        code: error.code(),
        message: error.to_string(),
        retry_after_ms: None,
    })
}

/// `user:match` takes no payload, `null`, `{}` or `{"interests": [string]}`.
fn decode_interests(payload: Option<&Loose>) -> Result<Interests, EventError> {
    let shape = || EventError::invalid("user:match takes {interests?: [string]}");
    let raw = match payload {
        None | Some(Loose::Null) => Vec::new(),
        Some(object @ Loose::Object(_)) => match object.field("interests") {
            None => Vec::new(),
            Some(Loose::List(items)) => items
                .iter()
                .map(|item| item.text().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(shape)?,
            Some(_) => return Err(shape()),
        },
        Some(_) => return Err(shape()),
    };
    Interests::parse(raw).map_err(|error| EventError::invalid(error.to_string()))
}

fn message_shape() -> EventError {
    EventError::invalid(
        "chat:message takes {text?: string, file?: {name, type, data}, clientId?: string}",
    )
}

/// A file in a `chat:message`.
#[derive(Debug, Clone)]
pub(crate) struct FileUpload {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) data: Bytes,
}

/// A checked `chat:message`: text and file within their limits, at least one of the two.
#[derive(Debug, Clone)]
pub(crate) struct ChatMessage {
    pub(crate) text: Option<String>,
    pub(crate) file: Option<FileUpload>,
    pub(crate) client_id: Option<String>,
}

impl ChatMessage {
    /// `null` counts as absent; unknown fields are ignored. Size (`PAYLOAD_TOO_LARGE`) is
    /// checked before content (`INVALID_PAYLOAD`).
    fn decode(payload: &Loose, max_file_bytes: usize) -> Result<Self, EventError> {
        let Loose::Object(_) = payload else {
            return Err(message_shape());
        };
        let optional_text = |name: &str| match payload.field(name) {
            None => Ok(None),
            Some(value) => value
                .text()
                .map(|text| Some(text.to_owned()))
                .ok_or_else(message_shape),
        };
        let text = optional_text("text")?;
        let client_id = optional_text("clientId")?;
        let file = payload.field("file").map(FileUpload::decode).transpose()?;

        if let Some(text) = &text {
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(EventError::too_large(format!(
                    "text must be at most {MAX_TEXT_CHARS} characters"
                )));
            }
            if !text.chars().any(is_visible) {
                return Err(EventError::invalid("text must have a visible character"));
            }
        }
        if let Some(file) = &file {
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
        if text.is_none() && file.is_none() {
            return Err(EventError::invalid("a message needs text or a file"));
        }
        if client_id
            .as_ref()
            .is_some_and(|id| id.chars().count() > MAX_CLIENT_ID_CHARS)
        {
            return Err(EventError::invalid(format!(
                "clientId must be at most {MAX_CLIENT_ID_CHARS} characters"
            )));
        }
        Ok(Self {
            text,
            file,
            client_id,
        })
    }
}

impl FileUpload {
    fn decode(file: &Loose) -> Result<Self, EventError> {
        let shape = || EventError::invalid("file needs {name: string, type: string, data: binary}");
        let text = |name| file.field(name).and_then(Loose::text).map(str::to_owned);
        let (Some(name), Some(kind), Some(Loose::Binary(data))) =
            (text("name"), text("type"), file.field("data"))
        else {
            return Err(shape());
        };
        Ok(Self {
            name,
            kind,
            data: data.clone(),
        })
    }
}

/// Whether `c` shows as something: not white space, not a control character, and not one of
/// the format characters that render as nothing (zero-width spaces and joiners, word joiner,
/// byte-order mark, bidirectional marks, Hangul fillers, variation selectors, tags).
fn is_visible(c: char) -> bool {
    let invisible = matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    );
    !(invisible || c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use duet_core::ErrorCode;
    use serde_json::json;

    use super::*;

    fn decode(name: EventName, value: serde_json::Value) -> Result<ClientEvent, ErrorCode> {
        let loose: Loose = serde_json::from_value(value).map_err(|_| ErrorCode::InvalidPayload)?;
        ClientEvent::decode(name, Some(loose), 1024).map_err(|e| e.code)
    }

    fn message(value: serde_json::Value) -> Result<ClientEvent, ErrorCode> {
        decode(EventName::Message, value)
    }

    #[test]
    fn every_event_name_round_trips() {
        for (index, name) in EventName::ALL.into_iter().enumerate() {
            assert_eq!(EventName::from_name(name.as_str()), Some(name));
            // Tables indexed by event (the metrics handles) rely on this.
            assert_eq!(name.index(), index);
        }
        assert_eq!(EventName::from_name("chat:nope"), None);
    }

    #[test]
    fn text_is_bounded_in_characters_and_must_be_visible() {
        assert!(message(json!({"text": "é".repeat(2000)})).is_ok());
        assert_eq!(
            message(json!({"text": "é".repeat(2001)})).err(),
            Some(ErrorCode::PayloadTooLarge)
        );
        for invisible in [
            " \n\t ",
            "",
            "\u{200B}\u{200C}\u{200D}",
            "\u{2060}\u{FEFF}",
            "\u{00AD} \u{3164}",
        ] {
            assert_eq!(
                message(json!({"text": invisible})).err(),
                Some(ErrorCode::InvalidPayload),
                "{invisible:?}"
            );
        }
        assert!(message(json!({"text": "a\u{200B}"})).is_ok());
        assert_eq!(message(json!({})).err(), Some(ErrorCode::InvalidPayload));
        assert_eq!(
            message(json!({"text": null, "file": null})).err(),
            Some(ErrorCode::InvalidPayload)
        );
        assert_eq!(
            message(json!({"text": 5})).err(),
            Some(ErrorCode::InvalidPayload)
        );
        assert!(message(json!({"text": "hi", "clientId": null, "extra": [1]})).is_ok());
        assert_eq!(
            message(json!({"text": "hi", "clientId": "x".repeat(129)})).err(),
            Some(ErrorCode::InvalidPayload)
        );
    }

    #[test]
    fn an_array_never_stands_in_for_an_object() {
        let wrapped = [
            (EventName::Message, json!(["hello"])),
            (EventName::Message, json!([{"text": "hello"}])),
            (EventName::Match, json!([["rust"]])),
            (EventName::Match, json!(["rust"])),
            (EventName::Answer, json!(["v=0"])),
            (EventName::Offer, json!([{"sdp": "v=0"}])),
            (EventName::IceCandidate, json!({"candidate": ["c"]})),
        ];
        for (name, payload) in wrapped {
            assert_eq!(
                decode(name, payload.clone()).err(),
                Some(ErrorCode::InvalidPayload),
                "{name:?} {payload}"
            );
        }
    }

    #[test]
    fn events_without_a_payload_ignore_whatever_comes() {
        assert!(matches!(
            decode(EventName::Leave, json!([1, 2])),
            Ok(ClientEvent::Leave)
        ));
        assert!(matches!(
            ClientEvent::decode(EventName::Hangup, None, 1),
            Ok(ClientEvent::Signal(Signal::Hangup))
        ));
        assert!(matches!(
            ClientEvent::decode(EventName::Match, None, 1),
            Ok(ClientEvent::Match(_))
        ));
        assert_eq!(
            ClientEvent::decode(EventName::Message, None, 1)
                .err()
                .map(|e| e.code),
            Some(ErrorCode::InvalidPayload)
        );
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
            for name in EventName::ALL {
                let loose: Loose = serde_json::from_value(payload.clone()).unwrap_or(Loose::Null);
                match ClientEvent::decode(name, Some(loose), 1024) {
                    Ok(ClientEvent::Message(message)) => {
                        proptest::prop_assert!(payload.is_object());
                        proptest::prop_assert!(message.text.is_some(), "JSON cannot carry a binary attachment");
                        if let Some(text) = &message.text {
                            proptest::prop_assert!(text.chars().count() <= MAX_TEXT_CHARS);
                        }
                    }
                    Ok(ClientEvent::Match(interests)) => {
                        proptest::prop_assert!(payload.is_object() || payload.is_null());
                        proptest::prop_assert!(interests.as_slice().len() <= duet_matchmaker::MAX_INTERESTS);
                    }
                    Ok(ClientEvent::Signal(Signal::Offer { sdp } | Signal::Answer { sdp })) => {
                        proptest::prop_assert!(payload.is_object());
                        proptest::prop_assert!(sdp.len() <= duet_signaling::MAX_SDP_BYTES);
                    }
                    Ok(ClientEvent::Signal(Signal::IceCandidate(_))) => {
                        proptest::prop_assert!(payload.is_object());
                    }
                    Ok(_) | Err(_) => {}
                }
            }
        }
    }
}
