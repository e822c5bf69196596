//! `burst`: pairs split over the nodes given (Ada on the first, Bob on the next), each guest
//! sending bursts of messages without waiting for acks. Counts loss, duplicates and order.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::client::Error;
use crate::delivery::Tally;
use crate::pairs::{Side, all_in, pair_up, read_until};

/// `burst`'s parameters.
#[derive(Debug, clap::Args)]
pub(crate) struct Burst {
    /// Pairs of guests.
    #[arg(long, default_value_t = 500)]
    pairs: usize,
    /// Messages each guest sends at once, without waiting.
    #[arg(long, default_value_t = 50)]
    burst: usize,
    /// Bursts each guest sends, each after everything of the last one arrived (or the wait
    /// ran out).
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Characters of text per message.
    #[arg(long, default_value_t = 64)]
    text_chars: usize,
    /// Longest wait for what is missing after a burst, in seconds.
    #[arg(long, default_value_t = 15)]
    wait_seconds: u64,
}

pub(crate) async fn run(args: &Burst, addresses: &[String]) -> Result<Value, Error> {
    let started = Instant::now();
    let mut pairs = Vec::with_capacity(args.pairs);
    for index in 0..args.pairs {
        let ada = &addresses[index % addresses.len()];
        let bob = &addresses[(index + 1) % addresses.len()];
        pairs.push(pair_up(ada, bob, &format!("burst-{index}")).await?);
    }
    let set_up = started.elapsed();
    let text = "x".repeat(args.text_chars);
    let started = Instant::now();
    let tallies = join_all(
        pairs
            .into_iter()
            .map(|(ada, bob)| pair_bursts(ada, bob, args, &text)),
    )
    .await;
    let elapsed = started.elapsed();
    let mut tally = Tally::default();
    for pair in &tallies {
        tally.merge(pair);
    }
    Ok(json!({
        "scenario": "burst",
        "pairs": args.pairs,
        "nodes": addresses.len(),
        "burst": args.burst,
        "rounds": args.rounds,
        "setUpSeconds": set_up.as_secs_f64(),
        "seconds": elapsed.as_secs_f64(),
        "deliveredPerSecond": tally.delivered as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        "deliveredPercent": tally.delivered_percent(),
        "messages": tally,
    }))
}

async fn pair_bursts(mut ada: Side, mut bob: Side, args: &Burst, text: &str) -> Tally {
    for _ in 0..args.rounds {
        for side in [&mut ada, &mut bob] {
            for _ in 0..args.burst {
                if side.send_message(text).await.is_err() {
                    side.lose_connection();
                }
            }
        }
        let wait = Duration::from_secs(args.wait_seconds);
        read_until(&mut ada, &mut bob, wait, all_in).await;
    }
    let mut tally = Tally::default();
    tally.add(&ada.sent, &bob.received);
    tally.add(&bob.sent, &ada.received);
    for side in [ada, bob] {
        if let Some(connection) = side.connection {
            connection.close().await;
        }
    }
    tally
}
