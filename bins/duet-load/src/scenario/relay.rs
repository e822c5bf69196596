//! `relay`: every guest sends its messages one at a time, each after the ack of the last, and
//! counts what its partner sends; latency is measured from send to the partner's receipt (one
//! process, one clock).

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::client::{Connection, Error, Incoming, new_guest};
use crate::resident_kib;

/// `relay`'s parameters.
#[derive(Debug, clap::Args)]
pub(crate) struct Relay {
    /// Pairs of guests.
    #[arg(long, default_value_t = 100)]
    pairs: usize,
    /// Messages each guest sends.
    #[arg(long, default_value_t = 100)]
    messages: usize,
    /// Characters of text per message.
    #[arg(long, default_value_t = 64)]
    text_chars: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_seconds: u64,
}

pub(crate) async fn run(args: &Relay, addresses: &[String], pids: &[u32]) -> Result<Value, Error> {
    let guests = args.pairs * 2;
    let before: Vec<_> = pids.iter().map(|pid| resident_kib(*pid)).collect();
    let connect_started = Instant::now();
    let mut connections = Vec::with_capacity(guests);
    for index in 0..guests {
        let address = &addresses[index % addresses.len()];
        let guest = new_guest(address).await?;
        connections.push(Connection::open_as(address, &guest).await?);
    }
    let connected_in = connect_started.elapsed();
    let connected: Vec<_> = pids.iter().map(|pid| resident_kib(*pid)).collect();
    let text = "x".repeat(args.text_chars);
    let started = Instant::now();
    let guests_done = join_all(
        connections
            .into_iter()
            .map(|connection| guest(connection, args.messages, &text, started)),
    );
    let results =
        match tokio::time::timeout(Duration::from_secs(args.timeout_seconds), guests_done).await {
            Ok(results) => results,
            Err(_) => return Err(format!("timed out after {} s", args.timeout_seconds)),
        };
    let elapsed = started.elapsed();
    let mut latencies: Vec<u64> = results
        .iter()
        .flat_map(|(_, l)| l.iter().copied())
        .collect();
    let delivered: usize = results.iter().map(|(received, _)| received).sum();
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(index).map_or(0.0, |us| *us as f64 / 1000.0)
    };
    Ok(json!({
        "scenario": "relay",
        "pairs": args.pairs,
        "guests": guests,
        "connectSeconds": connected_in.as_secs_f64(),
        "messages": guests * args.messages,
        "delivered": delivered,
        "seconds": elapsed.as_secs_f64(),
        "messagesPerSecond": delivered as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        "latencyMs": {"p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99), "max": percentile(1.0)},
        "serverRssKiB": pids.iter().zip(before.iter().zip(&connected)).map(|(pid, (before, connected))| json!({
            "pid": pid, "idle": before, "connected": connected,
        })).collect::<Vec<_>>(),
    }))
}

/// One guest: waits for its match, then sends its messages, each after the last one's ack, and
/// counts what its partner sends. Returns what it received and the latencies (µs).
async fn guest(
    mut connection: Connection,
    messages: usize,
    text: &str,
    started: Instant,
) -> (usize, Vec<u64>) {
    let mut latencies = Vec::with_capacity(messages);
    if connection.match_up().await.is_err() {
        return (0, latencies);
    }
    let (mut sent, mut received, mut in_flight) = (0, 0, false);
    while received < messages || sent < messages {
        if !in_flight && sent < messages {
            let at = started.elapsed().as_micros().to_string();
            if connection
                .emit("chat:message", &json!({"text": text, "clientId": at}))
                .await
                .is_err()
            {
                break;
            }
            sent += 1;
            in_flight = true;
        }
        match connection.next().await {
            Some(Incoming::Ack(..)) => in_flight = false,
            Some(Incoming::Event(name, payload)) if name == "chat:message" => {
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
    connection.close().await;
    (received, latencies)
}
