//! A socket's life: the handshake, the per-socket context and its inbox, connecting
//! (replacement, resume), disconnecting (the grace), and the ends that come from elsewhere
//! (session ended, grace over, node died).

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use duet_auth::{AuthError, Authenticated, Session, extract_token};
use duet_core::{ErrorCode, GuestId, NodeId, RoomId, Timestamp};
use duet_presence_store::{Connection, DeadNode, KeptEntry, LastSeen, Pair, Return, StoreError};
use serde_json::Value as Json;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{Event, SocketRef, TryData};
use socketioxide::handler::{ConnectHandler, FromMessageParts, Value as PacketValue};
use socketioxide::socket::{DisconnectReason, Sid, Socket};
use socketioxide_core::adapter::DefinedAdapter;

use crate::backoff::Backoff;
use crate::event::{
    ChatCleared, EndReason, EventName, Matched, OutgoingMessage, PartnerAway, PartnerBack,
    ServerEvent, SessionReplaced,
};
use crate::held::{Held, kept_since};
use crate::inbox::{Inbox, Pushed};
use crate::loose::Loose;
use crate::metrics as names;
use crate::node::{Duet, socket_room, user_room};
use crate::reply::{EventError, Failure, Reply};
use crate::serve::ConnectionSlot;

/// What a refused-for-backlog event is told to wait.
const BACKLOG_RETRY_MS: u64 = 1000;

/// Runs `step` until it succeeds, trying again after a wait that grows ([`Backoff`]) while the
/// store is unavailable and `socket` is connected. A stock client that the server disconnects does not
/// reconnect by itself, so a store that fails for a while must not cost the guest its socket;
/// the guest's own events wait behind the step. Another error (an unreadable reply: trying
/// again cannot cure it), or the socket gone, ends it with that error.
async fn retry_while_unavailable<A: Adapter, T, F: Future<Output = Result<T, StoreError>>>(
    socket: &SocketRef<A>,
    guest: &GuestId,
    what: &'static str,
    mut step: impl FnMut() -> F,
) -> Result<T, StoreError> {
    let mut backoff = Backoff::new();
    loop {
        match step().await {
            Err(error) if error.is_unavailable() && socket.connected() => {
                let wait = backoff.next_wait();
                tracing::warn!(%error, guest_id = %guest, retry_in = ?wait, "cannot {what} yet");
                tokio::time::sleep(wait).await;
            }
            done => return done,
        }
    }
}

/// Who a socket belongs to, set by the handshake, with the socket's inbox.
pub(crate) struct SocketContext<A: Adapter> {
    pub(crate) guest: GuestId,
    /// The session as the handshake found it (also what is written back into a store that
    /// lost it).
    pub(crate) session: Session,
    pub(crate) socket_id: Sid,
    /// What the client says it last received (`auth.lastSeen`), for its resume.
    last_seen: Option<LastSeen>,
    /// The client's address, as a tag (bans and the per-address cap).
    pub(crate) address: duet_moderation::AddressTag,
    /// The page said it is going away (`chat:leaving`): a drop now is held only the reload
    /// grace.
    pub(crate) leaving: std::sync::atomic::AtomicBool,
    /// The chat and partner of its last message to a partner on another node (see
    /// `Duet::relay_message`); checked by the store with each use.
    partner: std::sync::Mutex<Option<(RoomId, GuestId)>>,
    duet: Arc<Duet<A>>,
    inbox: Inbox<Inbound<A>>,
}

/// One item of a socket's work, in the order it happened.
enum Inbound<A: Adapter> {
    /// A known event (its payload still to be checked) and how to answer it.
    Event {
        name: EventName,
        payload: Option<Loose>,
        reply: Reply<A>,
    },
    /// What the other nodes sent the socket since `since` may have been lost on the way (the
    /// node's link to them was interrupted): it is sent again from the store.
    CatchUp {
        socket: SocketRef<A>,
        since: Timestamp,
    },
    /// The socket is gone: the last item.
    Disconnected(DisconnectReason),
}

/// The refusal a client sees as `connect_error`: its message is exactly the code.
#[derive(Debug)]
struct Refusal(duet_core::ErrorCode);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// Serves namespace `/` of `io` for `duet`: the handshake middleware, then the connect handler.
pub(crate) fn serve_namespace<A>(duet: &Arc<Duet<A>>, io: &SocketIo<A>) -> A::InitRes
where
    A: Adapter + DefinedAdapter,
{
    // Weak: the namespace lives inside `duet.io`, so a strong reference would keep the node
    // alive forever.
    let node = Arc::downgrade(duet);
    let check = move |socket: SocketRef<A>, TryData(auth): TryData<Json>| {
        let node = Weak::clone(&node);
        async move {
            let duet = node
                .upgrade()
                .ok_or(Refusal(duet_core::ErrorCode::Internal))?;
            duet.handshake(&socket, auth.ok()).await
        }
    };
    let on_connect = |socket: SocketRef<A>| async move {
        if let Some(context) = context_of(&socket) {
            context.duet.connected(&socket, &context).await;
            // Events that arrived since the handshake waited in the inbox; they run now, after
            // the socket has taken over its guest's connection and chat.
            context.drain().await;
        }
    };
    io.ns("/", on_connect.with(check))
}

fn context_of<A: Adapter>(socket: &Socket<A>) -> Option<Arc<SocketContext<A>>> {
    socket.extensions.get::<Arc<SocketContext<A>>>()
}

/// Queues the end of `socket` after its events and runs it, unless its end is queued already
/// (a drain ends sockets before their transports close).
pub(crate) async fn end_socket<A: Adapter>(socket: &Socket<A>, reason: DisconnectReason) {
    if let Some(context) = context_of(socket)
        && let Pushed::Drain = context.inbox.push_last(Inbound::Disconnected(reason))
    {
        context.drain().await;
    }
}

/// Queues a catch-up of `socket` ([`Inbound::CatchUp`]) behind the events it sent so far.
pub(crate) fn queue_catch_up<A: Adapter>(socket: SocketRef<A>, since: Timestamp) {
    let Some(context) = context_of(&socket) else {
        return;
    };
    if let Pushed::Drain = context
        .inbox
        .push_unbounded(Inbound::CatchUp { socket, since })
    {
        tokio::spawn(async move { context.drain().await });
    }
}

/// Guests with a socket on this node.
pub(crate) fn local_guests<A: Adapter>(io: &SocketIo<A>) -> Vec<GuestId> {
    local_contexts(io)
        .iter()
        .map(|context| context.guest)
        .collect()
}

/// The contexts of this node's sockets.
pub(crate) fn local_contexts<A: Adapter>(io: &SocketIo<A>) -> Vec<Arc<SocketContext<A>>> {
    io.local()
        .sockets()
        .iter()
        .filter_map(|socket| context_of(socket))
        .collect()
}

/// Payload bytes of an incoming packet: its text and its binary attachments.
fn packet_bytes(value: &PacketValue) -> usize {
    match value {
        PacketValue::Str(text, binaries) => {
            text.len()
                + binaries
                    .iter()
                    .flatten()
                    .map(bytes::Bytes::len)
                    .sum::<usize>()
        }
        PacketValue::Bytes(bytes) => bytes.len(),
    }
}

/// An event admitted to its socket's inbox while socketioxide read it. Holds the context when
/// the handler must drain the inbox (nobody else is).
pub(crate) struct Admitted<A: Adapter>(Option<Arc<SocketContext<A>>>);

impl<A: Adapter> FromMessageParts<A> for Admitted<A> {
    type Error = Infallible;

    /// Runs in the socket's read path, in the order events arrive: the budget, then the inbox.
    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        value: &mut PacketValue,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let Some(context) = context_of(socket) else {
            return Ok(Self(None));
        };
        let name = Event::from_message_parts(socket, value, ack_id)
            .ok()
            .and_then(|Event(name)| EventName::from_name(&name));
        let Ok(reply) = Reply::from_message_parts(socket, value, ack_id);
        let label = name.map_or(names::UNKNOWN_EVENT, EventName::as_str);
        let bytes = packet_bytes(value);
        // The limits come first, and a refused event costs nothing: a full backlog (or an
        // ending socket) is refused before the budget is charged.
        if name.is_some() && !context.inbox.has_room(bytes) {
            reply.refuse(label, &EventError::rate_limited(BACKLOG_RETRY_MS));
            return Ok(Self(None));
        }
        if let Err(wait) = context.duet.event_budget.check(&context.guest) {
            metrics::counter!(names::RATE_LIMITED).increment(1);
            let wait_ms = u64::try_from(wait.as_millis().max(1)).unwrap_or(u64::MAX);
            reply.refuse(label, &EventError::rate_limited(wait_ms));
            return Ok(Self(None));
        }
        let Some(name) = name else {
            // An unknown event is ignored; its ack, if it asked for one, says INVALID_PAYLOAD.
            if reply.wants_ack() {
                reply.refuse(label, &EventError::invalid("unknown event"));
            }
            return Ok(Self(None));
        };
        let payload = TryData::<Loose>::from_message_parts(socket, value, ack_id)
            .ok()
            .and_then(|TryData(payload)| payload.ok());
        let inbound = Inbound::Event {
            name,
            payload,
            reply,
        };
        Ok(match context.inbox.push(inbound, bytes) {
            Pushed::Drain => Self(Some(context)),
            Pushed::Queued => Self(None),
            Pushed::Refused(inbound) => {
                if let Inbound::Event { reply, .. } = inbound {
                    reply.refuse(label, &EventError::rate_limited(BACKLOG_RETRY_MS));
                }
                Self(None)
            }
        })
    }
}

impl<A: Adapter> SocketContext<A> {
    /// This socket as its guest's connection on `node`, connected `at`.
    pub(crate) fn connection(&self, node: &NodeId, at: Timestamp) -> Connection {
        Connection {
            guest_id: self.guest,
            node_id: node.clone(),
            socket_id: self.socket_id.to_string(),
            connected_at: at,
            username: self.session.guest.username.to_string(),
            session_expires_at: self.session.expires_at(),
            address_tag: Some(self.address.to_string()),
        }
    }

    /// The partner remembered from an earlier message, if any.
    pub(crate) fn remembered_partner(&self) -> Option<(RoomId, GuestId)> {
        *self
            .partner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers (or forgets) the chat and partner of this socket's messages.
    pub(crate) fn remember_partner(&self, chat: Option<(RoomId, GuestId)>) {
        *self
            .partner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = chat;
    }

    /// Runs what waits in the inbox, in order, until it is empty.
    async fn drain(&self) {
        while let Some(inbound) = self.inbox.next() {
            match inbound {
                Inbound::Event {
                    name,
                    payload,
                    reply,
                } => self.duet.apply(self, name, payload, reply).await,
                Inbound::CatchUp { socket, since } => {
                    let result = match self.duet.catch_up(&socket, self, since).await {
                        Ok(true) => "sent",
                        Ok(false) => "none",
                        Err(failure) => {
                            failure.log("catch up", &self.guest);
                            "failed"
                        }
                    };
                    metrics::counter!(names::CATCH_UPS, "result" => result).increment(1);
                }
                Inbound::Disconnected(reason) => self.duet.disconnected(self, reason).await,
            }
        }
    }
}

impl<A: Adapter> Duet<A> {
    /// The handshake: checks the token, then gives the socket its context and handlers. They
    /// are registered here, before the client is told it is connected: socketioxide sends
    /// CONNECT and only then starts the connect handler in a task of its own, so an event sent
    /// at once would otherwise find no handler.
    async fn handshake(
        self: Arc<Self>,
        socket: &SocketRef<A>,
        auth: Option<Json>,
    ) -> Result<(), Refusal> {
        let header = socket
            .req_parts()
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.to_str().map_err(|_| AuthError::Invalid));
        let last_seen = auth.as_ref().and_then(parse_last_seen);
        let outcome = async {
            let token = extract_token(auth.as_ref(), header.transpose()?)?;
            self.tokens
                .authenticate(token, &*self.stores.sessions)
                .await
        }
        .await;
        let refused = |code: ErrorCode| {
            metrics::counter!(names::HANDSHAKES, "result" => code.as_str()).increment(1);
            Err(Refusal(code))
        };
        let session = match outcome {
            Ok(Authenticated { session, .. }) => session,
            Err(error) => {
                if let AuthError::Backend(source) = &error {
                    tracing::error!(error = %source, "session check failed during a handshake");
                }
                return refused(error.code());
            }
        };
        let ip = crate::moderate::address_of_parts(&self, socket.req_parts());
        let address = self.moderation.address_key.tag(ip);
        match self.ban_of(Some(&session.guest.id), Some(&address)).await {
            Ok(None) => {}
            Ok(Some(_)) => {
                metrics::counter!(names::BANNED_REFUSALS, "at" => "handshake").increment(1);
                return refused(ErrorCode::Banned);
            }
            Err(error) => {
                tracing::error!(%error, "ban check failed during a handshake");
                return refused(ErrorCode::Internal);
            }
        }
        let cap = self.moderation.max_guests_per_address;
        if !self
            .guests_by_address
            .admit(&address, session.guest.id, cap)
        {
            metrics::counter!(names::GUESTS_PER_ADDRESS_REFUSED).increment(1);
            return refused(ErrorCode::RateLimited);
        }
        metrics::counter!(names::HANDSHAKES, "result" => "ok").increment(1);
        // Counted before the client is told it is connected, so the stats it asks for next
        // include it; the disconnection's handling counts it out.
        self.local_sockets.fetch_add(1, Ordering::AcqRel);
        metrics::gauge!(names::SOCKETS_CONNECTED).increment(1.0);
        // The connection of the handshake's first request, and those that carried its other
        // requests meanwhile (long-polling), stop counting as pending.
        if let Some(slot) = socket.req_parts().extensions.get::<Arc<ConnectionSlot>>() {
            slot.authenticated();
        }
        self.authenticated_sessions.authenticated(socket.id);
        let context = Arc::new(SocketContext {
            guest: session.guest.id,
            socket_id: socket.id,
            session,
            last_seen,
            address,
            leaving: std::sync::atomic::AtomicBool::new(false),
            partner: std::sync::Mutex::default(),
            inbox: Inbox::held(
                self.settings.socket_backlog(),
                // A few full-size messages: a flood of files waits in the client, not here.
                self.settings.max_message_bytes().saturating_mul(4),
            ),
            duet: self,
        });
        socket.extensions.insert(context);
        // One handler for every event: the extractor admits it in arrival order, and the task
        // socketioxide spawns for it drains the inbox when nobody else is.
        socket.on_fallback(|Admitted(drain): Admitted<A>| async move {
            if let Some(context) = drain {
                context.drain().await;
            }
        });
        socket.on_disconnect(
            |socket: SocketRef<A>, reason: DisconnectReason| async move {
                end_socket(&socket, reason).await;
            },
        );
        Ok(())
    }

    /// The connect handler: the socket takes over its guest's connection and chat.
    async fn connected(&self, socket: &SocketRef<A>, context: &SocketContext<A>) {
        let socket_id = context.socket_id.to_string();
        // Before the socket joins its guest's room: until its resume, what its partner sends is
        // held, so nothing goes only to the socket it replaces, and nothing arrives live ahead
        // of what is replayed.
        let resumable = match self.stores.chats.hold_for_return(&context.guest).await {
            Ok(resumable) => resumable,
            Err(error) => {
                tracing::error!(%error, guest_id = %context.guest, "cannot hold a chat for a resume");
                true
            }
        };
        socket.join([user_room(&context.guest), socket_room(&socket_id)]);

        let connection = context.connection(&self.node_id, self.now());
        let recorded =
            retry_while_unavailable(socket, &context.guest, "record a connection", || {
                self.stores.presence.register_connection(&connection)
            })
            .await;
        let previous = match recorded {
            Ok(previous) => previous,
            Err(error) => {
                tracing::error!(%error, guest_id = %context.guest, "cannot record a connection");
                // Its disconnection is queued behind this and undoes the rest.
                let _ = socket.clone().disconnect();
                return;
            }
        };
        let replaced_live = match previous {
            Some(old) if old.socket_id != socket_id => {
                self.replace(&old).await;
                true
            }
            _ => false,
        };
        tracing::debug!(guest_id = %context.guest, replaced_live, "socket connected");
        if !resumable {
            return;
        }
        if let Err(failure) = self.resume(socket, context, replaced_live).await {
            failure.log("resume", &context.guest);
        }
    }

    /// The older socket of a guest that connected again: told, then disconnected, wherever it is.
    async fn replace(&self, old: &Connection) {
        let room = socket_room(&old.socket_id);
        let replaced = SessionReplaced {};
        if let Err(error) = self
            .io
            .to(room.clone())
            .emit(replaced.name(), &replaced)
            .await
        {
            tracing::debug!(%error, "session:replaced not delivered");
        }
        if let Err(error) = self.io.to(room).disconnect().await {
            tracing::debug!(%error, "replaced socket not disconnected");
        }
    }

    /// A guest in a chat gets `user:matched` again (`resumed`), then, in order, what it has to
    /// be sent: what came after the last entry it saw, or what was held for it, and then what
    /// was kept for it while those were on their way, until the hold ends.
    async fn resume(
        &self,
        socket: &SocketRef<A>,
        context: &SocketContext<A>,
        replaced_live: bool,
    ) -> Result<(), Failure> {
        let me = context.guest;
        let back = self.stores.chats.come_back(&me, context.last_seen).await?;
        self.send_back(socket, context, back.pair.as_ref(), true, back.entries)
            .await?;
        if let (Some(pair), true) = (&back.pair, back.was_away && !replaced_live)
            && let Some(partner) = pair.partner_of(&me)
        {
            let back = PartnerBack {
                room_id: pair.room_id,
            };
            self.emit_to(&partner, &back, false).await;
        }
        Ok(())
    }

    /// Sends a guest back into its chat on `socket` after [`ChatStore::come_back`]: `user:matched`
    /// (`resumed`) when `announce`, then `entries`, then what was kept meanwhile, until the hold
    /// ends.
    ///
    /// [`ChatStore::come_back`]: duet_presence_store::ChatStore::come_back
    async fn send_back(
        &self,
        socket: &SocketRef<A>,
        context: &SocketContext<A>,
        pair: Option<&Pair>,
        announce: bool,
        entries: Vec<KeptEntry>,
    ) -> Result<(), Failure> {
        let me = context.guest;
        if let Some(pair) = pair {
            self.known.paired(me, pair);
            self.remember_if_local(pair).await;
            if announce {
                let ice = self.ice_servers_until(&me, context.session.expires_at());
                emit_here(socket, &Matched::new(pair, &me, ice, true));
            }
        }
        emit_kept(socket, entries);
        if pair.is_some() {
            // The socket is in its guest's room already, but what its partner sends is still
            // held: live, it could overtake the entries just sent, published from another node.
            self.release_hold(socket, &me).await?;
        }
        Ok(())
    }

    /// [`Inbound::CatchUp`]: a guest in a chat with a partner on another node gets what may
    /// have been lost since `since`, as a resume would send it: `user:matched` (`resumed`)
    /// again if the pair formed since, then every entry of its log that may have been sent
    /// since ([`kept_since`]), with its number, then what came meanwhile. Some of it may have
    /// arrived already: a client drops a message it has by its `id`, a clear by its `roomId`
    /// and `seq` (`docs/protocol.md`). Returns whether anything was sent again.
    ///
    /// A pair on this node is left alone (its events never crossed the link), and so is a
    /// guest whose connection moved to another socket (which resumes by itself).
    async fn catch_up(
        &self,
        socket: &SocketRef<A>,
        context: &SocketContext<A>,
        since: Timestamp,
    ) -> Result<bool, Failure> {
        let me = context.guest;
        if self.local_pair(&me).is_some() {
            return Ok(false);
        }
        let socket_id = context.socket_id.to_string();
        let back = retry_while_unavailable(socket, &me, "catch a guest up", || async {
            let Some(pair) = self.stores.chats.pair_of(&me).await? else {
                return Ok(None);
            };
            let connection = self.stores.presence.connection(&me).await?;
            if connection.is_none_or(|connection| connection.socket_id != socket_id) {
                return Ok(None);
            }
            let from_the_start = LastSeen {
                room_id: pair.room_id,
                seq: 0,
            };
            self.stores
                .chats
                .come_back(&me, Some(from_the_start))
                .await
                .map(Some)
        })
        .await?;
        let Some(Return { pair, entries, .. }) = back else {
            return Ok(false);
        };
        let formed_since = pair.as_ref().is_some_and(|pair| pair.started_at >= since);
        let entries = kept_since(entries, since);
        let sent = formed_since || !entries.is_empty();
        self.send_back(socket, context, pair.as_ref(), formed_since, entries)
            .await?;
        Ok(sent)
    }

    /// Sends what was kept for `me` since its return, until a release finds nothing new and
    /// the hold ends. While the store is unavailable, it tries again, waiting longer each
    /// time, for as long as the socket is connected: what the partner sends meanwhile stays
    /// held (or is refused when the store cannot keep it either), and goes out in order once
    /// the store is back. The socket is not disconnected for it: a stock client disconnected by
    /// the server does not reconnect by itself. A socket that goes meanwhile leaves the hold on
    /// for its guest's next return. An error that repeating cannot cure (an unreadable reply)
    /// ends the resume at once, so the guest's own events, waiting behind it, run.
    async fn release_hold(&self, socket: &SocketRef<A>, me: &GuestId) -> Result<(), Failure> {
        loop {
            let entries = retry_while_unavailable(socket, me, "end the hold of a resume", || {
                self.stores.chats.release_hold(me)
            })
            .await?;
            if entries.is_empty() {
                return Ok(());
            }
            emit_kept(socket, entries);
        }
    }

    /// The socket is gone. Runs after every event it sent; the node counts it out at the end,
    /// so a drain waits for this.
    async fn disconnected(&self, context: &SocketContext<A>, reason: DisconnectReason) {
        metrics::gauge!(names::SOCKETS_CONNECTED).decrement(1.0);
        self.guests_by_address
            .release(&context.address, &context.guest);
        if let Err(failure) = self.hold_or_end_chat(context, reason).await {
            failure.log("disconnect", &context.guest);
        }
        self.local_sockets.fetch_sub(1, Ordering::AcqRel);
    }

    async fn hold_or_end_chat(
        &self,
        context: &SocketContext<A>,
        reason: DisconnectReason,
    ) -> Result<(), Failure> {
        let me = context.guest;
        let socket_id = context.socket_id.to_string();
        let unregistered = self
            .stores
            .presence
            .unregister_connection(&me, &socket_id)
            .await;
        if !matches!(unregistered, Ok(false)) {
            // This socket was the guest's connection (or the store cannot say): its pair is no
            // longer certainly local. Not when a newer socket replaced it: that one's resume
            // has just decided where the pair lives.
            self.forget_local_of(&me);
        }
        if !unregistered? {
            // Replaced by a newer socket: that one carries on, nothing ends.
            return Ok(());
        }
        self.known.forget(&me);
        // A ticket left behind only delays a pairing; the chat must still be held or ended.
        if let Err(error) = self.queue.cancel(&me).await {
            Failure::from(error).log("cancel on disconnect", &me);
        }
        let Some(pair) = self.stores.chats.pair_of(&me).await? else {
            return Ok(());
        };
        let draining = self.draining.load(Ordering::Acquire);
        let left = matches!(reason, DisconnectReason::ClientNSDisconnect);
        let ended_by_server = matches!(reason, DisconnectReason::ServerNSDisconnect) && !draining;
        if left || ended_by_server || self.settings.resume_grace.is_zero() {
            let why = if left {
                EndReason::Left
            } else {
                EndReason::Disconnected
            };
            return self.end_chat(&pair, &me, why).await;
        }
        let grace = if context.leaving.load(Ordering::Acquire) {
            self.settings.reload_grace.min(self.settings.resume_grace)
        } else {
            self.settings.resume_grace
        };
        let until = self.now().saturating_add(grace);
        self.stores.chats.set_away(&me, until).await?;
        if let Some(partner) = pair.partner_of(&me) {
            let away = PartnerAway {
                room_id: pair.room_id,
            };
            self.emit_to(&partner, &away, false).await;
        }
        // No timer here: every node sweeps overdue away marks (upkeep), so the chat still ends
        // on time if this node goes down meanwhile.
        Ok(())
    }

    /// The grace of a dropped guest is over: unless it came back, its chat ends.
    pub(crate) async fn grace_over(&self, guest: &GuestId) {
        let outcome = async {
            if self.stores.presence.connection(guest).await?.is_some() {
                return Ok(());
            }
            match self.stores.chats.pair_of(guest).await? {
                Some(pair) => self.end_chat(&pair, guest, EndReason::Disconnected).await,
                None => Ok(()),
            }
        };
        if let Err(failure) = outcome.await {
            failure.log("grace over", guest);
        }
    }

    /// A node died: chats of its guests end (`disconnected`) for their partners.
    pub(crate) async fn node_died(&self, node: DeadNode) {
        let guests = node.connections.len();
        tracing::warn!(node_id = %node.node_id, guests, "node died; ending its chats");
        for connection in node.connections {
            let guest = connection.guest_id;
            let outcome = async {
                self.queue.cancel(&guest).await?;
                match self.stores.chats.pair_of(&guest).await? {
                    Some(pair) => self.end_chat(&pair, &guest, EndReason::Disconnected).await,
                    None => Ok(()),
                }
            };
            if let Err(failure) = outcome.await {
                failure.log("dead node", &guest);
            }
        }
    }

    /// A session ended (deleted or expired): its chat ends with `session_ended`, its ticket and
    /// held messages go, and its sockets are disconnected wherever they are.
    pub async fn session_ended(&self, guest: &GuestId) {
        self.known.forget(guest);
        let outcome = async {
            if let Some(pair) = self.stores.chats.pair_of(guest).await? {
                self.stores.chats.clear_away(guest).await?;
                self.end_chat(&pair, guest, EndReason::SessionEnded).await?;
            }
            self.queue.cancel(guest).await?;
            self.stores.chats.forget_kept(guest).await?;
            Ok::<(), Failure>(())
        };
        if let Err(failure) = outcome.await {
            failure.log("session ended", guest);
        }
        if let Err(error) = self.io.to(user_room(guest)).disconnect().await {
            tracing::debug!(%error, "sockets of an ended session not disconnected");
        }
    }
}

/// `auth.lastSeen` (`{"roomId", "seq"}`), when it is well formed; anything else counts as
/// nothing seen, as for a client that does not send it.
fn parse_last_seen(auth: &Json) -> Option<LastSeen> {
    let seen = auth.get("lastSeen")?;
    Some(LastSeen {
        room_id: seen.get("roomId")?.as_str()?.parse().ok()?,
        seq: seen.get("seq")?.as_u64()?,
    })
}

/// Emits kept entries on this very socket, in order, each with its number; an unreadable one
/// (written by another version) is logged and skipped.
fn emit_kept<A: Adapter>(socket: &SocketRef<A>, entries: Vec<KeptEntry>) {
    for kept in entries {
        let seq = Some(kept.seq);
        match Held::decode(&kept.entry) {
            Some(Held::Message(message)) => match message.into_outgoing() {
                Some(message) => emit_here(socket, &OutgoingMessage { seq, ..message }),
                None => tracing::warn!("unreadable kept message dropped"),
            },
            Some(Held::Cleared(cleared)) => emit_here(socket, &ChatCleared { seq, ..cleared }),
            Some(Held::Ended(ended)) => emit_here(socket, &ended),
            None => tracing::warn!("unreadable kept entry dropped"),
        }
    }
}

/// Emits `event` on this very socket.
fn emit_here<A: Adapter>(socket: &SocketRef<A>, event: &impl ServerEvent) {
    if let Err(error) = socket.emit(event.name(), event) {
        tracing::debug!(%error, event = event.name(), "emit on the socket failed");
    }
}
