//! A guest as a real client is one: a session over HTTP, then Socket.IO (protocol 5) over a
//! WebSocket, spoken by hand so that nothing between the harness and the wire adds its own
//! cost, buffering or retries.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;

/// What went wrong talking to the server.
pub(crate) type Error = String;

/// Local addresses connections are spread over (`--source-addresses`); empty: the system picks.
static SOURCES: std::sync::OnceLock<Vec<std::net::IpAddr>> = std::sync::OnceLock::new();
static NEXT_SOURCE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Spreads later connections over 127.0.0.1 to 127.0.0.`count`: each source address has its
/// own ports, and a server's per-IP limits see several clients.
pub(crate) fn spread_sources(count: u8) {
    let sources = (1..=count.max(1))
        .map(|last| std::net::IpAddr::from([127, 0, 0, last]))
        .collect();
    let _ = SOURCES.set(sources);
}

/// A TCP connection to `address` from the next source address, with TCP_NODELAY as browsers
/// set it on their WebSockets: small frames go out at once, not after the peer's delayed ACK.
async fn connect_tcp(address: &str) -> Result<TcpStream, Error> {
    let stream = connect_from_source(address).await?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    Ok(stream)
}

async fn connect_from_source(address: &str) -> Result<TcpStream, Error> {
    let target = tokio::net::lookup_host(address)
        .await
        .map_err(|e| format!("{address}: {e}"))?
        .next()
        .ok_or_else(|| format!("{address}: no address"))?;
    let sources = SOURCES.get().map(Vec::as_slice).unwrap_or_default();
    let Some(source) = (!sources.is_empty() && target.ip().is_loopback()).then(|| {
        sources[NEXT_SOURCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % sources.len()]
    }) else {
        return TcpStream::connect(target)
            .await
            .map_err(|e| format!("connect {address}: {e}"));
    };
    let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket
        .bind(std::net::SocketAddr::new(source, 0))
        .map_err(|e| format!("bind {source}: {e}"))?;
    socket
        .connect(target)
        .await
        .map_err(|e| format!("connect {address} from {source}: {e}"))
}

/// A guest session.
#[derive(Debug, Clone)]
pub(crate) struct Guest {
    pub(crate) token: String,
}

/// Creates a guest session on the server at `address` (`POST /api/guest/session`).
pub(crate) async fn new_guest(address: &str) -> Result<Guest, Error> {
    let mut stream = connect_tcp(address).await?;
    let request = format!(
        "POST /api/guest/session HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = String::new();
    stream
        .read_to_string(&mut raw)
        .await
        .map_err(|e| e.to_string())?;
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let json: Value = serde_json::from_str(body).map_err(|_| format!("no session: {raw}"))?;
    let field = |name: &str| {
        json.pointer(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("no {name} in {body}"))
    };
    Ok(Guest {
        token: field("/token")?,
    })
}

/// `count` new guests, each connected, set up `concurrency` at a time and spread over
/// `addresses` in turn.
pub(crate) async fn connect_guests(
    addresses: &[String],
    count: usize,
    concurrency: usize,
) -> Result<Vec<Connection>, Error> {
    use futures_util::stream::{self, StreamExt};
    let connections = stream::iter(0..count)
        .map(|index| {
            let address = &addresses[index % addresses.len()];
            async move {
                let guest = new_guest(address).await?;
                Connection::open_as(address, &guest).await
            }
        })
        .buffer_unordered(concurrency.max(1));
    connections.collect::<Vec<_>>().await.into_iter().collect()
}

/// What the server sent.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// An event: its name and first argument.
    Event(String, Value),
    /// The answer to the event sent with this ack id.
    Ack(u64, Value),
}

/// One Socket.IO connection of a guest.
pub(crate) struct Connection {
    socket: Socket,
    next_ack: u64,
}

impl Connection {
    /// Connects to namespace `/` with `auth` (`{"token", "lastSeen"?}`).
    pub(crate) async fn open(address: &str, auth: &Value) -> Result<Self, Error> {
        let url = format!("ws://{address}/socket.io/?EIO=4&transport=websocket");
        let stream = connect_tcp(address).await?;
        let (mut socket, _) = tokio_tungstenite::client_async(url, stream)
            .await
            .map_err(|e| format!("WebSocket to {address}: {e}"))?;
        socket
            .send(Message::text(format!("40{auth}")))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) if text.starts_with("40") => break,
                Some(Ok(Message::Text(text))) if text.starts_with("44") => {
                    return Err(format!("refused: {text}"));
                }
                Some(Ok(_)) => {}
                other => return Err(format!("handshake ended: {other:?}")),
            }
        }
        Ok(Self {
            socket,
            next_ack: 0,
        })
    }

    /// Connects with just a token.
    pub(crate) async fn open_as(address: &str, guest: &Guest) -> Result<Self, Error> {
        Self::open(address, &json!({"token": guest.token})).await
    }

    /// Sends `event` with `payload`, asking for an ack; returns its id.
    pub(crate) async fn emit(&mut self, event: &str, payload: &Value) -> Result<u64, Error> {
        let id = self.next_ack;
        self.next_ack += 1;
        let frame = format!("42{id}{}", json!([event, payload]));
        self.socket
            .send(Message::text(frame))
            .await
            .map_err(|e| e.to_string())?;
        Ok(id)
    }

    /// The next event or ack; `None` when the connection ended. Pings are answered here.
    pub(crate) async fn next(&mut self) -> Option<Incoming> {
        loop {
            let text = match self.socket.next().await? {
                Ok(Message::Text(text)) => text,
                Ok(_) => continue,
                Err(_) => return None,
            };
            if text.as_str() == "2" {
                self.socket.send(Message::text("3")).await.ok()?;
                continue;
            }
            if let Some(incoming) = parse(text.as_str()) {
                return Some(incoming);
            }
        }
    }

    /// Waits for `event`, dropping everything else.
    pub(crate) async fn wait_for(&mut self, event: &str) -> Result<Value, Error> {
        loop {
            match self.next().await {
                Some(Incoming::Event(name, payload)) if name == event => return Ok(payload),
                Some(_) => {}
                None => return Err(format!("connection ended before {event}")),
            }
        }
    }

    /// Closes the TCP connection under the socket at once: no close frame, no Socket.IO
    /// disconnect, as when a network drops (the server sees the transport close).
    pub(crate) fn cut(self) {
        // A reset, not an orderly shutdown.
        let _ = self.socket.get_ref().set_zero_linger();
    }

    /// Leaves politely (`socket.disconnect()`).
    pub(crate) async fn close(mut self) {
        let _ = self.socket.send(Message::text("41")).await;
        let _ = self.socket.close(None).await;
    }
}

/// `42["event", payload]` and `43<id>[answer]`.
fn parse(text: &str) -> Option<Incoming> {
    if let Some(rest) = text.strip_prefix("42") {
        let args: Value = serde_json::from_str(rest).ok()?;
        let name = args.get(0)?.as_str()?.to_owned();
        return Some(Incoming::Event(
            name,
            args.get(1).cloned().unwrap_or(Value::Null),
        ));
    }
    let rest = text.strip_prefix("43")?;
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    let id = rest[..digits].parse().ok()?;
    let args: Value = serde_json::from_str(&rest[digits..]).ok()?;
    Some(Incoming::Ack(
        id,
        args.get(0).cloned().unwrap_or(Value::Null),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_acks_are_read() {
        assert!(matches!(
            parse(r#"42["chat:message",{"seq":3}]"#),
            Some(Incoming::Event(name, payload)) if name == "chat:message" && payload["seq"] == 3
        ));
        assert!(matches!(
            parse(r#"4312[{"ok":true}]"#),
            Some(Incoming::Ack(12, answer)) if answer["ok"] == true
        ));
        assert!(parse("43x").is_none());
        assert!(parse("0{}").is_none());
    }
}
