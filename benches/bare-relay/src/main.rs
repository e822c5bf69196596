//! `duet-bare-relay`: the floor Duet's own figures are measured against (docs/benchmarks.md).
//!
//! The least a server must do to serve `duet-load`'s scenarios: `POST /api/guest/session`
//! answers an HS256 token, a Socket.IO connection presents it and is verified, `user:match`
//! pairs guests that name the same interests (first come, first served), and `chat:message` is
//! forwarded to the partner and acked. No store, no limits, no validation beyond the token, no
//! resume: what socketioxide costs by itself. Started by `scripts/bench`, never by the tests.
//!
//! ```text
//! cargo run --release -p duet-bare-relay -- 3000
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::routing::post;
use axum::serve::ListenerExt;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::Sid;

const SECRET: &[u8] = b"bare-relay-secret-bare-relay-secret";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

/// Who is waiting for which interests, and who is paired with whom.
#[derive(Default)]
struct Relay {
    waiting: Mutex<HashMap<String, (SocketRef, String)>>,
    partners: Mutex<HashMap<Sid, (SocketRef, String, String)>>,
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

async fn new_session() -> Json<Value> {
    let guest = uuid::Uuid::new_v4().to_string();
    let claims = Claims {
        sub: guest.clone(),
        exp: unix_seconds() + 7200,
    };
    let token = EncodingKey::from_secret(SECRET)
        .and_then(|key| jsonwebtoken::encode(&Header::default(), &claims, &key))
        .unwrap_or_default();
    Json(json!({"token": token, "guest": {"id": guest, "username": "guest"}}))
}

fn guest_of(auth: &Value) -> Option<String> {
    let token = auth.get("token")?.as_str()?;
    let key = DecodingKey::from_secret(SECRET).ok()?;
    let data = jsonwebtoken::decode::<Claims>(token, &key, &Validation::default()).ok()?;
    Some(data.claims.sub)
}

/// Pairs `socket` with a guest waiting for the same interests, or makes it wait.
fn user_match(relay: &Relay, socket: SocketRef, guest: String, interests: String) {
    // One lock for the look and the wait: two guests asking at once must not both wait.
    let (other, other_guest) = {
        let mut waiting = relay.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        match waiting.remove(&interests) {
            Some(other) => other,
            None => {
                waiting.insert(interests, (socket, guest));
                return;
            }
        }
    };
    let room = uuid::Uuid::new_v4().to_string();
    let mut partners = relay
        .partners
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    partners.insert(
        socket.id,
        (other.clone(), other_guest.clone(), room.clone()),
    );
    partners.insert(other.id, (socket.clone(), guest.clone(), room.clone()));
    drop(partners);
    for (to, partner, initiator) in [(&other, &guest, true), (&socket, &other_guest, false)] {
        let matched = json!({"roomId": room, "partner": {"id": partner, "username": "guest"},
            "initiator": initiator, "commonInterests": [], "iceServers": []});
        let _ = to.emit("user:matched", &matched);
    }
}

/// Forwards a `chat:message` to the partner of `socket` and answers its ack.
fn chat_message(relay: &Relay, socket: &SocketRef, guest: &str, message: &Value, ack: AckSender) {
    let partner = relay
        .partners
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&socket.id)
        .cloned();
    let Some((partner, _, room)) = partner else {
        let refused =
            json!({"ok": false, "error": {"code": "NOT_IN_CHAT", "message": "not in a chat"}});
        let _ = ack.send(&refused);
        return;
    };
    let id = uuid::Uuid::new_v4().to_string();
    let sent_at = unix_seconds().to_string();
    let outgoing = json!({"id": id, "roomId": room, "from": guest, "text": message["text"],
        "clientId": message["clientId"], "sentAt": sent_at});
    let _ = partner.emit("chat:message", &outgoing);
    let _ = ack.send(&json!({"ok": true, "id": id, "sentAt": sent_at}));
}

/// The token was missing or wrong: `connect_error` says so.
#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AUTH_INVALID")
    }
}

fn serve_namespace(io: &SocketIo, relay: Arc<Relay>) {
    // Checked, and the handlers registered, in the connect middleware: it runs before the
    // client is told it is connected, so an event sent at once finds its handler (the connect
    // handler runs only after CONNECT went out).
    let authenticate = move |socket: SocketRef, TryData(auth): TryData<Value>| {
        let relay = Arc::clone(&relay);
        async move {
            let guest = auth.ok().as_ref().and_then(guest_of).ok_or(Refused)?;
            let (matching, me) = (Arc::clone(&relay), guest.clone());
            socket.on(
                "user:match",
                move |socket: SocketRef, TryData(payload): TryData<Value>, ack: AckSender| {
                    let (relay, guest) = (Arc::clone(&matching), me.clone());
                    async move {
                        let interests = payload
                            .ok()
                            .map(|p| p["interests"].to_string())
                            .unwrap_or_default();
                        let _ = ack.send(&json!({"ok": true, "status": "waiting"}));
                        user_match(&relay, socket, guest, interests);
                    }
                },
            );
            let (relaying, me) = (Arc::clone(&relay), guest);
            socket.on(
                "chat:message",
                move |socket: SocketRef, Data(message): Data<Value>, ack: AckSender| {
                    let (relay, guest) = (Arc::clone(&relaying), me.clone());
                    async move { chat_message(&relay, &socket, &guest, &message, ack) }
                },
            );
            socket.on_disconnect(move |socket: SocketRef| {
                let relay = Arc::clone(&relay);
                async move {
                    let mut partners = relay
                        .partners
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    partners.remove(&socket.id);
                    drop(partners);
                    let mut waiting = relay.waiting.lock().unwrap_or_else(PoisonError::into_inner);
                    waiting.retain(|_, (s, _)| s.id != socket.id);
                }
            });
            Ok::<(), Refused>(())
        }
    };
    io.ns("/", (|| async {}).with(authenticate));
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let (layer, io) = SocketIo::new_layer();
    serve_namespace(&io, Arc::new(Relay::default()));
    let app = axum::Router::new()
        .route("/api/guest/session", post(new_session))
        .route("/health", axum::routing::get(|| async { "ok" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    // As Duet does: small writes go out at once.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
