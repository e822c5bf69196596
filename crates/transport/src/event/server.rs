//! What the server sends: one `Serialize` type per server event, and the acks.

use bytes::Bytes;
use duet_core::{GuestId, RoomId, Timestamp};
use duet_presence_store::Pair;
use duet_signaling::{IceServer, Relayed};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::reply::EventError;

/// A payload the server emits, and the event it goes out as.
pub(crate) trait ServerEvent: Serialize + Send + Sync {
    /// The event name on the wire.
    fn name(&self) -> &'static str;
}

/// Names each payload type's event, once.
macro_rules! server_events {
    ($($payload:ty => $name:literal),+ $(,)?) => {
        $(impl ServerEvent for $payload {
            fn name(&self) -> &'static str {
                $name
            }
        })+
    };
}

server_events! {
    Matched<'_> => "user:matched",
    ChatEnded => "chat:ended",
    PartnerAway => "chat:partner:away",
    PartnerBack => "chat:partner:back",
    ChatCleared => "chat:cleared",
    OutgoingMessage => "chat:message",
    SessionReplaced => "session:replaced",
    GuestBanned => "guest:banned",
    AppError<'_> => "app:error",
}

impl ServerEvent for Typing {
    fn name(&self) -> &'static str {
        if self.started {
            "chat:typing:start"
        } else {
            "chat:typing:stop"
        }
    }
}

impl ServerEvent for Relayed<'_, GuestId> {
    fn name(&self) -> &'static str {
        self.event()
    }
}

/// Why a chat ended, as `chat:ended` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EndReason {
    /// The partner left (`chat:leave`, or a deliberate disconnect).
    Left,
    /// The partner's connection dropped for good, or its node died.
    Disconnected,
    /// The partner's session expired or was deleted.
    SessionEnded,
}

/// `user:matched`: the new (or resumed) pair, as one of its guests sees it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Matched<'a> {
    room_id: RoomId,
    partner: Partner<'a>,
    initiator: bool,
    common_interests: &'a [String],
    ice_servers: Vec<IceServer>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    resumed: bool,
}

#[derive(Debug, Serialize)]
struct Partner<'a> {
    id: GuestId,
    username: &'a str,
}

impl<'a> Matched<'a> {
    /// `pair` as `me` sees it; `resumed` after a reconnection or replacement.
    pub(crate) fn new(
        pair: &'a Pair,
        me: &GuestId,
        ice_servers: Vec<IceServer>,
        resumed: bool,
    ) -> Self {
        let partner = pair.partner_of(me).unwrap_or(*me);
        Self {
            room_id: pair.room_id,
            partner: Partner {
                id: partner,
                username: pair.name_of(&partner).unwrap_or_default(),
            },
            initiator: pair.initiator == *me,
            common_interests: &pair.common_interests,
            ice_servers,
            resumed,
        }
    }
}

/// `chat:ended`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChatEnded {
    pub(crate) room_id: RoomId,
    pub(crate) reason: EndReason,
}

/// `chat:partner:away`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PartnerAway {
    pub(crate) room_id: RoomId,
}

/// `chat:partner:back`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PartnerBack {
    pub(crate) room_id: RoomId,
}

/// `chat:cleared`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChatCleared {
    pub(crate) room_id: RoomId,
    pub(crate) by: GuestId,
    /// Its number in the recipient's log (an addition; see [`OutgoingMessage::seq`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seq: Option<u64>,
}

/// `chat:typing:start` or `chat:typing:stop`: `{"from"}`.
#[derive(Debug, Serialize)]
pub(crate) struct Typing {
    pub(crate) from: GuestId,
    #[serde(skip)]
    pub(crate) started: bool,
}

/// `session:replaced`: `{}`.
#[derive(Debug, Serialize)]
pub(crate) struct SessionReplaced {}

/// `guest:banned`: `{"expiresAt", "message"}`, sent to a banned guest's socket before it is
/// disconnected (a `connect_error` can carry only its code).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GuestBanned {
    pub(crate) expires_at: duet_core::Timestamp,
    pub(crate) message: &'static str,
}

/// `app:error`: an event without an ack callback was refused.
#[derive(Debug)]
pub(crate) struct AppError<'a> {
    pub(crate) error: &'a EventError,
    pub(crate) event: &'static str,
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
    /// Its number in the recipient's log: one more than the last `chat:message` or
    /// `chat:cleared` of this chat it was sent. A reconnecting client names the last it saw
    /// (`auth.lastSeen`) and is sent what came after. Absent only when the store could not
    /// number it (a pair on this node while the store is unreachable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) seq: Option<u64>,
}

/// Serializes a present option as its value, not through `serialize_some`: socketioxide's
/// serializer turns nested bytes into binary attachments only along paths it wraps, and
/// `serialize_some` is not one of them.
fn present<T: Serialize, S: Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => value.serialize(serializer),
        None => serializer.serialize_unit(),
    }
}

/// The file of an [`OutgoingMessage`].
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OutgoingFile {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) size: usize,
    /// Sent as a Socket.IO binary attachment.
    pub(crate) data: Bytes,
}

/// A successful ack: `{"ok": true, ...}`.
#[derive(Debug)]
pub(crate) enum Ack {
    /// `{"ok": true}`.
    Done,
    /// `{"ok": true, "status": "waiting"}` (`user:match`).
    Waiting,
    /// `{"ok": true, "id", "sentAt"}` (`chat:message`).
    Sent { id: String, sent_at: Timestamp },
    /// `{"ok": true, "iceServers"}` (`webrtc:ice-servers`).
    IceServers(Vec<IceServer>),
    /// `{"ok": true, "reportId"}` (`chat:report`).
    Reported(duet_core::ReportId),
}

impl Serialize for Ack {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = match self {
            Self::Done => 1,
            Self::Waiting | Self::IceServers(_) | Self::Reported(_) => 2,
            Self::Sent { .. } => 3,
        };
        let mut map = serializer.serialize_map(Some(fields))?;
        map.serialize_entry("ok", &true)?;
        match self {
            Self::Done => {}
            Self::Waiting => map.serialize_entry("status", "waiting")?,
            Self::Sent { id, sent_at } => {
                map.serialize_entry("id", id)?;
                map.serialize_entry("sentAt", sent_at)?;
            }
            Self::IceServers(servers) => map.serialize_entry("iceServers", servers)?,
            Self::Reported(id) => map.serialize_entry("reportId", id)?,
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn payloads_have_the_protocol_shapes() {
        let (ada, bob) = (GuestId::random(), GuestId::random());
        let pair = Pair::new(ada, bob, Timestamp::from_unix_millis(0))
            .with_names("Ada", "Bob")
            .with_common_interests(vec!["rust".into()]);
        let matched = serde_json::to_value(Matched::new(&pair, &bob, Vec::new(), true)).ok();
        assert_eq!(
            matched,
            Some(json!({
                "roomId": pair.room_id, "partner": {"id": ada, "username": "Ada"},
                "initiator": false, "commonInterests": ["rust"], "iceServers": [], "resumed": true,
            }))
        );
        let fresh = serde_json::to_value(Matched::new(&pair, &ada, Vec::new(), false)).ok();
        assert_eq!(fresh.as_ref().and_then(|v| v.get("resumed")), None);
        let ended = ChatEnded {
            room_id: pair.room_id,
            reason: EndReason::SessionEnded,
        };
        assert_eq!(
            serde_json::to_value(&ended).ok(),
            Some(json!({"roomId": pair.room_id, "reason": "session_ended"}))
        );
        assert_eq!(
            serde_json::to_value(SessionReplaced {}).ok(),
            Some(json!({}))
        );
        let typing = Typing {
            from: ada,
            started: false,
        };
        assert_eq!(typing.name(), "chat:typing:stop");
        assert_eq!(
            serde_json::to_value(&typing).ok(),
            Some(json!({"from": ada}))
        );
    }

    #[test]
    fn acks_and_errors_have_the_protocol_shapes() {
        let stamp = Timestamp::from_unix_millis(5);
        let sent = Ack::Sent {
            id: "m1".into(),
            sent_at: stamp,
        };
        assert_eq!(
            serde_json::to_value(&sent).ok(),
            Some(json!({"ok": true, "id": "m1", "sentAt": stamp}))
        );
        assert_eq!(
            serde_json::to_value(Ack::Done).ok(),
            Some(json!({"ok": true}))
        );
        assert_eq!(
            serde_json::to_value(Ack::Waiting).ok(),
            Some(json!({"ok": true, "status": "waiting"}))
        );
        let limited = EventError::rate_limited(250);
        let app_error = AppError {
            error: &limited,
            event: "chat:message",
        };
        assert_eq!(
            serde_json::to_value(&app_error).ok(),
            Some(
                json!({"code": "RATE_LIMITED", "message": limited.message, "retryAfterMs": 250, "event": "chat:message"})
            )
        );
    }
}
