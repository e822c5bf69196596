//! Answers to client events: the ack when the client asked for one, `app:error` otherwise.

use std::convert::Infallible;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::AckSender;
use socketioxide::handler::{FromMessageParts, Value as PacketValue};
use socketioxide::socket::Socket;

/// A refused event: a protocol code, a sentence, and for `RATE_LIMITED` the wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    /// `INVALID_PAYLOAD`, `PAYLOAD_TOO_LARGE`, `RATE_LIMITED`, `NOT_IN_CHAT`,
    /// `ALREADY_IN_CHAT`, `PARTNER_AWAY` or `INTERNAL`.
    pub code: &'static str,
    /// A sentence for humans.
    pub message: String,
    /// For `RATE_LIMITED`: whole milliseconds until the event would be accepted.
    pub retry_after_ms: Option<u64>,
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl EventError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new("INVALID_PAYLOAD", message)
    }

    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new("PAYLOAD_TOO_LARGE", message)
    }

    pub(crate) fn not_in_chat() -> Self {
        Self::new("NOT_IN_CHAT", "you are not in a chat")
    }

    pub(crate) fn already_in_chat() -> Self {
        Self::new("ALREADY_IN_CHAT", "you are already in a chat")
    }

    pub(crate) fn partner_away() -> Self {
        Self::new(
            "PARTNER_AWAY",
            "your partner is away and cannot receive more messages now",
        )
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            "INTERNAL",
            "the server could not handle the event; try again",
        )
    }

    pub(crate) fn rate_limited(retry_after_ms: u64) -> Self {
        Self {
            retry_after_ms: Some(retry_after_ms),
            ..Self::new("RATE_LIMITED", "too many events; slow down")
        }
    }

    fn fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("code".into(), json!(self.code));
        fields.insert("message".into(), json!(self.message));
        if let Some(wait) = self.retry_after_ms {
            fields.insert("retryAfterMs".into(), json!(wait));
        }
        fields
    }
}

impl From<duet_presence_store::StoreError> for EventError {
    fn from(error: duet_presence_store::StoreError) -> Self {
        tracing::error!(%error, "presence store failed during an event");
        Self::internal()
    }
}

impl From<duet_matchmaker::QueueError> for EventError {
    fn from(error: duet_matchmaker::QueueError) -> Self {
        tracing::error!(%error, "match queue failed during an event");
        Self::internal()
    }
}

/// How to answer one event: its ack, and whether the client asked for one.
pub(crate) struct Reply<A: Adapter> {
    ack: AckSender<A>,
    wants_ack: bool,
}

impl<A: Adapter> FromMessageParts<A> for Reply<A> {
    type Error = Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        value: &mut PacketValue,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let ack = AckSender::from_message_parts(socket, value, ack_id)?;
        Ok(Self {
            ack,
            wants_ack: ack_id.is_some(),
        })
    }
}

impl<A: Adapter> Reply<A> {
    /// Whether the client asked for an ack.
    pub(crate) fn wants_ack(&self) -> bool {
        self.wants_ack
    }

    /// `{"ok": true, ...fields}`; nothing when the client asked for no ack.
    pub(crate) fn ok(self, fields: Value) {
        if !self.wants_ack {
            return;
        }
        let mut body = Map::new();
        body.insert("ok".into(), Value::Bool(true));
        if let Value::Object(fields) = fields {
            body.extend(fields);
        }
        if let Err(error) = self.ack.send(&Value::Object(body)) {
            tracing::debug!(%error, "ack not sent");
        }
    }

    /// `{"ok": false, "error": {...}}` as the ack, or `app:error` `{..., "event"}` without one.
    pub(crate) fn error(self, socket: &Socket<A>, event: &str, error: &EventError) {
        if self.wants_ack {
            let body = json!({"ok": false, "error": Value::Object(error.fields())});
            if let Err(send_error) = self.ack.send(&body) {
                tracing::debug!(%send_error, "error ack not sent");
            }
        } else {
            let mut body = error.fields();
            body.insert("event".into(), json!(event));
            if let Err(send_error) = socket.emit("app:error", &Value::Object(body)) {
                tracing::debug!(%send_error, "app:error not sent");
            }
        }
    }
}
