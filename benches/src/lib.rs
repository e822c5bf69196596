//! Fixtures of Duet's cross-crate benchmarks (`cargo bench -p duet-benches`).
//!
//! | bench | what one iteration is |
//! |---|---|
//! | `relay_path` | one `chat:message` through a node in this process: read off the sender's WebSocket, decoded, validated, kept in the partner's log, encoded, written to the partner, acked |
//! | `token` | a guest token issued, decoded, and verified against the session store |
//!
//! The match queue's own benchmarks are `cargo bench -p duet-matchmaker`.
//!
//! The library is what they share: a [`Node`] of `duet-transport` on memory stores, served on
//! `127.0.0.1:0`, and a [`Client`] that speaks just enough Socket.IO to drive it with frames
//! built before the clock starts. The server's figures across processes (memory per guest,
//! CPU per handshake, tail latency, the baselines beside them) come from `duet-load` and
//! `scripts/bench`; see docs/benchmarks.md.
//!
//! ```no_run
//! # async fn run() -> Result<(), duet_benches::Error> {
//! let node = duet_benches::Node::start().await?;
//! let (mut ada, mut bob) = node.pair().await?;
//! ada.send(r#"421["chat:message",{"text":"hi"}]"#).await?;
//! assert!(bob.next_frame().await?.starts_with(r#"42["chat:message""#));
//! assert!(ada.next_frame().await?.starts_with("431"));
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use duet_auth::TokenService;
use duet_matchmaker::{MatchConfig, MemoryQueue};
use duet_presence_store::Stores;
use duet_transport::{Duet, Settings};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// What went wrong setting a benchmark up, in words.
pub type Error = String;

type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A Duet node on memory stores with default settings, served on a free loopback port for as
/// long as it lives.
#[derive(Debug)]
pub struct Node {
    address: SocketAddr,
    _tasks: duet_transport::NodeTasks,
    server: tokio::task::JoinHandle<()>,
}

impl Node {
    /// Builds the node and starts serving it (call inside a Tokio runtime).
    pub async fn start() -> Result<Self, Error> {
        let tokens =
            TokenService::new(&TokenService::random_secret()).map_err(|e| e.to_string())?;
        let queue = Arc::new(MemoryQueue::new(MatchConfig::default()));
        // A benchmark sends far more than a guest's budget of 100 events a minute; at the
        // default, messages past it would be refused and never reach the partner.
        let settings = Settings {
            rate_limit_max: u32::MAX,
            ..Settings::default()
        };
        let (socket_layer, io) = settings.socket_io_builder().build_layer();
        let (duet, ()) = Duet::builder(tokens, Stores::memory(), queue)
            .settings(settings)
            .build(&io);
        let tasks = duet.spawn_tasks();
        let app = duet.router().layer(socket_layer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let server = tokio::spawn(duet_transport::serve::serve(
            listener,
            app,
            duet_transport::serve::ServeLimits::default(),
            std::future::pending(),
        ));
        Ok(Self {
            address,
            _tasks: tasks,
            server,
        })
    }

    /// A new guest's session token (`POST /api/guest/session`).
    pub async fn new_token(&self) -> Result<String, Error> {
        let mut stream = TcpStream::connect(self.address)
            .await
            .map_err(|e| e.to_string())?;
        let request = "POST /api/guest/session HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
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
        let session: serde_json::Value =
            serde_json::from_str(body).map_err(|_| format!("no session in {raw}"))?;
        session["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no token in {body}"))
    }

    /// A guest connected with a fresh session.
    pub async fn connect(&self) -> Result<Client, Error> {
        let token = self.new_token().await?;
        let stream = TcpStream::connect(self.address)
            .await
            .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", self.address);
        let (socket, _) = tokio_tungstenite::client_async(url, stream)
            .await
            .map_err(|e| e.to_string())?;
        let mut client = Client { socket };
        client
            .send(&format!("40{}", serde_json::json!({"token": token})))
            .await?;
        client.wait_for("40").await?;
        Ok(client)
    }

    /// Two connected guests paired with each other (Ada waited, Bob found her).
    pub async fn pair(&self) -> Result<(Client, Client), Error> {
        let (mut ada, mut bob) = (self.connect().await?, self.connect().await?);
        ada.send(r#"420["user:match",{}]"#).await?;
        ada.wait_for("430").await?;
        bob.send(r#"420["user:match",{}]"#).await?;
        for guest in [&mut ada, &mut bob] {
            guest.wait_for(r#"42["user:matched""#).await?;
        }
        Ok((ada, bob))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One guest's Socket.IO connection, spoken in raw frames (`42…` events, `43…` acks).
#[derive(Debug)]
pub struct Client {
    socket: Socket,
}

impl Client {
    /// Sends one text frame as it is.
    pub async fn send(&mut self, frame: &str) -> Result<(), Error> {
        self.socket
            .send(Message::text(frame))
            .await
            .map_err(|e| e.to_string())
    }

    /// The next Socket.IO frame the server sent (engine.io pings are answered on the way).
    pub async fn next_frame(&mut self) -> Result<String, Error> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) if text.as_str() == "2" => self.send("3").await?,
                Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.to_string()),
                None => return Err("the connection ended".to_owned()),
            }
        }
    }

    /// Reads frames until one starts with `prefix`, and returns it.
    /// Fails after 5 s without it, so a benchmark whose message went nowhere stops instead of
    /// waiting for ever.
    pub async fn wait_for(&mut self, prefix: &str) -> Result<String, Error> {
        let wait = async {
            loop {
                let frame = self.next_frame().await?;
                if frame.starts_with(prefix) {
                    return Ok(frame);
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), wait)
            .await
            .map_err(|_| format!("no {prefix}… frame within 5 s"))?
    }
}
