//! `idle`: N connected, authenticated guests (optionally all paired), and what they cost the
//! servers in resident memory, read from /proc before and after.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;
use serde_json::{Value, json};

use crate::client::{Error, connect_guests};
use crate::pairs::pair_up;
use crate::resident_kib;

/// `idle`'s parameters.
#[derive(Debug, clap::Args)]
pub(crate) struct Idle {
    /// Guests to connect.
    #[arg(long, default_value_t = 1000)]
    guests: usize,
    /// Pair them all (two by two, each pair across nodes where there are several).
    #[arg(long)]
    paired: bool,
    /// Connections set up at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How long to wait once all are connected before reading memory, in seconds.
    #[arg(long, default_value_t = 3)]
    settle_seconds: u64,
}

pub(crate) async fn run(args: &Idle, addresses: &[String], pids: &[u32]) -> Result<Value, Error> {
    let before: Vec<_> = pids.iter().map(|pid| resident_kib(*pid)).collect();
    let started = Instant::now();
    let mut held = Vec::with_capacity(args.guests);
    if args.paired {
        let pairs = stream::iter(0..args.guests / 2)
            .map(|index| {
                let ada = &addresses[index % addresses.len()];
                let bob = &addresses[(index + 1) % addresses.len()];
                async move { pair_up(ada, bob, &format!("idle-{index}")).await }
            })
            .buffer_unordered(args.concurrency);
        let pairs: Vec<_> = pairs.collect().await;
        for pair in pairs {
            let (ada, bob) = pair?;
            held.extend([ada.connection, bob.connection].into_iter().flatten());
        }
    } else {
        held = connect_guests(addresses, args.guests, args.concurrency).await?;
    }
    let connected_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
    let after: Vec<_> = pids.iter().map(|pid| resident_kib(*pid)).collect();
    let per_node = held.len() as f64 / pids.len().max(1) as f64;
    let servers: Vec<_> = pids
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(pid, (before, after))| {
            let per_guest = before
                .zip(*after)
                .map(|(before, after)| after.saturating_sub(before) as f64 / per_node);
            json!({"pid": pid, "idleKiB": before, "connectedKiB": after, "kibPerGuest": per_guest})
        })
        .collect();
    let report = json!({
        "scenario": "idle",
        "guests": held.len(),
        "paired": args.paired,
        "nodes": addresses.len(),
        "connectSeconds": connected_in.as_secs_f64(),
        "servers": servers,
    });
    for connection in held {
        connection.close().await;
    }
    Ok(report)
}
