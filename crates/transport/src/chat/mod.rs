//! The Socket.IO side of Duet: every event of protocol.md §2 on namespace `/`.
//!
//! Each socket's events run one at a time, in the order they arrived, on a task of their own:
//! a partner sees messages in the order they were sent, and a flood from one client cannot
//! starve the others. Every target is chosen here: a client never names a room or a guest.

mod background;
mod connection;
mod events;
mod payload;
mod reply;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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

/// How an event is answered: with its ack, or with `app:error`.
type Respond = Box<dyn FnOnce(Result<Value, EventError>) + Send>;

/// One event waiting for its socket's task: its name, its payload (`None` when the client sent
/// none), and how to answer it. The payload is checked in the task, after the rate limit.
struct Inbound {
    event: &'static str,
    payload: Option<Loose>,
    respond: Respond,
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
    /// Signed: a client that leaves at once may be counted out by its disconnect handler
    /// before its connect handler counts it in (the handlers are registered at the handshake).
    local_sockets: AtomicI64,
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
            local_sockets: AtomicI64::new(0),
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
            async move {
                let context = chat.authenticate(&socket, auth.ok()).await?;
                // Handlers are registered here, before the client is told it is connected:
                // socketioxide sends CONNECT and only then starts the connect handler in a task
                // of its own, so an event sent at once would otherwise find no handler and be
                // dropped (its ack never answered).
                chat.register_events(&socket, &context);
                Ok::<(), Refusal>(())
            }
        };
        let init = io.ns("/", handler.with(check));
        (chat, init)
    }

    fn io(&self) -> Option<&SocketIo<A>> {
        self.io.get()
    }

    /// Sockets connected to this node.
    pub fn local_sockets(&self) -> u64 {
        u64::try_from(self.local_sockets.load(Ordering::Relaxed)).unwrap_or(0)
    }

    fn now(&self) -> Timestamp {
        self.services.tokens.clock().now()
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
