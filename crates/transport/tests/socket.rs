//! The Socket.IO handlers over a real WebSocket on 127.0.0.1:0, spoken to with a minimal
//! Engine.IO 4 / Socket.IO 5 client written here (text frames only: the binary path is covered by
//! the end-to-end suite with the real socket.io-client).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use duet_auth::{Clock, Session, SystemClock, TokenService, Username};
use duet_matchmaker::{MatchConfig, MatchQueue, MemoryQueue};
use duet_presence_store::{MemoryStore, PresenceStore};
use duet_transport::{Chat, ChatSettings, Services, Settings};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

struct Node {
    address: SocketAddr,
    tokens: TokenService,
    store: Arc<dyn PresenceStore>,
    chat: Arc<Chat<socketioxide::adapter::LocalAdapter>>,
}

async fn start(settings: ChatSettings) -> Node {
    let queue: Arc<dyn MatchQueue> = Arc::new(MemoryQueue::new(MatchConfig::default()));
    let tokens = TokenService::new(b"socket-test-secret-socket-test-secret!")
        .unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn PresenceStore> = Arc::new(MemoryStore::new());
    let services = Arc::new(
        Services::new(tokens.clone(), Arc::clone(&store), Settings::default())
            .with_queue(Arc::clone(&queue)),
    );
    let (layer, io) = settings.socket_io_builder().build_layer();
    let (chat, ()) = Chat::attach(Arc::clone(&services), queue, settings, &io);
    // Dropping the handles detaches the tasks; they run for the rest of the test.
    let _ = chat.spawn_background();
    drop(services.spawn_maintenance());
    let app = duet_transport::http::router(Arc::clone(&services)).layer(layer);
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
        store,
        chat,
    }
}

impl Node {
    async fn guest(&self, name: &str) -> (String, String) {
        let username = Username::parse(name).unwrap_or_else(|e| panic!("{e}"));
        let session = Session::start(username, SystemClock.now(), Duration::from_secs(600));
        self.store
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
    let node = start(ChatSettings::default()).await;
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
    let node = start(ChatSettings::default()).await;
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
    let settings = ChatSettings {
        rate_limit_max: 4,
        ..ChatSettings::default()
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
    let node = start(ChatSettings::default()).await;
    let (token, guest) = node.guest("Ada").await;
    let (mut ada, _) = Client::open(&node, json!({"token": token})).await;
    let guest: duet_auth::GuestId = guest.parse().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        node.chat
            .send_to_user(&guest, "notice", &json!({"hello": 1}))
            .await
    );
    assert_eq!(ada.event("notice").await, json!({"hello": 1}));
    let stranger = duet_auth::GuestId::random();
    assert!(
        !node
            .chat
            .send_to_user(&stranger, "notice", &json!({}))
            .await
    );
    node.chat
        .broadcast("announcement", &json!({"text": "maintenance at noon"}))
        .await;
    assert_eq!(
        ada.event("announcement").await,
        json!({"text": "maintenance at noon"})
    );
    let stats = node.chat.stats().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.presence.online_guests, 1);
    assert_eq!(stats.presence.total_sessions, 1);
    assert_eq!(node.chat.local_sockets(), 1);
}
