//! [`Held`]: an entry of a guest's log (what was sent to it), replayed in order on its return.
//!
//! Stored as JSON (file data in base64) so that any node can replay it.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use duet_core::{GuestId, RoomId, Timestamp};
use duet_presence_store::KeptEntry;
use serde::{Deserialize, Serialize};

use crate::event::{ChatCleared, ChatEnded, OutgoingFile, OutgoingMessage};

/// How many entries a guest's log keeps: the messages held while its connection is down, and
/// the recent ones a reconnecting client may ask for again.
pub const HELD_MESSAGES: usize = 100;

/// One thing held for an away guest. Borrows the message it is made from (encoding one is on
/// the path of every relayed message); a decoded one owns its text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub(crate) enum Held<'a> {
    /// A `chat:message` its partner sent meanwhile.
    Message(HeldMessage<'a>),
    /// Its partner cleared the chat (everything held before is gone).
    Cleared(ChatCleared),
    /// The chat ended while it was away.
    Ended(ChatEnded),
}

/// An [`OutgoingMessage`] in storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HeldMessage<'a> {
    id: Cow<'a, str>,
    room_id: RoomId,
    from: GuestId,
    text: Option<Cow<'a, str>>,
    /// Name, type and base64 data.
    file: Option<(Cow<'a, str>, Cow<'a, str>, String)>,
    client_id: Option<Cow<'a, str>>,
    sent_at: Timestamp,
}

impl<'a> From<&'a OutgoingMessage> for HeldMessage<'a> {
    fn from(message: &'a OutgoingMessage) -> Self {
        Self {
            id: Cow::Borrowed(&message.id),
            room_id: message.room_id,
            from: message.from,
            text: message.text.as_deref().map(Cow::Borrowed),
            file: message.file.as_ref().map(|f| {
                (
                    Cow::Borrowed(f.name.as_str()),
                    Cow::Borrowed(f.kind.as_str()),
                    STANDARD.encode(&f.data),
                )
            }),
            client_id: message.client_id.as_deref().map(Cow::Borrowed),
            sent_at: message.sent_at,
        }
    }
}

impl HeldMessage<'_> {
    /// The message to send again; `None` when its file data is not base64 (not written by us).
    pub(crate) fn into_outgoing(self) -> Option<OutgoingMessage> {
        let file = match self.file {
            None => None,
            Some((name, kind, data)) => {
                let data = Bytes::from(STANDARD.decode(data).ok()?);
                Some(OutgoingFile {
                    name: name.into_owned(),
                    kind: kind.into_owned(),
                    size: data.len(),
                    data,
                })
            }
        };
        Some(OutgoingMessage {
            id: self.id.into_owned(),
            room_id: self.room_id,
            from: self.from,
            text: self.text.map(Cow::into_owned),
            file,
            client_id: self.client_id.map(Cow::into_owned),
            sent_at: self.sent_at,
            seq: None,
        })
    }
}

/// Room for an entry's fixed part: its kind, three ids, the time and the field names.
const ENTRY_OVERHEAD_BYTES: usize = 256;

impl Held<'_> {
    pub(crate) fn encode(&self) -> Vec<u8> {
        // Sized once for what it carries, rather than grown from empty a few bytes at a time.
        let carried = match self {
            Self::Message(message) => {
                message.text.as_ref().map_or(0, |text| text.len())
                    + message.file.as_ref().map_or(0, |(_, _, data)| data.len())
            }
            Self::Cleared(_) | Self::Ended(_) => 0,
        };
        let mut entry = Vec::with_capacity(ENTRY_OVERHEAD_BYTES + carried);
        // Serializing these plain structs to a Vec cannot fail.
        match serde_json::to_writer(&mut entry, self) {
            Ok(()) => entry,
            Err(_) => Vec::new(),
        }
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Held<'static>> {
        serde_json::from_slice(bytes).ok()
    }
}

/// The entries of a log (oldest first) that may have been sent at `since` or later: those after
/// the last message sent before it. Markers carry no time of their own, so those after that
/// message count as later.
pub(crate) fn kept_since(mut entries: Vec<KeptEntry>, since: Timestamp) -> Vec<KeptEntry> {
    let sent_before = |kept: &KeptEntry| matches!(Held::decode(&kept.entry), Some(Held::Message(message)) if message.sent_at < since);
    match entries.iter().rposition(sent_before) {
        Some(last_before) => entries.split_off(last_before + 1),
        None => entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EndReason;

    #[test]
    fn what_was_kept_since_a_moment_starts_after_the_last_message_sent_before_it() {
        let room_id = RoomId::random();
        let message = |seq: u64, second: i64| {
            let outgoing = OutgoingMessage {
                id: format!("m{seq}"),
                room_id,
                from: GuestId::random(),
                text: Some("hi".into()),
                file: None,
                client_id: None,
                sent_at: Timestamp::from_unix_millis(second * 1000),
                seq: None,
            };
            KeptEntry {
                seq,
                entry: Held::Message(HeldMessage::from(&outgoing)).encode(),
            }
        };
        let cleared = KeptEntry {
            seq: 3,
            entry: Held::Cleared(ChatCleared {
                room_id,
                by: GuestId::random(),
                seq: None,
            })
            .encode(),
        };
        let log = vec![message(1, 1), message(2, 2), cleared, message(4, 3)];
        let seqs = |since_ms: i64| -> Vec<u64> {
            kept_since(log.clone(), Timestamp::from_unix_millis(since_ms))
                .iter()
                .map(|kept| kept.seq)
                .collect()
        };
        assert_eq!(seqs(500), [1, 2, 3, 4], "everything is as late or later");
        assert_eq!(
            seqs(2_000),
            [2, 3, 4],
            "a message sent at the moment counts"
        );
        assert_eq!(
            seqs(2_500),
            [3, 4],
            "the marker after the last earlier message counts"
        );
        assert_eq!(seqs(10_000), Vec::<u64>::new());
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
            seq: Some(3),
        };
        let held = Held::Message(HeldMessage::from(&outgoing));
        let Some(Held::Message(back)) = Held::decode(&held.encode()) else {
            panic!("not a message");
        };
        let back = back.into_outgoing();
        assert_eq!(
            back.as_ref()
                .and_then(|m| m.file.as_ref())
                .map(|f| (f.size, f.data.clone())),
            Some((3, Bytes::from_static(&[0, 1, 255])))
        );
        assert_eq!(back.and_then(|m| m.client_id).as_deref(), Some("c"));
    }

    #[test]
    fn markers_round_trip_and_junk_is_refused() {
        let room_id = RoomId::random();
        let ended = Held::Ended(ChatEnded {
            room_id,
            reason: EndReason::Left,
        });
        assert!(matches!(
            Held::decode(&ended.encode()),
            Some(Held::Ended(ChatEnded {
                reason: EndReason::Left,
                ..
            }))
        ));
        assert!(Held::decode(b"{\"kind\":\"nope\"}").is_none());
        let bad_file = format!(
            "{{\"kind\":\"message\",\"id\":\"m\",\"roomId\":\"{room_id}\",\"from\":\"{}\",\"file\":[\"a\",\"b\",\"not base64!\"],\"sentAt\":\"2026-01-01T00:00:00.000Z\"}}",
            GuestId::random()
        );
        let Some(Held::Message(message)) = Held::decode(bad_file.as_bytes()) else {
            panic!("not a message");
        };
        assert!(message.into_outgoing().is_none());
    }
}
