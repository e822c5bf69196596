//! Answers to client events: the ack when the client asked for one, `app:error` otherwise.

use std::convert::Infallible;
use std::sync::Arc;

use duet_core::ErrorCode;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::handler::{FromMessageParts, Value as PacketValue};
use socketioxide::socket::Socket;

use crate::event::{Ack, AppError, EventName, ServerEvent};
use crate::metrics::EventCounters;

/// A refused event: a protocol code, a sentence, and for `RATE_LIMITED` the wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    /// One of the socket codes of protocol.md §2.
    pub code: ErrorCode,
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

impl std::error::Error for EventError {}

impl EventError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidPayload, message)
    }

    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, message)
    }

    pub(crate) fn not_in_chat() -> Self {
        Self::new(ErrorCode::NotInChat, "you are not in a chat")
    }

    pub(crate) fn already_in_chat() -> Self {
        Self::new(ErrorCode::AlreadyInChat, "you are already in a chat")
    }

    pub(crate) fn partner_away() -> Self {
        Self::new(
            ErrorCode::PartnerAway,
            "your partner is away and cannot receive more messages now",
        )
    }

    /// The partner's connection could not take the event now (it is not reading fast enough).
    pub(crate) fn partner_unreachable() -> Self {
        Self::new(
            ErrorCode::PartnerAway,
            "your partner cannot receive this right now; try again",
        )
    }

    /// A backend failed; what failed is logged where it is caught, never sent.
    pub(crate) fn internal() -> Self {
        Self::new(
            ErrorCode::Internal,
            "the server could not handle the event; try again",
        )
    }

    pub(crate) fn rate_limited(retry_after_ms: u64) -> Self {
        Self {
            retry_after_ms: Some(retry_after_ms),
            ..Self::new(ErrorCode::RateLimited, "too many events; slow down")
        }
    }

    /// Writes `"code"`, `"message"` and, when there is a wait, `"retryAfterMs"`.
    fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("code", &self.code)?;
        map.serialize_entry("message", &self.message)?;
        if let Some(wait) = self.retry_after_ms {
            map.serialize_entry("retryAfterMs", &wait)?;
        }
        Ok(())
    }

    fn field_count(&self) -> usize {
        2 + usize::from(self.retry_after_ms.is_some())
    }
}

impl Serialize for EventError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.field_count()))?;
        self.serialize_fields(&mut map)?;
        map.end()
    }
}

impl Serialize for AppError<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.error.field_count() + 1))?;
        self.error.serialize_fields(&mut map)?;
        map.serialize_entry("event", self.event)?;
        map.end()
    }
}

/// `{"ok": false, "error": {...}}`.
struct Refused<'a>(&'a EventError);

impl Serialize for Refused<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("ok", &false)?;
        map.serialize_entry("error", self.0)?;
        map.end()
    }
}

/// How to answer one event: its ack when the client asked for one, `app:error` otherwise.
pub(crate) struct Reply<A: Adapter> {
    socket: SocketRef<A>,
    ack: Option<AckSender<A>>,
}

impl<A: Adapter> FromMessageParts<A> for Reply<A> {
    type Error = Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        value: &mut PacketValue,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let ack = match ack_id {
            Some(_) => Some(AckSender::from_message_parts(socket, value, ack_id)?),
            None => None,
        };
        Ok(Self {
            socket: SocketRef::from_message_parts(socket, value, ack_id)?,
            ack,
        })
    }
}

impl<A: Adapter> Reply<A> {
    /// Whether the client asked for an ack.
    pub(crate) fn wants_ack(&self) -> bool {
        self.ack.is_some()
    }

    /// Answers `event` with `result`, counting the result (in `counters` when it is `ok`).
    pub(crate) fn send(
        self,
        counters: &EventCounters,
        event: EventName,
        result: Result<Ack, EventError>,
    ) {
        match result {
            Ok(ack) => {
                counters.answered_ok(event);
                if let Some(sender) = self.ack
                    && let Err(error) = sender.send(&ack)
                {
                    tracing::debug!(%error, "ack not sent");
                }
            }
            Err(error) => self.refuse(event.as_str(), &error),
        }
    }

    /// `{"ok": false, "error": {...}}` as the ack, or `app:error` `{..., "event"}` without one.
    pub(crate) fn refuse(self, event: &'static str, error: &EventError) {
        crate::metrics::event_refused(event, error.code);
        match self.ack {
            Some(sender) => {
                if let Err(send_error) = sender.send(&Refused(error)) {
                    tracing::debug!(%send_error, "error ack not sent");
                }
            }
            None => {
                let app_error = AppError { error, event };
                if let Err(send_error) = self.socket.emit(app_error.name(), &app_error) {
                    tracing::debug!(%send_error, "app:error not sent");
                }
            }
        }
    }
}

/// Why an event, or a duty of the node, did not complete: a refusal to answer as it is, or a
/// backend failure that is logged once, where it is caught, and answered as `INTERNAL`.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Answered to the client as it is.
    Refused(EventError),
    /// The presence store or the match queue failed.
    Backend(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl From<EventError> for Failure {
    fn from(error: EventError) -> Self {
        Self::Refused(error)
    }
}

impl From<duet_presence_store::StoreError> for Failure {
    fn from(error: duet_presence_store::StoreError) -> Self {
        Self::Backend(Box::new(error))
    }
}

impl From<duet_moderation::ModerationError> for Failure {
    fn from(error: duet_moderation::ModerationError) -> Self {
        Self::Backend(Box::new(error))
    }
}

impl From<duet_matchmaker::QueueError> for Failure {
    fn from(error: duet_matchmaker::QueueError) -> Self {
        Self::Backend(Box::new(error))
    }
}

impl Failure {
    /// Logs a backend failure during `during` for `guest` (a refusal needs no log).
    pub(crate) fn log(&self, during: &str, guest: &duet_core::GuestId) {
        if let Self::Backend(source) = self {
            tracing::error!(error = %source, cause = ?source.source(), during, guest_id = %guest, "backend failed");
        }
    }

    /// What the client is told about it, after logging it.
    pub(crate) fn into_answer(self, during: &str, guest: &duet_core::GuestId) -> EventError {
        self.log(during, guest);
        match self {
            Self::Refused(error) => error,
            Self::Backend(_) => EventError::internal(),
        }
    }
}
