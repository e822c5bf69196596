//! `relay` and `cross-node`: every guest sends its messages one at a time, each after the ack of
//! the last, and counts what its partner sends; latency is measured from send to the partner's
//! receipt (one process, one clock). In `relay` both guests of a pair are on the same node; in
//! `cross-node` every pair is split over the first two addresses, so each message crosses the
//! cluster.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::client::{Error, Incoming};
use crate::delivery::Tally;
use crate::pairs::{Side, finish_pair, next_of, pair_up, summarize};
use crate::{cpu_micros, resident_kib};

/// `relay`'s and `cross-node`'s parameters.
#[derive(Debug, clap::Args)]
pub(crate) struct Relay {
    /// Pairs of guests.
    #[arg(long, default_value_t = 100)]
    pairs: usize,
    /// Messages each guest sends.
    #[arg(long, default_value_t = 100)]
    messages: u64,
    /// Characters of text per message.
    #[arg(long, default_value_t = 64)]
    text_chars: usize,
    /// Longest wait for the next frame of a pair before it counts as stuck, in seconds.
    #[arg(long, default_value_t = 10)]
    stall_seconds: u64,
}

/// Where the two guests of a pair connect.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Placement {
    /// Both on one node (pairs spread over the nodes given).
    SameNode,
    /// Ada on the first address, Bob on the second.
    Split,
}

pub(crate) async fn run(
    args: &Relay,
    placement: Placement,
    addresses: &[String],
    pids: &[u32],
) -> Result<Value, Error> {
    if matches!(placement, Placement::Split) && addresses.len() < 2 {
        return Err("cross-node needs two --address".to_owned());
    }
    let before: Vec<_> = pids.iter().map(|pid| resident_kib(*pid)).collect();
    let connect_started = Instant::now();
    let mut pairs = Vec::with_capacity(args.pairs);
    for index in 0..args.pairs {
        let (ada, bob) = match placement {
            Placement::SameNode => {
                let node = &addresses[index % addresses.len()];
                (node, node)
            }
            Placement::Split => (&addresses[0], &addresses[1]),
        };
        pairs.push(pair_up(ada, bob, &format!("relay-{index}")).await?);
    }
    let connected_in = connect_started.elapsed();
    let connected: Vec<_> = pids.iter().map(|pid| resident_kib(*pid)).collect();
    let text = "x".repeat(args.text_chars);
    let cpu_before: Vec<_> = pids.iter().map(|pid| cpu_micros(*pid)).collect();
    let own_cpu_before = cpu_micros(std::process::id());
    let started = Instant::now();
    let results = join_all(
        pairs
            .into_iter()
            .map(|(ada, bob)| exchange(ada, bob, args, &text)),
    )
    .await;
    let elapsed = started.elapsed();
    let server_cpu: u64 = pids
        .iter()
        .zip(&cpu_before)
        .filter_map(|(pid, before)| Some(cpu_micros(*pid)?.saturating_sub((*before)?)))
        .sum();
    let own_cpu = cpu_micros(std::process::id())
        .zip(own_cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let (tally, latency) = summarize(&results)?;
    Ok(json!({
        "scenario": match placement { Placement::SameNode => "relay", Placement::Split => "cross-node" },
        "pairs": args.pairs,
        "guests": args.pairs * 2,
        "nodes": addresses.len(),
        "connectSeconds": connected_in.as_secs_f64(),
        "seconds": elapsed.as_secs_f64(),
        "messagesPerSecond": tally.delivered as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        "latencyMs": latency,
        "serverCpuMicrosPerMessage": (!pids.is_empty()).then(|| server_cpu as f64 / tally.delivered.max(1) as f64),
        "loadCpuMicrosPerMessage": own_cpu.map(|cpu| cpu as f64 / tally.delivered.max(1) as f64),
        "messages": tally,
        "serverRssKiB": pids.iter().zip(before.iter().zip(&connected)).map(|(pid, (before, connected))| json!({
            "pid": pid, "idle": before, "connected": connected,
        })).collect::<Vec<_>>(),
    }))
}

/// One pair: each guest sends its next message as soon as the last one's ack is in, until both
/// have sent theirs, had every ack and received everything of the other's. A pair on which
/// nothing arrives for `stall_seconds` stops there, and what is missing counts as lost.
async fn exchange(mut ada: Side, mut bob: Side, args: &Relay, text: &str) -> (Tally, Vec<u64>) {
    let stall = Duration::from_secs(args.stall_seconds);
    for side in [&mut ada, &mut bob] {
        if args.messages > 0 && side.send_message(text).await.is_err() {
            side.lose_connection();
        }
    }
    let done = |ada: &Side, bob: &Side| {
        [(ada, bob), (bob, ada)].iter().all(|(side, other)| {
            side.sent.count() == args.messages
                && side.sent.waiting() == 0
                && other.received.count() as u64 >= args.messages
        })
    };
    while !done(&ada, &bob) {
        let (side, incoming) = tokio::select! {
            incoming = next_of(ada.connection.as_mut()) => (&mut ada, incoming),
            incoming = next_of(bob.connection.as_mut()) => (&mut bob, incoming),
            () = tokio::time::sleep(stall) => break,
        };
        let Some(incoming) = incoming else {
            side.lose_connection();
            continue;
        };
        let acked = matches!(incoming, Incoming::Ack(..));
        side.handle(incoming);
        let next_due = acked && side.sent.waiting() == 0 && side.sent.count() < args.messages;
        if next_due && side.send_message(text).await.is_err() {
            side.lose_connection();
        }
    }
    finish_pair(ada, bob).await
}
