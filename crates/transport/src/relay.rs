//! Relay between the two guests of a pair: messages, clearing, typing and WebRTC signals. The
//! partner is looked up once per event, and the server alone picks it.

use std::sync::Arc;

use duet_core::{GuestId, RoomId, Timestamp};
use duet_presence_store::{Kept, Pair};
use duet_signaling::{IceServer, Signal};
use socketioxide::adapter::Adapter;

use crate::event::{
    Ack, ChatCleared, ChatMessage, EventName, OutgoingFile, OutgoingMessage, ServerEvent, Typing,
};
use crate::held::{Held, HeldMessage};
use crate::metrics as names;
use crate::node::{Duet, NotSent};
use crate::reply::{EventError, Failure};
use crate::session::SocketContext;

/// A guest's current chat, as relaying needs it.
pub(crate) struct CurrentChat {
    pub(crate) pair: Arc<Pair>,
    pub(crate) partner: GuestId,
    /// The partner's connection dropped and the chat is held for it.
    pub(crate) away: bool,
    /// Both guests are on this node.
    pub(crate) local: bool,
}

/// How a message finds its partner.
enum Route {
    /// The partner remembered from an earlier message: the store checks the chat as it keeps.
    Remembered { room: RoomId, partner: GuestId },
    /// The chat as just looked up.
    Current(CurrentChat),
}

impl Route {
    fn room_id(&self) -> RoomId {
        match self {
            Self::Remembered { room, .. } => *room,
            Self::Current(chat) => chat.pair.room_id,
        }
    }
}

impl<A: Adapter> Duet<A> {
    /// The guest's chat. A pair whose two guests are on this node is answered from memory (the
    /// relay's fast path, and what keeps such pairs chatting while Redis is down); any other
    /// pair costs one store call.
    pub(crate) async fn current_chat(&self, guest: &GuestId) -> Result<CurrentChat, Failure> {
        if let Some(pair) = self.local_pair(guest)
            && let Some(partner) = pair.partner_of(guest)
        {
            return Ok(CurrentChat {
                pair,
                partner,
                away: false,
                local: true,
            });
        }
        let (pair, away) = self
            .stores
            .chats
            .chat_of(guest)
            .await?
            .ok_or_else(EventError::not_in_chat)?;
        let partner = pair.partner_of(guest).ok_or_else(EventError::not_in_chat)?;
        Ok(CurrentChat {
            pair: Arc::new(pair),
            partner,
            away,
            local: false,
        })
    }

    /// Sends `event` to the partner of `chat`; an event that certainly did not go out is an
    /// error for its sender, never an `ok`.
    async fn deliver(&self, chat: &CurrentChat, event: &impl ServerEvent) -> Result<(), Failure> {
        if self.emit_to(&chat.partner, event, chat.local).await {
            Ok(())
        } else {
            Err(EventError::partner_unreachable().into())
        }
    }

    /// `chat:message`: numbered in the partner's log, then sent, or held while it is away.
    ///
    /// A pair on two nodes costs one store call per message: the partner is remembered from the
    /// first message, and later ones are kept with a call that checks the chat as well
    /// (`keep_in_chat`). Only when that finds the chat changed is it looked up again.
    pub(crate) async fn relay_message(
        &self,
        context: &SocketContext<A>,
        message: ChatMessage,
    ) -> Result<Ack, Failure> {
        // Content is part of the shape: refused before the chat is looked up.
        self.check_content(message.text.as_deref())?;
        // Copied only when the operator keeps evidence.
        let evidence = (self.moderation().evidence_messages > 0).then(|| {
            let file_name = message.file.as_ref().map(|file| file.name.clone());
            (message.text.clone(), file_name)
        });
        let (ack, room) = self.send_message(context, message).await?;
        if let (Some((text, file_name)), Ack::Sent { sent_at, .. }) = (evidence, &ack) {
            self.remember_evidence(&context.guest, &room, text, file_name, *sent_at)
                .await;
        }
        Ok(ack)
    }

    /// [`relay_message`](Self::relay_message) past the content filter: the ack and the room.
    async fn send_message(
        &self,
        context: &SocketContext<A>,
        message: ChatMessage,
    ) -> Result<(Ack, RoomId), Failure> {
        let sent_at = self.now();
        let remembered = context
            .remembered_partner()
            .filter(|_| self.local_pair(&context.guest).is_none());
        let mut route = match remembered {
            Some((room, partner)) => Route::Remembered { room, partner },
            None => Route::Current(self.current_chat(&context.guest).await?),
        };
        let mut outgoing = OutgoingMessage {
            // From the thread's RNG: `new_v4` would cost a getrandom system call per message.
            id: uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .to_string(),
            room_id: route.room_id(),
            from: context.guest,
            text: message.text,
            file: message.file.map(|file| OutgoingFile {
                size: file.data.len(),
                name: file.name,
                kind: file.kind,
                data: file.data,
            }),
            client_id: message.client_id,
            sent_at,
            seq: None,
        };
        let (partner, local, kept) = loop {
            let entry = Held::Message(HeldMessage::from(&outgoing)).encode();
            match route {
                Route::Remembered { room, partner } => {
                    let limits = self.settings.keep_limits();
                    let chats = &self.stores.chats;
                    let kept = chats.keep_in_chat(&context.guest, &room, &partner, entry, &limits);
                    if let Some(kept) = kept.await? {
                        break (partner, false, Some(kept));
                    }
                    // The chat changed since: look it up.
                    context.remember_partner(None);
                    route = Route::Current(self.current_chat(&context.guest).await?);
                    outgoing.room_id = route.room_id();
                }
                Route::Current(chat) => {
                    if !chat.local {
                        context.remember_partner(Some((chat.pair.room_id, chat.partner)));
                    }
                    let kept = self.keep_for(&chat, entry, false).await?;
                    break (chat.partner, chat.local, kept);
                }
            }
        };
        let ack = Ack::Sent {
            id: outgoing.id.clone(),
            sent_at,
        };
        match kept {
            Some(Kept::Held(_)) => return Ok((ack, outgoing.room_id)),
            Some(Kept::Refused) => return Err(EventError::partner_away().into()),
            Some(Kept::Live(seq) | Kept::Unkept(seq)) => outgoing.seq = Some(seq),
            None => {}
        }
        let bytes = outgoing.text.as_ref().map_or(0, String::len)
            + outgoing.file.as_ref().map_or(0, |f| f.size);
        match (self.try_emit_to(&partner, &outgoing, local).await, kept) {
            (Ok(()), _) => {
                self.counters.relayed(EventName::Message, bytes);
            }
            // The partner's connection is going, and the message is kept: held from here on, it
            // reaches the partner on its return, as a message sent while it was away does.
            (Err(NotSent::Closing), Some(Kept::Live(seq))) => {
                self.stores.chats.hold_since(&partner, seq).await?;
            }
            (Err(_), _) => return Err(EventError::partner_unreachable().into()),
        }
        Ok((ack, outgoing.room_id))
    }

    /// Keeps `entry` in the partner's log (a marker replaces what was kept). `None` when the
    /// store failed but the pair is on this node: the entry goes out unnumbered rather than not
    /// at all, since both guests are here.
    async fn keep_for(
        &self,
        chat: &CurrentChat,
        entry: Vec<u8>,
        marker: bool,
    ) -> Result<Option<Kept>, Failure> {
        let chats = &self.stores.chats;
        let kept = if marker {
            chats.keep_marker(&chat.partner, entry).await
        } else {
            chats
                .keep(&chat.partner, entry, &self.settings.keep_limits())
                .await
        };
        match kept {
            Ok(kept) => Ok(Some(kept)),
            Err(error) if chat.local => {
                metrics::counter!(names::UNNUMBERED).increment(1);
                tracing::warn!(%error, "store unreachable; a local pair's event goes out unnumbered");
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// `chat:clear`: both guests see `chat:cleared`, and it replaces what each one's log kept;
    /// an away partner finds it on return, with what was held for it gone.
    pub(crate) async fn clear(&self, context: &SocketContext<A>) -> Result<Ack, Failure> {
        let chat = self.current_chat(&context.guest).await?;
        let mut cleared = ChatCleared {
            room_id: chat.pair.room_id,
            by: context.guest,
            seq: None,
        };
        let encoded = Held::Cleared(cleared.clone()).encode();
        let own = match self
            .stores
            .chats
            .keep_marker(&context.guest, encoded.clone())
            .await
        {
            Ok(Kept::Live(seq) | Kept::Unkept(seq) | Kept::Held(seq)) => Some(seq),
            _ => None,
        };
        self.emit_to(
            &context.guest,
            &ChatCleared {
                seq: own,
                ..cleared.clone()
            },
            chat.local,
        )
        .await;
        match self.keep_for(&chat, encoded, true).await? {
            Some(Kept::Live(seq) | Kept::Unkept(seq)) => cleared.seq = Some(seq),
            Some(Kept::Held(_) | Kept::Refused) => return Ok(Ack::Done),
            None => {}
        }
        self.deliver(&chat, &cleared).await?;
        Ok(Ack::Done)
    }

    /// `chat:typing:start` / `chat:typing:stop`: to the partner, never held.
    pub(crate) async fn typing(
        &self,
        context: &SocketContext<A>,
        started: bool,
    ) -> Result<Ack, Failure> {
        let chat = self.current_chat(&context.guest).await?;
        if !chat.away {
            let typing = Typing {
                from: context.guest,
                started,
            };
            self.deliver(&chat, &typing).await?;
        }
        Ok(Ack::Done)
    }

    /// A WebRTC signal: to the partner only, never held (a returning initiator offers anew).
    pub(crate) async fn signal(
        &self,
        context: &SocketContext<A>,
        signal: Signal,
    ) -> Result<Ack, Failure> {
        let chat = self.current_chat(&context.guest).await?;
        if !chat.away {
            let relayed = signal.relayed(context.guest);
            let bytes = match &signal {
                Signal::Offer { sdp } | Signal::Answer { sdp } => sdp.len(),
                Signal::IceCandidate(candidate) => candidate.candidate.len(),
                Signal::Hangup => 0,
            };
            self.deliver(&chat, &relayed).await?;
            self.counters.relayed(signal.kind().into(), bytes);
        }
        Ok(Ack::Done)
    }

    /// `webrtc:ice-servers`: fresh credentials, valid until the session expires.
    pub(crate) async fn ice_servers(&self, context: &SocketContext<A>) -> Ack {
        let expires = match self.stores.sessions.session(&context.session.id).await {
            Ok(Some(session)) => session.expires_at(),
            // The expiry known from the handshake still bounds the credentials.
            _ => context.session.expires_at(),
        };
        Ack::IceServers(self.ice_servers_until(&context.guest, expires))
    }

    /// ICE servers for `guest`, with TURN credentials valid until `expires`.
    pub(crate) fn ice_servers_until(&self, guest: &GuestId, expires: Timestamp) -> Vec<IceServer> {
        self.settings
            .ice
            .servers_for(&guest.to_string(), expires.unix_seconds())
    }
}
