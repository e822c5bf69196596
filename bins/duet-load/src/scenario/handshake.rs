//! `handshake`: guests created and connected as fast as the server takes them (a session over
//! HTTP, then an authenticated Socket.IO connection), and the server CPU each one cost, read
//! from /proc.

use std::time::Instant;

use serde_json::{Value, json};

use crate::client::{Error, connect_guests};
use crate::cpu_micros;

/// `handshake`'s parameters.
#[derive(Debug, clap::Args)]
pub(crate) struct Handshake {
    /// Guests to create and connect.
    #[arg(long, default_value_t = 2000)]
    guests: usize,
    /// Guests set up at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

pub(crate) async fn run(
    args: &Handshake,
    addresses: &[String],
    pids: &[u32],
) -> Result<Value, Error> {
    let before: Vec<_> = pids.iter().map(|pid| cpu_micros(*pid)).collect();
    let started = Instant::now();
    let connections = connect_guests(addresses, args.guests, args.concurrency).await?;
    let elapsed = started.elapsed();
    let after: Vec<_> = pids.iter().map(|pid| cpu_micros(*pid)).collect();
    let cpu: u64 = before
        .iter()
        .zip(&after)
        .filter_map(|(before, after)| Some(after.as_ref()?.saturating_sub((*before)?)))
        .sum();
    let report = json!({
        "scenario": "handshake",
        "guests": connections.len(),
        "nodes": addresses.len(),
        "seconds": elapsed.as_secs_f64(),
        "guestsPerSecond": connections.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        "serverCpuMicrosPerGuest": (!pids.is_empty()).then(|| cpu as f64 / connections.len().max(1) as f64),
    });
    for connection in connections {
        connection.close().await;
    }
    Ok(report)
}
