//! `duet-load`: drives a running `duet-server` the way real clients do, and reports throughput,
//! latency and the server's memory.
//!
//! It creates `2 × pairs` guest sessions over HTTP, opens one Socket.IO WebSocket per guest, asks
//! every guest to be matched, then has every guest send `messages` chat messages to its partner
//! as fast as the acks come back. Latency is measured from send to the partner's receipt (one
//! process, one clock). Bounded in count and time; it talks only to the address it is given.
//!
//! ```text
//! DUET_RATE_LIMIT_MAX=1000000 DUET_SESSION_RATE_LIMIT_PER_MINUTE=1000000 cargo run --release -p duet-server &
//! cargo run --release -p duet-load -- --address 127.0.0.1:3000 --pairs 200 --messages 200 --server-pid $!
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

/// Load generator for duet-server.
#[derive(Debug, Parser)]
struct Args {
    /// The server's address (host:port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    address: String,
    /// Pairs of guests.
    #[arg(long, default_value_t = 100)]
    pairs: usize,
    /// Messages each guest sends.
    #[arg(long, default_value_t = 100)]
    messages: usize,
    /// Characters of text per message.
    #[arg(long, default_value_t = 64)]
    text_chars: usize,
    /// The server's process id, to report its resident memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_seconds: u64,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn new_session(address: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| e.to_string())?;
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
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let json: Value = serde_json::from_str(body).map_err(|_| format!("no session: {raw}"))?;
    json["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no token: {body}"))
}

async fn open(address: &str, token: &str) -> Result<Socket, String> {
    let url = format!("ws://{address}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| e.to_string())?;
    let auth = json!({"token": token});
    ws.send(Message::text(format!("40{auth}")))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.starts_with("40") => return Ok(ws),
            Some(Ok(Message::Text(text))) if text.starts_with("44") => return Err(text.to_string()),
            Some(Ok(_)) => continue,
            other => return Err(format!("handshake ended: {other:?}")),
        }
    }
}

/// The Socket.IO event name and payload of a text frame, answering pings.
async fn next_event(ws: &mut Socket) -> Option<(String, Value)> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(text)) if text.as_str() == "2" => {
                ws.send(Message::text("3")).await.ok()?;
            }
            Ok(Message::Text(text)) => {
                if let Some(rest) = text.strip_prefix("42") {
                    let args: Value = serde_json::from_str(rest).ok()?;
                    return Some((args[0].as_str()?.to_owned(), args[1].clone()));
                }
                if text.starts_with("43") {
                    return Some(("ack".to_owned(), Value::Null));
                }
            }
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

#[derive(Default)]
struct Totals {
    delivered: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

/// One guest: waits for its match, then sends its messages and counts what its partner sends.
async fn guest(
    mut ws: Socket,
    messages: usize,
    text: Arc<String>,
    started: Instant,
    totals: Arc<Totals>,
) {
    if ws
        .send(Message::text(r#"42["user:match",{}]"#))
        .await
        .is_err()
    {
        return;
    }
    loop {
        match next_event(&mut ws).await {
            Some((event, _)) if event == "user:matched" => break,
            Some(_) => continue,
            None => return,
        }
    }
    let mut sent = 0;
    let mut received = 0;
    let mut in_flight = false;
    let mut latencies = Vec::with_capacity(messages);
    while received < messages || sent < messages {
        if !in_flight && sent < messages {
            let at = started.elapsed().as_micros();
            let frame = format!(
                "420{}",
                json!(["chat:message", {"text": *text, "clientId": at.to_string()}])
            );
            if ws.send(Message::text(frame)).await.is_err() {
                break;
            }
            sent += 1;
            in_flight = true;
        }
        match next_event(&mut ws).await {
            Some((event, _)) if event == "ack" => in_flight = false,
            Some((event, payload)) if event == "chat:message" => {
                received += 1;
                if let Some(at) = payload["clientId"]
                    .as_str()
                    .and_then(|c| c.parse::<u128>().ok())
                {
                    let now = started.elapsed().as_micros();
                    latencies.push(u64::try_from(now.saturating_sub(at)).unwrap_or(u64::MAX));
                }
            }
            Some(_) => {}
            None => break,
        }
    }
    totals
        .delivered
        .fetch_add(received as u64, Ordering::Relaxed);
    totals.latencies_us.lock().await.extend(latencies);
    let _ = ws.close(None).await;
}

fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let guests = args.pairs * 2;
    let before = args.server_pid.and_then(resident_kib);
    let mut sockets = Vec::with_capacity(guests);
    let connect_started = Instant::now();
    for _ in 0..guests {
        let token = new_session(&args.address).await?;
        sockets.push(open(&args.address, &token).await?);
    }
    let connected_in = connect_started.elapsed();
    let connected = args.server_pid.and_then(resident_kib);
    let totals = Arc::new(Totals::default());
    let text = Arc::new("x".repeat(args.text_chars));
    let started = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| {
            tokio::spawn(guest(
                ws,
                args.messages,
                Arc::clone(&text),
                started,
                Arc::clone(&totals),
            ))
        })
        .collect();
    let all = futures_util::future::join_all(tasks);
    if tokio::time::timeout(Duration::from_secs(args.timeout_seconds), all)
        .await
        .is_err()
    {
        eprintln!(
            "timed out after {} s; reporting what arrived",
            args.timeout_seconds
        );
    }
    let elapsed = started.elapsed();
    let delivered = totals.delivered.load(Ordering::Relaxed);
    let mut latencies = totals.latencies_us.lock().await.clone();
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(index).map_or(0.0, |us| *us as f64 / 1000.0)
    };
    println!(
        "guests: {guests} ({} pairs), connected in {:.2} s",
        args.pairs,
        connected_in.as_secs_f64()
    );
    println!(
        "delivered: {delivered} of {} messages in {:.2} s = {:.0} messages/s",
        guests * args.messages,
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
    );
    println!(
        "latency send→partner: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(0.5),
        percentile(0.99),
        percentile(1.0)
    );
    if let (Some(before), Some(connected)) = (before, connected) {
        let per_guest = (connected.saturating_sub(before)) as f64 / guests as f64;
        println!(
            "server RSS: {before} KiB idle, {connected} KiB with {guests} sockets ({per_guest:.1} KiB per socket)"
        );
    }
    Ok(())
}
