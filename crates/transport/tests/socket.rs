//! The Socket.IO handlers over a real WebSocket on 127.0.0.1:0, spoken to with a minimal
//! Engine.IO 4 / Socket.IO 5 client written here (text frames only: the binary path is covered by
//! the end-to-end suite with the real socket.io-client).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use duet_auth::{Clock, Session, SystemClock, TokenService, Username};
use duet_matchmaker::{MatchConfig, MemoryQueue};
use duet_presence_store::{SessionStore, Stores};
use duet_transport::{Duet, NodeTasks, Settings};
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
    let queue = Arc::new(MemoryQueue::new(MatchConfig::default()));
    let tokens = TokenService::new(b"socket-test-secret-socket-test-secret!")
        .unwrap_or_else(|e| panic!("{e}"));
    let stores = Stores::memory();
    let sessions = Arc::clone(&stores.sessions);
    let (layer, io) = settings.socket_io_builder().build_layer();
    let (duet, ()) = Duet::builder(tokens.clone(), stores, queue)
        .settings(settings)
        .build(&io);
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
