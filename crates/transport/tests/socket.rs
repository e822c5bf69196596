//! The Socket.IO handlers over a real WebSocket on 127.0.0.1:0, spoken to with a minimal
//! Engine.IO 4 / Socket.IO 5 client written here (text frames only: the binary path is covered by
//! the end-to-end suite with the real socket.io-client).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use duet_auth::{Clock, Session, SystemClock, TokenService, Username};
use duet_core::NodeId;
use duet_core::{GuestId, RoomId, Timestamp};
use duet_matchmaker::{MatchConfig, MemoryQueue};
use duet_presence_store::{
    ChatStore, Connection, DeadNode, KeepLimits, Kept, KeptEntry, LastChat, LastSeen, Pair,
    PresenceCounts, PresenceStore, Return, SessionStore, StoreError, Stores,
};
use duet_transport::{AdapterLink, Duet, NodeTasks, Settings};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

struct Node {
    address: SocketAddr,
    tokens: TokenService,
    sessions: Arc<dyn SessionStore>,
    duet: Arc<Duet<socketioxide::adapter::LocalAdapter>>,
    _tasks: NodeTasks,
}

async fn start(settings: Settings) -> Node {
    start_on(settings, Stores::memory()).await
}

async fn start_on(settings: Settings, stores: Stores) -> Node {
    start_linked(settings, stores, None).await
}

/// A node whose adapter's link to other nodes is `link` (none: the local adapter's, which
/// always hears).
async fn start_linked(settings: Settings, stores: Stores, link: Option<ManualLink>) -> Node {
    let queue = Arc::new(MemoryQueue::new(MatchConfig::default()));
    let tokens = TokenService::new(b"socket-test-secret-socket-test-secret!")
        .unwrap_or_else(|e| panic!("{e}"));
    let sessions = Arc::clone(&stores.sessions);
    let (layer, io) = settings.socket_io_builder().build_layer();
    let mut builder = Duet::builder(tokens.clone(), stores, queue).settings(settings);
    if let Some(link) = link {
        builder = builder.adapter_link(link);
    }
    let (duet, ()) = builder.build(&io);
    let tasks = duet.spawn_tasks();
    let app = duet.router().layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Node {
        address,
        tokens,
        sessions,
        duet,
        _tasks: tasks,
    }
}

impl Node {
    /// The body of `GET path`, which must answer 200.
    async fn get(&self, path: &'static str) -> String {
        let address = self.address.to_string();
        let answer = tokio::task::spawn_blocking(move || {
            duet_test_support::http_request(&address, "GET", path, &[], None)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
        answer.body
    }

    async fn guest(&self, name: &str) -> (String, String) {
        let username = Username::parse(name).unwrap_or_else(|e| panic!("{e}"));
        let session = Session::start(username, SystemClock.now(), Duration::from_secs(600));
        self.sessions
            .create_session(&session)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let token = self
            .tokens
            .issue(&session)
            .unwrap_or_else(|e| panic!("{e}"))
            .token;
        (token, session.guest.id.to_string())
    }
}

/// A Socket.IO client on namespace `/`, over one WebSocket.
struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_ack: u64,
}

enum Incoming {
    Event(String, Value),
    Ack(u64, Value),
    ConnectError(String),
    Connected,
}

impl Client {
    /// Opens the WebSocket and sends the namespace connect with `auth`.
    async fn open(node: &Node, auth: Value) -> (Self, Result<(), String>) {
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", node.address);
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut client = Self { ws, next_ack: 1 };
        let open = client.raw().await;
        assert!(open.starts_with('0'), "Engine.IO open packet, got {open}");
        client.send(format!("40{auth}")).await;
        let outcome = loop {
            match client.incoming().await {
                Incoming::Connected => break Ok(()),
                Incoming::ConnectError(message) => break Err(message),
                _ => continue,
            }
        };
        (client, outcome)
    }

    async fn send(&mut self, text: String) {
        self.ws
            .send(Message::text(text))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The next Engine.IO message, answering pings on the way.
    async fn raw(&mut self) -> String {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("nothing received within 5 s"));
            match frame {
                Some(Ok(Message::Text(text))) if text.as_str() == "2" => {
                    self.send("3".into()).await
                }
                Some(Ok(Message::Text(text))) => return text.to_string(),
                Some(Ok(_)) => continue,
                other => panic!("connection ended: {other:?}"),
            }
        }
    }

    async fn incoming(&mut self) -> Incoming {
        loop {
            let text = self.raw().await;
            let Some(packet) = text.strip_prefix('4') else {
                continue;
            };
            let (kind, rest) = packet.split_at(1);
            match kind {
                "0" => return Incoming::Connected,
                "4" => {
                    let body: Value = serde_json::from_str(rest).unwrap_or(Value::Null);
                    return Incoming::ConnectError(
                        body["message"].as_str().unwrap_or_default().to_owned(),
                    );
                }
                "2" => {
                    let args: Value = serde_json::from_str(rest).unwrap_or(Value::Null);
                    let event = args[0].as_str().unwrap_or_default().to_owned();
                    return Incoming::Event(event, args[1].clone());
                }
                "3" => {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let args: Value =
                        serde_json::from_str(&rest[digits.len()..]).unwrap_or(Value::Null);
                    return Incoming::Ack(digits.parse().unwrap_or(0), args[0].clone());
                }
                _ => continue,
            }
        }
    }

    async fn emit(&mut self, event: &str, data: Value) {
        self.send(format!("42{}", json!([event, data]))).await;
    }

    /// Emits with an ack and returns the ack payload (events in between are dropped).
    async fn ask(&mut self, event: &str, data: Value) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send(format!("42{id}{}", json!([event, data]))).await;
        loop {
            if let Incoming::Ack(got, payload) = self.incoming().await
                && got == id
            {
                return payload;
            }
        }
    }

    async fn event(&mut self, name: &str) -> Value {
        loop {
            if let Incoming::Event(event, payload) = self.incoming().await
                && event == name
            {
                return payload;
            }
        }
    }
}

#[tokio::test]
async fn handshakes_answer_with_exactly_the_protocol_codes() {
    let node = start(Settings::default()).await;
    let (_, refused) = Client::open(&node, json!({})).await;
    assert_eq!(refused, Err("AUTH_REQUIRED".to_owned()));
    let (_, refused) = Client::open(&node, json!({"token": "not-a-jwt"})).await;
    assert_eq!(refused, Err("AUTH_INVALID".to_owned()));
    let (_, refused) = Client::open(&node, json!({"token": 42})).await;
    assert_eq!(refused, Err("AUTH_INVALID".to_owned()));
    let (token, _) = node.guest("Ada").await;
    let (_, accepted) = Client::open(&node, json!({"token": token})).await;
    assert_eq!(accepted, Ok(()));
}

#[tokio::test]
async fn two_guests_pair_and_chat_with_acks_and_no_echo() {
    let node = start(Settings::default()).await;
    let (ada_token, ada) = node.guest("Ada").await;
    let (bob_token, bob) = node.guest("Bob").await;
    let (mut a, _) = Client::open(&node, json!({"token": ada_token})).await;
    let (mut b, _) = Client::open(&node, json!({"token": bob_token})).await;
    assert_eq!(
        a.ask("user:match", json!({"interests": ["Rust"]})).await,
        json!({"ok": true, "status": "waiting"})
    );
    assert_eq!(
        b.ask("user:match", json!({"interests": ["rust"]})).await,
        json!({"ok": true, "status": "waiting"})
    );
    let matched_a = a.event("user:matched").await;
    let matched_b = b.event("user:matched").await;
    assert_eq!(matched_a["partner"], json!({"id": bob, "username": "Bob"}));
    assert_eq!(matched_b["partner"]["id"], json!(ada));
    assert_eq!(
        (
            matched_a["initiator"].clone(),
            matched_b["initiator"].clone()
        ),
        (json!(true), json!(false))
    );
    assert_eq!(matched_a["commonInterests"], json!(["rust"]));

    let ack = a
        .ask("chat:message", json!({"text": "hi Bob", "clientId": "c-1"}))
        .await;
    assert_eq!(ack["ok"], json!(true));
    let message = b.event("chat:message").await;
    assert_eq!(message["text"], json!("hi Bob"));
    assert_eq!(message["from"], json!(ada));
    assert_eq!(message["id"], ack["id"]);
    assert_eq!(message["roomId"], matched_a["roomId"]);
    // Counted through the handles taken on first use (the registry is the process's).
    let metrics = node.get("/metrics").await;
    for series in [
        r#"duet_socket_events_total{event="chat:message",result="ok"}"#,
        r#"duet_relayed_bytes_total{event="chat:message"}"#,
    ] {
        let counted = metrics
            .lines()
            .find_map(|line| line.strip_prefix(series))
            .and_then(|value| value.trim().parse::<f64>().ok());
        assert!(counted.is_some_and(|n| n > 0.0), "{series} in {metrics}");
    }

    // Typing reaches only the partner: Ada's next event is Bob's typing, not an echo of her own.
    a.emit("chat:typing:start", Value::Null).await;
    b.emit("chat:typing:start", Value::Null).await;
    assert_eq!(a.event("chat:typing:start").await, json!({"from": bob}));
    assert_eq!(b.event("chat:typing:start").await, json!({"from": ada}));
}

#[tokio::test]
async fn refusals_come_as_acks_or_app_error_in_the_documented_order() {
    let settings = Settings {
        rate_limit_max: 4,
        ..Settings::default()
    };
    let node = start(settings).await;
    let (token, _) = node.guest("Solo").await;
    let (mut s, _) = Client::open(&node, json!({"token": token})).await;
    // Shape and size before state: a too long text is PAYLOAD_TOO_LARGE even outside a chat.
    let too_long = s
        .ask("chat:message", json!({"text": "x".repeat(2001)}))
        .await;
    assert_eq!(too_long["error"]["code"], json!("PAYLOAD_TOO_LARGE"));
    let not_in_chat = s.ask("chat:message", json!({"text": "hello"})).await;
    assert_eq!(
        not_in_chat,
        json!({"ok": false, "error": {"code": "NOT_IN_CHAT", "message": "you are not in a chat"}})
    );
    let unknown = s.ask("no:such:event", json!({})).await;
    assert_eq!(unknown["error"]["code"], json!("INVALID_PAYLOAD"));
    s.emit("chat:leave", Value::Null).await;
    let app_error = s.event("app:error").await;
    assert_eq!(app_error["code"], json!("NOT_IN_CHAT"));
    assert_eq!(app_error["event"], json!("chat:leave"));
    // The budget of 4 is spent (the refused events above counted); the rate limit comes first.
    let limited = s
        .ask("chat:message", json!({"text": "x".repeat(5000)}))
        .await;
    assert_eq!(limited["error"]["code"], json!("RATE_LIMITED"));
    assert!(
        limited["error"]["retryAfterMs"]
            .as_u64()
            .is_some_and(|ms| ms > 0)
    );
}

#[tokio::test]
async fn the_server_api_reaches_guests_and_counts_them() {
    let node = start(Settings::default()).await;
    let (token, guest) = node.guest("Ada").await;
    let (mut ada, _) = Client::open(&node, json!({"token": token})).await;
    let guest: duet_auth::GuestId = guest.parse().unwrap_or_else(|e| panic!("{e}"));
    let sent = node
        .duet
        .send_to_user(&guest, "notice", &json!({"hello": 1}))
        .await;
    assert!(matches!(sent, Ok(true)), "{sent:?}");
    assert_eq!(ada.event("notice").await, json!({"hello": 1}));
    let stranger = duet_auth::GuestId::random();
    let sent = node
        .duet
        .send_to_user(&stranger, "notice", &json!({}))
        .await;
    assert!(matches!(sent, Ok(false)), "{sent:?}");
    node.duet
        .broadcast("announcement", &json!({"text": "maintenance at noon"}))
        .await;
    assert_eq!(
        ada.event("announcement").await,
        json!({"text": "maintenance at noon"})
    );
    let stats = node.duet.stats().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.presence.online_guests, 1);
    assert_eq!(stats.presence.total_sessions, 1);
    assert_eq!(node.duet.local_sockets(), 1);
}

/// Waits until `done` holds, for at most 5 s.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..250 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not within 5 s: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_sent_without_waiting_takes_effect_in_order() {
    let node = start(Settings {
        rate_limit_max: 10_000,
        ..Settings::default()
    })
    .await;
    let (ada_token, _) = node.guest("Ada").await;
    let (bob_token, _) = node.guest("Bob").await;
    let (mut a, _) = Client::open(&node, json!({"token": ada_token})).await;
    let (mut b, _) = Client::open(&node, json!({"token": bob_token})).await;
    a.ask("user:match", json!({})).await;
    b.ask("user:match", json!({})).await;
    a.event("user:matched").await;
    b.event("user:matched").await;
    // One WebSocket frame after another, no ack awaited: socketioxide starts a task per event,
    // so only admission in reading order keeps these in order.
    for i in 0..500 {
        a.emit(
            "chat:message",
            json!({"text": format!("m{i}"), "clientId": i.to_string()}),
        )
        .await;
    }
    for i in 0..500 {
        let message = b.event("chat:message").await;
        assert_eq!(message["clientId"], json!(i.to_string()), "message {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_socket_lets_go_of_the_node_when_it_disconnects() {
    let node = start(Settings::default()).await;
    let (token, _) = node.guest("Churn").await;
    let baseline = Arc::strong_count(&node.duet);
    for _ in 0..50 {
        let (mut client, connected) = Client::open(&node, json!({"token": token})).await;
        assert_eq!(connected, Ok(()));
        client.ask("user:match:cancel", Value::Null).await;
        // A few events left unanswered when the socket goes.
        client.emit("chat:typing:start", Value::Null).await;
        client.emit("chat:typing:stop", Value::Null).await;
        drop(client);
    }
    eventually("every socket counted out", || {
        node.duet.local_sockets() == 0
    })
    .await;
    // Each socket's context holds the node while the socket lives: a context (or its inbox)
    // that outlived its socket would show here.
    eventually("every socket context dropped", || {
        Arc::strong_count(&node.duet) == baseline
    })
    .await;
}

#[tokio::test]
async fn websocket_messages_are_bounded_by_the_configured_file_limit() {
    let settings = Settings {
        max_file_bytes: 16 * 1024,
        ..Settings::default()
    };
    let bound = settings.max_message_bytes();
    let node = start(settings).await;
    let (token, _) = node.guest("Big").await;
    // Under the bound: refused as too large, the connection stays.
    let (mut client, _) = Client::open(&node, json!({"token": token})).await;
    let big = "x".repeat(bound - 1024);
    let refused = client.ask("chat:message", json!({ "text": big })).await;
    assert_eq!(refused["error"]["code"], json!("PAYLOAD_TOO_LARGE"));
    let still = client.ask("user:match:cancel", Value::Null).await;
    assert_eq!(still, json!({"ok": true}));
    // Over the bound: the server closes the connection instead of reading it.
    let (mut client, _) = Client::open(&node, json!({"token": token})).await;
    let huge = "x".repeat(bound + 1024);
    client
        .send(format!("42{}", json!(["chat:message", { "text": huge }])))
        .await;
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(5), client.ws.next()).await {
            Ok(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => break true,
            Ok(Some(Ok(_))) => continue,
            Err(_) => break false,
        }
    };
    assert!(
        ended,
        "a message over {bound} bytes must close the connection"
    );
}

/// A chat store whose first `failures` calls of `release_hold` fail with `error`: the store
/// gone (or answering garbage) between a guest's return and the end of its hold. Everything
/// else is the memory store's.
#[derive(Debug)]
struct FailingRelease {
    inner: Arc<dyn ChatStore>,
    failures: Failures,
}

/// A store method's first `left` calls fail with `error`; `calls` counts them all.
#[derive(Debug)]
struct Failures {
    left: AtomicU32,
    calls: AtomicU32,
    error: fn() -> StoreError,
}

impl Failures {
    fn new(left: u32, error: fn() -> StoreError) -> Self {
        Self {
            left: AtomicU32::new(left),
            calls: AtomicU32::new(0),
            error,
        }
    }

    /// One call: its injected error while failures are left.
    fn call(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let failing = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if failing { Err((self.error)()) } else { Ok(()) }
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

/// The backend cannot be reached: worth trying again.
fn unreachable() -> StoreError {
    StoreError::Backend("injected: the store is unreachable".into())
}

impl FailingRelease {
    /// Memory stores whose chat store fails `failures` releases with `error`, and that store.
    fn stores(failures: u32, error: fn() -> StoreError) -> (Stores, Arc<Self>) {
        let memory = Stores::memory();
        let failing = Arc::new(Self {
            inner: Arc::clone(&memory.chats),
            failures: Failures::new(failures, error),
        });
        let stores = Stores {
            chats: Arc::clone(&failing) as Arc<dyn ChatStore>,
            ..memory
        };
        (stores, failing)
    }
}

#[async_trait::async_trait]
impl ChatStore for FailingRelease {
    async fn release_hold(&self, guest: &GuestId) -> Result<Vec<KeptEntry>, StoreError> {
        self.failures.call()?;
        self.inner.release_hold(guest).await
    }

    async fn create_pair(&self, pair: &Pair) -> Result<bool, StoreError> {
        self.inner.create_pair(pair).await
    }
    async fn pair_of(&self, guest: &GuestId) -> Result<Option<Pair>, StoreError> {
        self.inner.pair_of(guest).await
    }
    async fn chat_of(&self, guest: &GuestId) -> Result<Option<(Pair, bool)>, StoreError> {
        self.inner.chat_of(guest).await
    }
    async fn end_pair(&self, room: &RoomId) -> Result<Option<Pair>, StoreError> {
        self.inner.end_pair(room).await
    }
    async fn last_chat(&self, guest: &GuestId) -> Result<Option<LastChat>, StoreError> {
        self.inner.last_chat(guest).await
    }
    async fn set_away(&self, guest: &GuestId, until: Timestamp) -> Result<(), StoreError> {
        self.inner.set_away(guest, until).await
    }
    async fn away_until(&self, guest: &GuestId) -> Result<Option<Timestamp>, StoreError> {
        self.inner.away_until(guest).await
    }
    async fn clear_away(&self, guest: &GuestId) -> Result<bool, StoreError> {
        self.inner.clear_away(guest).await
    }
    async fn take_overdue_away(&self, limit: usize) -> Result<Vec<GuestId>, StoreError> {
        self.inner.take_overdue_away(limit).await
    }
    async fn keep(
        &self,
        guest: &GuestId,
        entry: Vec<u8>,
        limits: &KeepLimits,
    ) -> Result<Kept, StoreError> {
        self.inner.keep(guest, entry, limits).await
    }
    async fn keep_in_chat(
        &self,
        sender: &GuestId,
        room: &RoomId,
        recipient: &GuestId,
        entry: Vec<u8>,
        limits: &KeepLimits,
    ) -> Result<Option<Kept>, StoreError> {
        self.inner
            .keep_in_chat(sender, room, recipient, entry, limits)
            .await
    }
    async fn keep_marker(&self, guest: &GuestId, marker: Vec<u8>) -> Result<Kept, StoreError> {
        self.inner.keep_marker(guest, marker).await
    }
    async fn hold_for_return(&self, guest: &GuestId) -> Result<bool, StoreError> {
        self.inner.hold_for_return(guest).await
    }
    async fn come_back(
        &self,
        guest: &GuestId,
        seen: Option<LastSeen>,
    ) -> Result<Return, StoreError> {
        self.inner.come_back(guest, seen).await
    }
    async fn hold_since(&self, guest: &GuestId, seq: u64) -> Result<(), StoreError> {
        self.inner.hold_since(guest, seq).await
    }
    async fn forget_kept(&self, guest: &GuestId) -> Result<(), StoreError> {
        self.inner.forget_kept(guest).await
    }
    async fn count_chats(&self) -> Result<u64, StoreError> {
        self.inner.count_chats().await
    }
}

/// Ada and Bob paired on `node`; Bob then drops, and Ada sends `held` while he is away.
/// Returns their clients (Bob's gone), Bob's token, the room and the last seq Bob saw.
async fn bob_away_with_messages_held(node: &Node, held: &[&str]) -> (Client, String, Value, u64) {
    let (ada_token, _) = node.guest("Ada").await;
    let (bob_token, _) = node.guest("Bob").await;
    let (mut a, _) = Client::open(node, json!({"token": ada_token})).await;
    let (mut b, _) = Client::open(node, json!({"token": bob_token})).await;
    a.ask("user:match", json!({"interests": ["resume"]})).await;
    b.ask("user:match", json!({"interests": ["resume"]})).await;
    let room = a.event("user:matched").await["roomId"].clone();
    b.event("user:matched").await;
    a.ask("chat:message", json!({"text": "live"})).await;
    let seen = b.event("chat:message").await["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("a live message has a seq"));
    drop(b);
    a.event("chat:partner:away").await;
    for text in held {
        assert_eq!(
            a.ask("chat:message", json!({"text": text})).await["ok"],
            json!(true)
        );
    }
    (a, bob_token, room, seen)
}

/// Bob back on `node`, naming the last message he saw: connected, and told his chat resumes.
async fn bob_back(node: &Node, token: &str, room: &Value, seen: u64) -> Client {
    let auth = json!({"token": token, "lastSeen": {"roomId": room, "seq": seen}});
    let (mut b, connected) = Client::open(node, auth).await;
    assert_eq!(connected, Ok(()));
    assert_eq!(b.event("user:matched").await["resumed"], json!(true));
    b
}

#[tokio::test]
async fn a_resume_retries_a_failing_release_and_keeps_its_socket() {
    let (stores, store) = FailingRelease::stores(2, unreachable);
    let node = start_on(Settings::default(), stores).await;
    let (mut a, bob_token, room, seen) = bob_away_with_messages_held(&node, &["one", "two"]).await;
    let mut b = bob_back(&node, &bob_token, &room, seen).await;
    assert_eq!(b.event("chat:message").await["text"], json!("one"));
    assert_eq!(b.event("chat:message").await["text"], json!("two"));
    // The hold ended after two failed releases; the partner is told, and the chat flows live.
    a.event("chat:partner:back").await;
    a.ask("chat:message", json!({"text": "three"})).await;
    assert_eq!(b.event("chat:message").await["text"], json!("three"));
    assert_eq!(store.failures.calls(), 3);
}

#[tokio::test]
async fn a_release_that_keeps_failing_keeps_the_socket_and_the_order() {
    // Five failures: a second and a half of retries, longer than a resume used to wait
    // before it gave the socket up.
    let (stores, store) = FailingRelease::stores(5, unreachable);
    let node = start_on(Settings::default(), stores).await;
    let (mut a, bob_token, room, seen) = bob_away_with_messages_held(&node, &["one", "two"]).await;
    let mut b = bob_back(&node, &bob_token, &room, seen).await;
    assert_eq!(b.event("chat:message").await["text"], json!("one"));
    // Sent while the releases fail: acked, held, and never ahead of the replay.
    assert_eq!(
        a.ask("chat:message", json!({"text": "three"})).await["ok"],
        json!(true)
    );
    assert_eq!(b.event("chat:message").await["text"], json!("two"));
    assert_eq!(b.event("chat:message").await["text"], json!("three"));
    a.event("chat:partner:back").await;
    // Five failures, one release handing out "three", one finding nothing new.
    assert_eq!(store.failures.calls(), 7);
    a.ask("chat:message", json!({"text": "four"})).await;
    assert_eq!(b.event("chat:message").await["text"], json!("four"));
}

#[tokio::test]
async fn a_socket_that_goes_while_its_release_fails_leaves_the_hold_for_its_return() {
    let (stores, store) = FailingRelease::stores(u32::MAX, unreachable);
    let node = start_on(Settings::default(), stores).await;
    let (mut a, bob_token, room, seen) = bob_away_with_messages_held(&node, &["one"]).await;
    let mut b = bob_back(&node, &bob_token, &room, seen).await;
    let one = b.event("chat:message").await;
    assert_eq!(one["text"], json!("one"));
    let one_seq = one["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("a replayed message has a seq"));
    assert_eq!(
        a.ask("chat:message", json!({"text": "two"})).await["ok"],
        json!(true)
    );
    drop(b);
    eventually("the failing releases stop with the socket", || {
        let calls = store.failures.calls();
        calls > 0 && node.duet.local_sockets() == 1
    })
    .await;
    store.failures.left.store(0, Ordering::SeqCst);
    let mut b = bob_back(&node, &bob_token, &room, one_seq).await;
    assert_eq!(b.event("chat:message").await["text"], json!("two"));
    a.ask("chat:message", json!({"text": "three"})).await;
    assert_eq!(b.event("chat:message").await["text"], json!("three"));
}

#[tokio::test]
async fn a_release_that_retrying_cannot_cure_ends_the_resume_at_once() {
    // An unreadable reply stays unreadable: retried, it would keep the guest's own events
    // waiting behind the resume for as long as the socket lives.
    let corrupt = || StoreError::Corrupt("injected: an unreadable release".into());
    let (stores, store) = FailingRelease::stores(u32::MAX, corrupt);
    let node = start_on(Settings::default(), stores).await;
    let (mut a, bob_token, room, seen) = bob_away_with_messages_held(&node, &["one"]).await;
    let mut b = bob_back(&node, &bob_token, &room, seen).await;
    assert_eq!(b.event("chat:message").await["text"], json!("one"));
    let ack = b.ask("chat:message", json!({"text": "still here"})).await;
    assert_eq!(ack["ok"], json!(true));
    assert_eq!(a.event("chat:message").await["text"], json!("still here"));
    assert_eq!(store.failures.calls(), 1);
}

/// A presence store whose first `failures` calls of `register_connection` fail with `error`:
/// the store gone between a guest's token check and the record of its connection. Everything
/// else is the memory store's.
#[derive(Debug)]
struct FailingRegistration {
    inner: Arc<dyn PresenceStore>,
    failures: Failures,
}

impl FailingRegistration {
    fn stores(failures: u32, error: fn() -> StoreError) -> (Stores, Arc<Self>) {
        let memory = Stores::memory();
        let failing = Arc::new(Self {
            inner: Arc::clone(&memory.presence),
            failures: Failures::new(failures, error),
        });
        let stores = Stores {
            presence: Arc::clone(&failing) as Arc<dyn PresenceStore>,
            ..memory
        };
        (stores, failing)
    }
}

#[async_trait::async_trait]
impl PresenceStore for FailingRegistration {
    async fn register_connection(
        &self,
        connection: &Connection,
    ) -> Result<Option<Connection>, StoreError> {
        self.failures.call()?;
        self.inner.register_connection(connection).await
    }

    async fn unregister_connection(
        &self,
        guest: &GuestId,
        socket_id: &str,
    ) -> Result<bool, StoreError> {
        self.inner.unregister_connection(guest, socket_id).await
    }
    async fn connection(&self, guest: &GuestId) -> Result<Option<Connection>, StoreError> {
        self.inner.connection(guest).await
    }
    async fn heartbeat(
        &self,
        node: &NodeId,
        connected_sockets: u64,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.inner.heartbeat(node, connected_sockets, ttl).await
    }
    async fn live_nodes(&self) -> Result<Vec<NodeId>, StoreError> {
        self.inner.live_nodes().await
    }
    async fn claim_dead_nodes(&self) -> Result<Vec<DeadNode>, StoreError> {
        self.inner.claim_dead_nodes().await
    }
    async fn remove_node(&self, node: &NodeId) -> Result<Vec<Connection>, StoreError> {
        self.inner.remove_node(node).await
    }
    async fn counts(&self) -> Result<PresenceCounts, StoreError> {
        self.inner.counts().await
    }
    async fn lost_state(&self, node: &NodeId) -> Result<bool, StoreError> {
        self.inner.lost_state(node).await
    }
}

#[tokio::test]
async fn a_connection_the_store_cannot_record_yet_is_retried_and_the_socket_kept() {
    // Disconnected by the server instead, a stock socket.io-client would not come back.
    let (stores, presence) = FailingRegistration::stores(3, unreachable);
    let node = start_on(Settings::default(), stores).await;
    let (ada_token, ada) = node.guest("Ada").await;
    let (bob_token, _) = node.guest("Bob").await;
    let (mut a, connected) = Client::open(&node, json!({"token": ada_token})).await;
    assert_eq!(connected, Ok(()));
    // Its first event waits behind the retries, and is answered once the connection is known.
    assert_eq!(
        a.ask("user:match", json!({"interests": ["retry"]})).await,
        json!({"ok": true, "status": "waiting"})
    );
    assert_eq!(
        presence.failures.calls(),
        4,
        "three failures, then the record"
    );
    let ada_id: GuestId = ada.parse().unwrap_or_else(|e| panic!("{e}"));
    let recorded = node.duet.stores().presence.connection(&ada_id).await;
    assert!(matches!(recorded, Ok(Some(_))), "{recorded:?}");

    // The socket serves on: a partner comes, and messages flow both ways.
    let (mut b, _) = Client::open(&node, json!({"token": bob_token})).await;
    b.ask("user:match", json!({"interests": ["retry"]})).await;
    a.event("user:matched").await;
    b.event("user:matched").await;
    assert_eq!(
        b.ask("chat:message", json!({"text": "hi"})).await["ok"],
        json!(true)
    );
    assert_eq!(a.event("chat:message").await["text"], json!("hi"));
}

/// An adapter link that always receives, interrupted by hand (as if for too short a time to be
/// seen down).
#[derive(Debug, Clone, Default)]
struct ManualLink(Arc<std::sync::atomic::AtomicU64>);

impl ManualLink {
    fn interrupt(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl AdapterLink for ManualLink {
    fn receiving(&self) -> bool {
        true
    }

    fn interruptions(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn after_the_link_to_other_nodes_was_interrupted_a_guest_learns_of_the_pair_formed_meanwhile()
{
    let link = ManualLink::default();
    let node = start_linked(Settings::default(), Stores::memory(), Some(link.clone())).await;
    let (ada_token, ada) = node.guest("Ada").await;
    let (mut a, _) = Client::open(&node, json!({"token": ada_token})).await;
    assert_eq!(
        a.ask("user:match", json!({})).await,
        json!({"ok": true, "status": "waiting"})
    );
    // Carol and Dan chat on this node: their events never cross the link.
    let (carol_token, _) = node.guest("Carol").await;
    let (dan_token, _) = node.guest("Dan").await;
    let (mut c, _) = Client::open(&node, json!({"token": carol_token})).await;
    let (mut d, _) = Client::open(&node, json!({"token": dan_token})).await;
    c.ask("user:match", json!({"interests": ["local"]})).await;
    d.ask("user:match", json!({"interests": ["local"]})).await;
    c.event("user:matched").await;
    d.event("user:matched").await;

    // A node beyond the link paired Ada with Bob, and its `user:matched` was lost on the way.
    let ada_id: GuestId = ada.parse().unwrap_or_else(|e| panic!("{e}"));
    let pair = Pair::new(ada_id, GuestId::random(), SystemClock.now()).with_names("Ada", "Bob");
    let created = node.duet.stores().chats.create_pair(&pair).await;
    assert!(matches!(created, Ok(true)), "{created:?}");
    link.interrupt();
    let matched = a.event("user:matched").await;
    assert_eq!(matched["roomId"], json!(pair.room_id.to_string()));
    assert_eq!(matched["partner"]["username"], json!("Bob"));
    assert_eq!(matched["initiator"], json!(true));
    assert_eq!(matched["resumed"], json!(true));

    // Every socket's catch-up was queued before Ada's ran; Dan's comes before his next event's
    // answer, and sends nothing.
    let id = d.next_ack;
    d.send(format!("42{id}{}", json!(["chat:typing:stop"])))
        .await;
    loop {
        match d.incoming().await {
            Incoming::Ack(got, answer) if got == id => {
                assert_eq!(answer, json!({"ok": true}));
                break;
            }
            Incoming::Event(event, payload) => panic!("Dan was sent {event} {payload}"),
            _ => {}
        }
    }
}
