//! The Socket.IO side of Duet: every event of protocol.md §2 on namespace `/`.
//!
//! Each socket's events run one at a time, in the order they arrived, on a task of their own:
//! a partner sees messages in the order they were sent, and a flood from one client cannot
//! starve the others. Every target is chosen here: a client never names a room or a guest.

mod payload;
mod reply;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use duet_auth::{AuthError, Authenticated, GuestId, Session, SessionId, Timestamp, extract_token};
use duet_matchmaker::{Enqueued, MatchQueue, Pairing, Ticket};
use duet_presence_store::{Connection, Pair};
use duet_signaling::{IceConfig, Signal, SignalKind};
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::{ParserConfig, SocketIo, SocketIoBuilder, TransportType};
use tokio::sync::mpsc;

pub use payload::{MAX_CLIENT_ID_CHARS, MAX_FILE_NAME_CHARS, MAX_FILE_TYPE_BYTES, MAX_TEXT_CHARS};
pub use reply::EventError;

use crate::metrics as names;
use crate::rate_limit::KeyedBudget;
use crate::services::Services;
use payload::{
    Held, HeldMessage, IncomingMessage, Loose, MatchRequest, OutgoingFile, OutgoingMessage,
};
use reply::Reply;

/// How many messages are held for a guest whose connection dropped.
pub const HELD_MESSAGES: usize = 100;
/// Events one socket may have queued before more are refused as `RATE_LIMITED`.
const SOCKET_BACKLOG: usize = 256;
/// Room every socket of a guest joins: delivery to a guest, on any node.
fn user_room(guest: &GuestId) -> String {
    format!("user:{guest}")
}
/// Room of one socket, so another node can reach exactly that socket (replacement).
fn socket_room(socket_id: &str) -> String {
    format!("socket:{socket_id}")
}

/// Settings of the Socket.IO layer (`DUET_*` in the binary).
#[derive(Debug, Clone)]
pub struct ChatSettings {
    /// Events per guest per window (`DUET_RATE_LIMIT_MAX`, default 100).
    pub rate_limit_max: u32,
    /// The budget's window (`DUET_RATE_LIMIT_WINDOW_MS`, default 60 s).
    pub rate_limit_window: Duration,
    /// How long a dropped guest's chat is held (`DUET_RESUME_GRACE_MS`, default 15 s; zero
    /// turns resuming off).
    pub resume_grace: Duration,
    /// The largest file in one `chat:message` (`DUET_MAX_FILE_BYTES`, default 1 MiB).
    pub max_file_bytes: usize,
    /// Engine.IO ping interval (default 25 s).
    pub ping_interval: Duration,
    /// Engine.IO ping timeout (default 60 s).
    pub ping_timeout: Duration,
    /// ICE servers handed to clients.
    pub ice: IceConfig,
    /// How often ended interest waits are turned into pairs (default 100 ms).
    pub matcher_tick: Duration,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            rate_limit_max: 100,
            rate_limit_window: Duration::from_secs(60),
            resume_grace: Duration::from_secs(15),
            max_file_bytes: 1024 * 1024,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(60),
            ice: IceConfig::default(),
            matcher_tick: Duration::from_millis(100),
        }
    }
}

impl ChatSettings {
    /// The largest WebSocket message or polling payload accepted: a full file plus room for the
    /// rest of the packet. Anything larger closes the connection; a file between the file limit
    /// and this bound is refused with `PAYLOAD_TOO_LARGE` and the connection stays.
    pub fn max_message_bytes(&self) -> usize {
        self.max_file_bytes
            .saturating_mul(2)
            .saturating_add(256 * 1024)
    }

    /// A socketioxide builder with these transport settings: both transports, the heartbeat,
    /// and message size bounds on WebSocket frames as well as polling payloads.
    pub fn socket_io_builder(&self) -> SocketIoBuilder {
        let max = self.max_message_bytes();
        SocketIo::builder()
            .ping_interval(self.ping_interval)
            .ping_timeout(self.ping_timeout)
            .transports([TransportType::Polling, TransportType::Websocket])
            .max_payload(max as u64)
            .ws_max_message_size(max)
            .ws_max_frame_size(max)
            .with_parser(
                ParserConfig::common()
                    .max_incoming_binary_buf_size(max)
                    .max_incoming_binaries(2),
            )
    }
}

/// Who a socket belongs to, set by the connect middleware.
#[derive(Debug, Clone)]
struct GuestContext {
    guest: GuestId,
    session: SessionId,
    username: String,
    session_expires_at: Timestamp,
    inbox: mpsc::Sender<Inbound>,
}

/// One event waiting for its socket's task.
enum Inbound {
    Match(
        Result<MatchRequest, ()>,
        Box<dyn FnOnce(Result<Value, EventError>) + Send>,
    ),
    Event(
        &'static str,
        Result<Value, ()>,
        Box<dyn FnOnce(Result<Value, EventError>) + Send>,
    ),
    Message(
        Result<IncomingMessage, ()>,
        Box<dyn FnOnce(Result<Value, EventError>) + Send>,
    ),
}

/// The refusal a client sees as `connect_error`: its message is exactly the code.
#[derive(Debug)]
struct Refusal(&'static str);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The whole chat, shared by every socket of this node.
pub struct Chat<A: Adapter> {
    services: Arc<Services>,
    queue: Arc<dyn MatchQueue>,
    settings: ChatSettings,
    budget: KeyedBudget<GuestId>,
    io: OnceLock<SocketIo<A>>,
    local_sockets: AtomicU64,
    /// Disconnect handlers still running (a drain waits for them).
    disconnecting: AtomicU64,
    /// Set by [`Chat::close`]: the sockets it disconnects keep their chats through the grace.
    draining: std::sync::atomic::AtomicBool,
    /// Pairs whose two guests are both connected to this node, by guest. Their events are
    /// emitted locally (no Redis round trip), and they keep chatting while Redis is down: no
    /// other node can change such a pair, since every other node needs Redis to do so.
    local_pairs: std::sync::Mutex<std::collections::HashMap<GuestId, Pair>>,
}

impl<A: Adapter> std::fmt::Debug for Chat<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat")
            .field("settings", &self.settings)
            .field("local_sockets", &self.local_sockets)
            .finish_non_exhaustive()
    }
}

impl<A: Adapter> Chat<A> {
    /// The chat on `services` (tokens, presence store) and `queue`, attached to `io`, whose
    /// namespace `/` it then serves. Returns what `io.ns` returns (a future to await for remote
    /// adapters).
    pub fn attach(
        services: Arc<Services>,
        queue: Arc<dyn MatchQueue>,
        settings: ChatSettings,
        io: &SocketIo<A>,
    ) -> (Arc<Self>, A::InitRes)
    where
        A: socketioxide_core::adapter::DefinedAdapter,
    {
        let budget = KeyedBudget::new(settings.rate_limit_max, settings.rate_limit_window);
        let chat = Arc::new(Self {
            services,
            queue,
            settings,
            budget,
            io: OnceLock::new(),
            local_sockets: AtomicU64::new(0),
            disconnecting: AtomicU64::new(0),
            draining: std::sync::atomic::AtomicBool::new(false),
            local_pairs: std::sync::Mutex::default(),
        });
        let _ = chat.io.set(io.clone());
        let on_connect = Arc::clone(&chat);
        let middleware = Arc::clone(&chat);
        let handler = move |socket: SocketRef<A>| {
            let chat = Arc::clone(&on_connect);
            async move { chat.connected(socket).await }
        };
        let check = move |socket: SocketRef<A>, TryData(auth): TryData<Value>| {
            let chat = Arc::clone(&middleware);
            async move { chat.authenticate(&socket, auth.ok()).await }
        };
        let init = io.ns("/", handler.with(check));
        (chat, init)
    }

    fn io(&self) -> Option<&SocketIo<A>> {
        self.io.get()
    }

    /// Sockets connected to this node.
    pub fn local_sockets(&self) -> u64 {
        self.local_sockets.load(Ordering::Relaxed)
    }

    fn now(&self) -> Timestamp {
        self.services.tokens.clock().now()
    }

    // ---------- connection ----------

    async fn authenticate(
        &self,
        socket: &SocketRef<A>,
        auth: Option<Value>,
    ) -> Result<(), Refusal> {
        let header = socket
            .req_parts()
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.to_str().map_err(|_| AuthError::Invalid));
        let outcome = async {
            let header = header.transpose()?;
            let token = extract_token(auth.as_ref(), header)?;
            self.services
                .tokens
                .authenticate(token, &*self.services.store)
                .await
        }
        .await;
        match outcome {
            Ok(Authenticated { session, .. }) => {
                metrics::counter!(names::HANDSHAKES, "result" => "ok").increment(1);
                let (inbox, events) = mpsc::channel(SOCKET_BACKLOG);
                let context = GuestContext {
                    guest: session.guest.id,
                    session: session.id,
                    username: session.guest.username.to_string(),
                    session_expires_at: session.expires_at(),
                    inbox,
                };
                socket.extensions.insert(Arc::new(context));
                socket
                    .extensions
                    .insert(Arc::new(tokio::sync::Mutex::new(Some(events))));
                Ok(())
            }
            Err(error) => {
                let code = error.code();
                metrics::counter!(names::HANDSHAKES, "result" => code).increment(1);
                if let AuthError::Backend(source) = &error {
                    tracing::error!(error = %source, "session check failed during a handshake");
                }
                Err(Refusal(code))
            }
        }
    }

    async fn connected(self: Arc<Self>, socket: SocketRef<A>) {
        let Some(context) = socket.extensions.get::<Arc<GuestContext>>() else {
            // The middleware always sets it; without it the socket cannot be served.
            let _ = socket.disconnect();
            return;
        };
        let socket_id = socket.id.to_string();
        socket.join(user_room(&context.guest));
        socket.join(socket_room(&socket_id));
        self.local_sockets.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!(names::SOCKETS_CONNECTED).increment(1.0);
        self.register_events(&socket, &context);
        self.spawn_inbox(&socket, &context).await;

        let connection = Connection {
            guest_id: context.guest,
            node_id: self.services.node_id.clone(),
            socket_id: socket_id.clone(),
            connected_at: self.now(),
            username: context.username.clone(),
            session_expires_at: context.session_expires_at,
        };
        let previous = match self.services.store.register_connection(&connection).await {
            Ok(previous) => previous,
            Err(error) => {
                tracing::error!(%error, guest_id = %context.guest, "cannot record a connection");
                let _ = socket.disconnect();
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
        if let Err(error) = self.resume(&socket, &context, replaced_live).await {
            tracing::error!(%error, guest_id = %context.guest, "resume failed");
        }
    }

    /// The older socket of a guest that connected again: told, then disconnected, wherever it is.
    async fn replace(&self, old: &Connection) {
        let Some(io) = self.io() else { return };
        let room = socket_room(&old.socket_id);
        if let Err(error) = io
            .to(room.clone())
            .emit("session:replaced", &json!({}))
            .await
        {
            tracing::debug!(%error, "session:replaced not delivered");
        }
        if let Err(error) = io.to(room).disconnect().await {
            tracing::debug!(%error, "replaced socket not disconnected");
        }
    }

    /// A guest in a chat gets `user:matched` again (`resumed`), then what was held for it.
    async fn resume(
        &self,
        socket: &SocketRef<A>,
        context: &GuestContext,
        replaced_live: bool,
    ) -> Result<(), EventError> {
        let store = &self.services.store;
        let me = context.guest;
        let was_away = store.clear_away(&me).await?;
        let pair = store.pair_of(&me).await?;
        let held = if was_away || pair.is_none() {
            store.take_held(&me).await?
        } else {
            Vec::new()
        };
        if let Some(pair) = &pair {
            self.remember_if_local(pair).await;
            let matched = self.matched_payload(pair, &me, context.session_expires_at, true);
            socket.emit("user:matched", &matched).ok();
        }
        for blob in held {
            match Held::decode(&blob) {
                Some(Held::Message(message)) => {
                    socket.emit("chat:message", &message.into_outgoing()).ok();
                }
                Some(Held::Cleared { room_id, by }) => {
                    socket
                        .emit("chat:cleared", &json!({"roomId": room_id, "by": by}))
                        .ok();
                }
                Some(Held::Ended { room_id, reason }) => {
                    socket
                        .emit("chat:ended", &json!({"roomId": room_id, "reason": reason}))
                        .ok();
                }
                None => tracing::warn!("unreadable held message dropped"),
            }
        }
        if let (Some(pair), true) = (&pair, was_away && !replaced_live)
            && let Some(partner) = pair.partner_of(&me)
        {
            let back = json!({"roomId": pair.room_id});
            self.emit_to(&partner, "chat:partner:back", &back).await;
        }
        Ok(())
    }

    fn matched_payload(
        &self,
        pair: &Pair,
        me: &GuestId,
        expires: Timestamp,
        resumed: bool,
    ) -> Value {
        let partner = pair.partner_of(me).unwrap_or(*me);
        let mut body = json!({
            "roomId": pair.room_id,
            "partner": {"id": partner, "username": pair.name_of(&partner).unwrap_or_default()},
            "initiator": pair.initiator == *me,
            "commonInterests": pair.common_interests,
            "iceServers": self.settings.ice.servers_for(&me.to_string(), expires.unix_seconds()),
        });
        if resumed && let Value::Object(fields) = &mut body {
            fields.insert("resumed".into(), Value::Bool(true));
        }
        body
    }

    async fn emit_to<T: serde::Serialize + ?Sized>(&self, guest: &GuestId, event: &str, data: &T) {
        let Some(io) = self.io() else { return };
        let room = user_room(guest);
        if self.local_pair(guest).is_some() {
            // The fast path: the guest is on this node, no need to go through the adapter.
            if let Err(error) = io.local().to(room).emit(event, data).await {
                tracing::debug!(%error, event, "local emit failed");
            }
        } else if let Err(error) = io.to(room).emit(event, data).await {
            tracing::debug!(%error, event, "emit failed");
        }
    }

    fn local_pair(&self, guest: &GuestId) -> Option<Pair> {
        self.local_pairs.lock().ok()?.get(guest).cloned()
    }

    /// Remembers `pair` as local when both of its guests are connected to this node.
    async fn remember_if_local(&self, pair: &Pair) {
        let store = &self.services.store;
        for guest in pair.guests() {
            match store.connection(&guest).await {
                Ok(Some(c)) if c.node_id == self.services.node_id => {}
                _ => return,
            }
        }
        self.remember_local(pair);
    }

    fn remember_local(&self, pair: &Pair) {
        if let Ok(mut local) = self.local_pairs.lock() {
            for guest in pair.guests() {
                local.insert(guest, pair.clone());
            }
        }
    }

    fn forget_local(&self, pair: &Pair) {
        if let Ok(mut local) = self.local_pairs.lock() {
            for guest in pair.guests() {
                if local.get(&guest).is_some_and(|p| p.room_id == pair.room_id) {
                    local.remove(&guest);
                }
            }
        }
    }

    // ---------- events ----------

    fn register_events(self: &Arc<Self>, socket: &SocketRef<A>, context: &Arc<GuestContext>) {
        let with_payload: [&'static str; 3] =
            ["webrtc:offer", "webrtc:answer", "webrtc:ice-candidate"];
        // Payloads on these are ignored, absent or not.
        let without_payload: [&'static str; 7] = [
            "webrtc:hangup",
            "user:match:cancel",
            "chat:leave",
            "chat:clear",
            "chat:typing:start",
            "chat:typing:stop",
            "webrtc:ice-servers",
        ];
        for event in with_payload {
            let chat = Arc::clone(self);
            let context = Arc::clone(context);
            socket.on(
                event,
                move |socket: SocketRef<A>, TryData(data): TryData<Loose>, reply: Reply<A>| {
                    let chat = Arc::clone(&chat);
                    async move {
                        let respond = chat.responder(&socket, event, reply);
                        let data = data.map(Loose::into_json).map_err(drop);
                        chat.admit(&context, Inbound::Event(event, data, respond));
                    }
                },
            );
        }
        for event in without_payload {
            let chat = Arc::clone(self);
            let context = Arc::clone(context);
            socket.on(event, move |socket: SocketRef<A>, reply: Reply<A>| {
                let chat = Arc::clone(&chat);
                async move {
                    let respond = chat.responder(&socket, event, reply);
                    chat.admit(&context, Inbound::Event(event, Ok(Value::Null), respond));
                }
            });
        }
        {
            let chat = Arc::clone(self);
            let context = Arc::clone(context);
            socket.on(
                "chat:message",
                move |socket: SocketRef<A>, TryData(data): TryData<Loose>, reply: Reply<A>| {
                    let chat = Arc::clone(&chat);
                    async move {
                        let respond = chat.responder(&socket, "chat:message", reply);
                        let message = data
                            .ok()
                            .as_ref()
                            .and_then(IncomingMessage::from_loose)
                            .ok_or(());
                        chat.admit(&context, Inbound::Message(message, respond));
                    }
                },
            );
        }
        {
            let chat = Arc::clone(self);
            let context = Arc::clone(context);
            socket.on(
                "user:match",
                move |socket: SocketRef<A>, TryData(data): TryData<Loose>, reply: Reply<A>| {
                    let chat = Arc::clone(&chat);
                    async move {
                        let respond = chat.responder(&socket, "user:match", reply);
                        // No payload at all decodes as an error: it means "no interests".
                        let request = MatchRequest::from_loose(data.ok().as_ref()).ok_or(());
                        chat.admit(&context, Inbound::Match(request, respond));
                    }
                },
            );
        }
        {
            let chat = Arc::clone(self);
            let context = Arc::clone(context);
            socket.on_fallback(move |socket: SocketRef<A>, reply: Reply<A>| {
                let chat = Arc::clone(&chat);
                async move {
                    // An unknown event still costs budget; its ack, if any, says INVALID_PAYLOAD.
                    metrics::counter!(names::EVENTS, "event" => "unknown", "result" => "INVALID_PAYLOAD").increment(1);
                    if let Err(wait) = chat.budget.check(&context.guest) {
                        chat.refuse(&socket, reply, "unknown", wait);
                        return;
                    }
                    if reply.wants_ack() {
                        reply.error(&socket, "unknown", &EventError::invalid("unknown event"));
                    }
                }
            });
        }
        {
            let chat = Arc::clone(self);
            let context = Arc::clone(context);
            socket.on_disconnect(move |socket: SocketRef<A>, reason: DisconnectReason| {
                let chat = Arc::clone(&chat);
                async move { chat.disconnected(&socket, &context, reason).await }
            });
        }
    }

    fn refuse(&self, socket: &SocketRef<A>, reply: Reply<A>, event: &str, wait: Duration) {
        metrics::counter!(names::RATE_LIMITED).increment(1);
        let wait_ms = u64::try_from(wait.as_millis().max(1)).unwrap_or(u64::MAX);
        reply.error(socket, event, &EventError::rate_limited(wait_ms));
    }

    /// A closure answering one event, counting its result.
    fn responder(
        &self,
        socket: &SocketRef<A>,
        event: &'static str,
        reply: Reply<A>,
    ) -> Box<dyn FnOnce(Result<Value, EventError>) + Send> {
        let socket = socket.clone();
        Box::new(move |result| match result {
            Ok(fields) => {
                metrics::counter!(names::EVENTS, "event" => event, "result" => "ok").increment(1);
                reply.ok(fields);
            }
            Err(error) => {
                metrics::counter!(names::EVENTS, "event" => event, "result" => error.code)
                    .increment(1);
                reply.error(&socket, event, &error);
            }
        })
    }

    /// The rate limit comes first: a refused event costs nothing and goes no further.
    fn admit(&self, context: &GuestContext, inbound: Inbound) {
        if let Err(wait) = self.budget.check(&context.guest) {
            metrics::counter!(names::RATE_LIMITED).increment(1);
            let wait_ms = u64::try_from(wait.as_millis().max(1)).unwrap_or(u64::MAX);
            inbound.respond(Err(EventError::rate_limited(wait_ms)));
            return;
        }
        if let Err(
            mpsc::error::TrySendError::Full(inbound) | mpsc::error::TrySendError::Closed(inbound),
        ) = context.inbox.try_send(inbound)
        {
            inbound.respond(Err(EventError::rate_limited(1000)));
        }
    }

    async fn spawn_inbox(self: &Arc<Self>, socket: &SocketRef<A>, context: &Arc<GuestContext>) {
        type Events = Arc<tokio::sync::Mutex<Option<mpsc::Receiver<Inbound>>>>;
        let Some(events) = socket.extensions.get::<Events>() else {
            return;
        };
        let Some(mut events) = events.lock().await.take() else {
            return;
        };
        let chat = Arc::clone(self);
        let context = Arc::clone(context);
        tokio::spawn(async move {
            while let Some(inbound) = events.recv().await {
                chat.handle(&context, inbound).await;
            }
        });
    }

    async fn handle(&self, context: &GuestContext, inbound: Inbound) {
        match inbound {
            Inbound::Message(data, respond) => {
                let result = match data {
                    Ok(message) => self.chat_message(context, message).await,
                    Err(()) => Err(EventError::invalid(
                        "chat:message needs {text?, file?, clientId?}",
                    )),
                };
                respond(result);
            }
            Inbound::Match(data, respond) => match data {
                Ok(request) => self.user_match(context, request, respond).await,
                Err(()) => respond(Err(EventError::invalid(
                    "user:match takes {interests?: [string]}",
                ))),
            },
            Inbound::Event(event, data, respond) => {
                let result = match data {
                    Ok(data) => self.simple_event(context, event, data).await,
                    Err(()) => Err(EventError::invalid(format!(
                        "{event} payload is not of the documented shape"
                    ))),
                };
                respond(result);
            }
        }
    }

    async fn simple_event(
        &self,
        context: &GuestContext,
        event: &'static str,
        data: Value,
    ) -> Result<Value, EventError> {
        match event {
            "user:match:cancel" => {
                self.queue.cancel(&context.guest).await?;
                Ok(Value::Null)
            }
            "chat:leave" => {
                let (pair, _, _) = self.current_chat(&context.guest).await?;
                self.end_chat(&pair, &context.guest, "left").await?;
                Ok(Value::Null)
            }
            "chat:clear" => self.clear(context).await,
            "chat:typing:start" | "chat:typing:stop" => {
                let (_, partner, away) = self.current_chat(&context.guest).await?;
                if !away {
                    self.emit_to(&partner, event, &json!({"from": context.guest}))
                        .await;
                }
                Ok(Value::Null)
            }
            "webrtc:ice-servers" => {
                let expires = self.session_expiry(context).await;
                let servers = self
                    .settings
                    .ice
                    .servers_for(&context.guest.to_string(), expires.unix_seconds());
                Ok(json!({"iceServers": servers}))
            }
            "webrtc:offer" | "webrtc:answer" | "webrtc:ice-candidate" | "webrtc:hangup" => {
                let kind = match event {
                    "webrtc:offer" => SignalKind::Offer,
                    "webrtc:answer" => SignalKind::Answer,
                    "webrtc:ice-candidate" => SignalKind::IceCandidate,
                    _ => SignalKind::Hangup,
                };
                let signal = Signal::parse(kind, &data).map_err(|e| match e.code() {
                    "PAYLOAD_TOO_LARGE" => EventError::too_large(e.to_string()),
                    _ => EventError::invalid(e.to_string()),
                })?;
                let (_, partner, away) = self.current_chat(&context.guest).await?;
                let partner = duet_signaling::relay_target(Some(partner))
                    .ok_or_else(EventError::not_in_chat)?;
                // Signals are not held for an away partner: a returning initiator offers anew.
                if !away {
                    let relayed = signal.relayed(&context.guest.to_string());
                    metrics::counter!(names::RELAYED_BYTES, "event" => event)
                        .increment(relayed.to_string().len() as u64);
                    self.emit_to(&partner, event, &relayed).await;
                }
                Ok(Value::Null)
            }
            _ => Err(EventError::invalid("unknown event")),
        }
    }

    async fn session_expiry(&self, context: &GuestContext) -> Timestamp {
        match self.services.store.session(&context.session).await {
            Ok(Some(session)) => session.expires_at(),
            _ => context.session_expires_at,
        }
    }

    /// The guest's chat: the pair, the partner, and whether the partner is away.
    ///
    /// A pair whose two guests are on this node is answered from memory without asking the
    /// store (the relay's fast path, and what keeps such pairs chatting while Redis is down);
    /// any other pair costs one store call.
    async fn current_chat(&self, guest: &GuestId) -> Result<(Pair, GuestId, bool), EventError> {
        if let Some(pair) = self.local_pair(guest)
            && let Some(partner) = pair.partner_of(guest)
        {
            return Ok((pair, partner, false));
        }
        let (pair, away) = self
            .services
            .store
            .chat_of(guest)
            .await?
            .ok_or_else(EventError::not_in_chat)?;
        let partner = pair.partner_of(guest).ok_or_else(EventError::not_in_chat)?;
        Ok((pair, partner, away))
    }

    async fn chat_message(
        &self,
        context: &GuestContext,
        message: IncomingMessage,
    ) -> Result<Value, EventError> {
        let message = message.check(self.settings.max_file_bytes)?;
        let (pair, partner, away) = self.current_chat(&context.guest).await?;
        let sent_at = self.now();
        let outgoing = OutgoingMessage {
            id: uuid::Uuid::new_v4().to_string(),
            room_id: pair.room_id,
            from: context.guest,
            text: message.text,
            file: message.file.map(|(name, kind, data)| OutgoingFile {
                name,
                kind,
                size: data.len(),
                data,
            }),
            client_id: message.client_id,
            sent_at,
        };
        let store = &self.services.store;
        if away {
            let held = Held::Message(HeldMessage::from(&outgoing)).encode();
            if !store.hold_message(&partner, held, HELD_MESSAGES).await? {
                return Err(EventError::partner_away());
            }
        } else {
            let bytes = outgoing.text.as_ref().map_or(0, String::len)
                + outgoing.file.as_ref().map_or(0, |f| f.size);
            metrics::counter!(names::RELAYED_BYTES, "event" => "chat:message")
                .increment(bytes as u64);
            self.emit_to(&partner, "chat:message", &outgoing).await;
        }
        Ok(json!({"id": outgoing.id, "sentAt": sent_at}))
    }

    async fn clear(&self, context: &GuestContext) -> Result<Value, EventError> {
        let (pair, partner, away) = self.current_chat(&context.guest).await?;
        let cleared = json!({"roomId": pair.room_id, "by": context.guest});
        let store = &self.services.store;
        self.emit_to(&context.guest, "chat:cleared", &cleared).await;
        if away {
            store.clear_held(&partner).await?;
            let marker = Held::Cleared {
                room_id: pair.room_id,
                by: context.guest,
            };
            store
                .hold_message(&partner, marker.encode(), HELD_MESSAGES + 1)
                .await?;
        } else {
            self.emit_to(&partner, "chat:cleared", &cleared).await;
        }
        Ok(Value::Null)
    }

    async fn user_match(
        &self,
        context: &GuestContext,
        request: MatchRequest,
        respond: Box<dyn FnOnce(Result<Value, EventError>) + Send>,
    ) {
        let outcome = async {
            let interests = request.check()?;
            if self.services.store.pair_of(&context.guest).await?.is_some() {
                return Err(EventError::already_in_chat());
            }
            let last = self.services.store.last_partner(&context.guest).await?;
            Ok(Ticket::new(context.guest, interests).with_last_partner(last))
        }
        .await;
        let ticket = match outcome {
            Ok(ticket) => ticket,
            Err(error) => return respond(Err(error)),
        };
        match self.queue.enqueue(ticket).await {
            Ok(Enqueued::Paired(pairing)) => {
                // The ack comes first, so `user:matched` never overtakes it.
                respond(Ok(json!({"status": "waiting"})));
                self.announce(pairing).await;
            }
            Ok(Enqueued::Waiting | Enqueued::AlreadyWaiting) => {
                respond(Ok(json!({"status": "waiting"})))
            }
            Err(error) => respond(Err(error.into())),
        }
    }

    /// Makes a pairing real: records the pair and tells both guests. A guest that vanished
    /// meanwhile is dropped, and its would-be partner waits again.
    pub async fn announce(&self, pairing: Pairing) {
        let store = &self.services.store;
        let (initiator, responder) = (pairing.initiator.guest, pairing.responder.guest);
        let waited = pairing
            .initiator
            .waiting_since
            .max(pairing.responder.waiting_since);
        let connections = tokio::join!(store.connection(&initiator), store.connection(&responder));
        let (Ok(Some(first)), Ok(Some(second))) = connections else {
            for waiter in [pairing.initiator, pairing.responder] {
                if let Ok(Some(_)) = store.connection(&waiter.guest).await {
                    let ticket = Ticket::new(waiter.guest, waiter.interests);
                    if let Ok(Enqueued::Paired(again)) = self.queue.enqueue(ticket).await {
                        Box::pin(self.announce(again)).await;
                    }
                }
            }
            return;
        };
        let common: Vec<String> = pairing
            .common_interests
            .iter()
            .map(|i| i.to_string())
            .collect();
        let pair = Pair::new(initiator, responder, self.now())
            .with_names(first.username.clone(), second.username.clone())
            .with_common_interests(common);
        match store.create_pair(&pair).await {
            Ok(true) => {
                let here = &self.services.node_id;
                if first.node_id == *here && second.node_id == *here {
                    self.remember_local(&pair);
                }
            }
            Ok(false) => {
                tracing::warn!(%initiator, %responder, "pairing dropped: a guest is already in a chat");
                return;
            }
            Err(error) => {
                tracing::error!(%error, "pair not recorded");
                return;
            }
        }
        let wait = self.now().duration_since(waited);
        metrics::histogram!(names::MATCH_WAIT_SECONDS).record(wait.as_secs_f64());
        for (guest, connection) in [(initiator, &first), (responder, &second)] {
            let matched = self.matched_payload(&pair, &guest, connection.session_expires_at, false);
            self.emit_to(&guest, "user:matched", &matched).await;
        }
    }

    /// Ends `pair` on behalf of `by`; the other guest hears `chat:ended` with `reason` (or finds it
    /// on return if it is away). Only the first caller for a room does anything.
    async fn end_chat(&self, pair: &Pair, by: &GuestId, reason: &str) -> Result<(), EventError> {
        let store = &self.services.store;
        self.forget_local(pair);
        let Some(pair) = store.end_pair(&pair.room_id).await? else {
            return Ok(());
        };
        let Some(partner) = pair.partner_of(by) else {
            return Ok(());
        };
        let ended = json!({"roomId": pair.room_id, "reason": reason});
        if store.connection(&partner).await?.is_some() {
            self.emit_to(&partner, "chat:ended", &ended).await;
        } else {
            let marker = Held::Ended {
                room_id: pair.room_id,
                reason: reason.to_owned(),
            };
            store
                .hold_message(&partner, marker.encode(), HELD_MESSAGES + 1)
                .await?;
        }
        Ok(())
    }

    async fn disconnected(
        self: Arc<Self>,
        socket: &SocketRef<A>,
        context: &GuestContext,
        reason: DisconnectReason,
    ) {
        self.disconnecting.fetch_add(1, Ordering::AcqRel);
        self.local_sockets.fetch_sub(1, Ordering::Relaxed);
        self.handle_disconnect(socket, context, reason).await;
        self.disconnecting.fetch_sub(1, Ordering::AcqRel);
    }

    async fn handle_disconnect(
        &self,
        socket: &SocketRef<A>,
        context: &GuestContext,
        reason: DisconnectReason,
    ) {
        metrics::gauge!(names::SOCKETS_CONNECTED).decrement(1.0);
        let store = &self.services.store;
        let me = context.guest;
        // Whatever comes next, this guest may be elsewhere now: its pair is no longer
        // certainly local (a resume here makes it local again).
        if let Some(pair) = self.local_pair(&me) {
            self.forget_local(&pair);
        }
        let socket_id = socket.id.to_string();
        match store.unregister_connection(&me, &socket_id).await {
            // Replaced by a newer socket: that one carries on, nothing ends.
            Ok(false) => return,
            Ok(true) => {}
            Err(error) => {
                tracing::error!(%error, guest_id = %me, "cannot remove a connection");
            }
        }
        if let Err(error) = self.queue.cancel(&me).await {
            tracing::warn!(%error, guest_id = %me, "cannot cancel a ticket");
        }
        let Ok(Some(pair)) = store.pair_of(&me).await else {
            return;
        };
        let draining = self.draining.load(Ordering::Acquire);
        let on_purpose = matches!(reason, DisconnectReason::ClientNSDisconnect)
            || (matches!(reason, DisconnectReason::ServerNSDisconnect) && !draining);

        if on_purpose || self.settings.resume_grace.is_zero() {
            let why = if matches!(reason, DisconnectReason::ClientNSDisconnect) {
                "left"
            } else {
                "disconnected"
            };
            if let Err(error) = self.end_chat(&pair, &me, why).await {
                tracing::error!(code = error.code, guest_id = %me, "cannot end a chat");
            }
            return;
        }
        let until = self.now().saturating_add(self.settings.resume_grace);
        if let Err(error) = store.set_away(&me, until).await {
            tracing::error!(%error, guest_id = %me, "cannot hold a chat");
            return;
        }
        if let Some(partner) = pair.partner_of(&me) {
            self.emit_to(
                &partner,
                "chat:partner:away",
                &json!({"roomId": pair.room_id}),
            )
            .await;
        }
        // No timer here: every node sweeps overdue away marks (`upkeep`), so the chat still
        // ends on time if this node goes down meanwhile.
    }

    /// The grace of a dropped guest is over: unless it came back, its chat ends.
    async fn grace_over(&self, guest: &GuestId) {
        let store = &self.services.store;
        if let Ok(Some(_)) = store.connection(guest).await {
            return;
        }
        let Ok(Some(pair)) = store.pair_of(guest).await else {
            return;
        };
        if let Err(error) = self.end_chat(&pair, guest, "disconnected").await {
            tracing::error!(code = error.code, guest_id = %guest, "cannot end a held chat");
        }
    }

    /// A node died: chats of its guests end (`disconnected`) for their partners.
    async fn node_died(&self, node: duet_presence_store::DeadNode) {
        let guests = node.connections.len();
        tracing::warn!(node_id = %node.node_id, guests, "node died; ending its chats");
        for connection in node.connections {
            let guest = connection.guest_id;
            let _ = self.queue.cancel(&guest).await;
            if let Ok(Some(pair)) = self.services.store.pair_of(&guest).await
                && let Err(error) = self.end_chat(&pair, &guest, "disconnected").await
            {
                tracing::error!(code = error.code, guest_id = %guest, "cannot end a chat of a dead node");
            }
        }
    }

    /// A session ended (deleted or expired): its chat ends with `session_ended`, its tickets and
    /// sockets go.
    pub async fn session_ended(&self, guest: &GuestId) {
        let store = &self.services.store;
        if let Ok(Some(pair)) = store.pair_of(guest).await {
            let _ = store.clear_away(guest).await;
            if let Err(error) = self.end_chat(&pair, guest, "session_ended").await {
                tracing::error!(code = error.code, guest_id = %guest, "cannot end a chat");
            }
        }
        let _ = self.queue.cancel(guest).await;
        let _ = store.clear_held(guest).await;
        if let Some(io) = self.io()
            && let Err(error) = io.to(user_room(guest)).disconnect().await
        {
            tracing::debug!(%error, "sockets of an ended session not disconnected");
        }
    }

    /// Runs the node's duties until aborted: pairs from ended waits, expired sessions, ticket
    /// refreshes and budget pruning.
    pub fn spawn_background(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let (mut due, matcher) =
            duet_matchmaker::spawn_matcher(Arc::clone(&self.queue), self.settings.matcher_tick);
        let chat = Arc::clone(self);
        let deliver = tokio::spawn(async move {
            while let Some(work) = due.recv().await {
                for pairing in work.pairings {
                    chat.announce(pairing).await;
                }
            }
        });
        let chat = Arc::clone(self);
        let upkeep = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut tick: u64 = 0;
            loop {
                ticker.tick().await;
                tick = tick.wrapping_add(1);
                chat.upkeep(tick).await;
            }
        });
        vec![matcher, deliver, upkeep]
    }

    async fn upkeep(&self, tick: u64) {
        let store = &self.services.store;
        match store.take_expired_sessions(256).await {
            Ok(expired) => {
                for session in expired {
                    self.session_ended(&session.guest_id).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read expired sessions"),
        }
        match store.take_overdue_away(256).await {
            Ok(overdue) => {
                for guest in overdue {
                    self.grace_over(&guest).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read overdue away marks"),
        }
        match store.claim_dead_nodes().await {
            Ok(dead) => {
                for node in dead {
                    self.node_died(node).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot look for dead nodes"),
        }
        if tick.is_multiple_of(3) {
            let guests: Vec<GuestId> = self
                .io()
                .map(|io| {
                    io.local()
                        .sockets()
                        .iter()
                        .filter_map(|s| s.extensions.get::<Arc<GuestContext>>().map(|c| c.guest))
                        .collect()
                })
                .unwrap_or_default();
            if let Err(error) = self.queue.refresh(&guests).await {
                tracing::warn!(%error, "cannot refresh tickets");
            }
        }
        if tick.is_multiple_of(60) {
            self.budget.prune();
        }
        self.services.set_connected_sockets(self.local_sockets());
    }

    /// Disconnects every socket of this node for a drain: to their clients it is a dropped
    /// connection, so they reconnect (elsewhere, behind a load balancer) and resume their chats
    /// within the grace.
    ///
    /// Returns once every socket's disconnect handling (holding its chat, telling its partner)
    /// is done, or after 5 s.
    pub async fn close(&self) {
        self.draining.store(true, Ordering::Release);
        // Sockets are disconnected one by one rather than with `SocketIo::close`, which removes
        // the namespace that the disconnect handlers still emit through.
        if let Some(io) = self.io() {
            for socket in io.local().sockets() {
                if let Err(error) = socket.disconnect() {
                    tracing::debug!(%error, "socket already gone during the drain");
                }
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while (self.local_sockets() > 0 || self.disconnecting.load(Ordering::Acquire) > 0)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `event` to every connected guest.
    pub async fn broadcast<T: serde::Serialize + ?Sized>(&self, event: &str, data: &T) {
        if let Some(io) = self.io()
            && let Err(error) = io.emit(event, data).await
        {
            tracing::warn!(%error, event, "broadcast failed");
        }
    }

    /// Sends `event` to `guest` wherever it is connected; `false` when it has no live socket.
    pub async fn send_to_user<T: serde::Serialize + ?Sized>(
        &self,
        guest: &GuestId,
        event: &str,
        data: &T,
    ) -> bool {
        match self.services.store.connection(guest).await {
            Ok(Some(_)) => {
                self.emit_to(guest, event, data).await;
                true
            }
            _ => false,
        }
    }

    /// The counts of `/api/stats`.
    pub async fn stats(&self) -> Result<crate::ClusterStats, duet_presence_store::StoreError> {
        self.services.stats().await
    }
}

impl Inbound {
    fn respond(self, result: Result<Value, EventError>) {
        match self {
            Self::Match(_, respond) | Self::Event(_, _, respond) | Self::Message(_, respond) => {
                respond(result)
            }
        }
    }
}

/// Ends the session's chat and sockets when the HTTP API deletes a session.
pub fn end_sessions_on_delete<A: Adapter>(chat: &Arc<Chat<A>>) {
    let chat = Arc::clone(chat);
    let services = Arc::clone(&chat.services);
    services.on_session_end(move |session: &Session| {
        let chat = Arc::clone(&chat);
        let guest = session.guest.id;
        tokio::spawn(async move { chat.session_ended(&guest).await });
    });
}
