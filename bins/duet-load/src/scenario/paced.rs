//! `paced`: P pairs, each sending R messages a second (its two guests in turn) for S seconds,
//! never waiting for acks, pairs split over the nodes given. Latency from send to the partner's
//! receipt goes into an HDR histogram (p50, p90, p99, max); loss, duplicates and order are
//! counted as in `burst`.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::client::Error;
use crate::delivery::Tally;
use crate::pairs::{Side, all_in, finish_pair, next_of, pair_up, read_until, summarize};
use crate::resident_kib;

/// `paced`'s parameters.
#[derive(Debug, clap::Args)]
pub(crate) struct Paced {
    /// Pairs of guests.
    #[arg(long, default_value_t = 1000)]
    pairs: usize,
    /// Messages each pair sends a second.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// How long each pair sends, in seconds.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Characters of text per message.
    #[arg(long, default_value_t = 64)]
    text_chars: usize,
    /// Longest wait for what is missing once sending stopped, in seconds.
    #[arg(long, default_value_t = 15)]
    wait_seconds: u64,
}

pub(crate) async fn run(args: &Paced, addresses: &[String], pids: &[u32]) -> Result<Value, Error> {
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        return Err("--rate must be above 0".to_owned());
    }
    let started = Instant::now();
    let mut pairs = Vec::with_capacity(args.pairs);
    for index in 0..args.pairs {
        let ada = &addresses[index % addresses.len()];
        let bob = &addresses[(index + 1) % addresses.len()];
        pairs.push(pair_up(ada, bob, &format!("paced-{index}")).await?);
    }
    let set_up = started.elapsed();
    let connected: Vec<_> = pids.iter().map(|pid| resident_kib(*pid)).collect();
    let text = "x".repeat(args.text_chars);
    let started = Instant::now();
    let results = join_all(
        pairs
            .into_iter()
            .map(|(ada, bob)| pair_paced(ada, bob, args, &text)),
    )
    .await;
    let elapsed = started.elapsed();
    let (tally, latency) = summarize(&results)?;
    Ok(json!({
        "scenario": "paced",
        "pairs": args.pairs,
        "nodes": addresses.len(),
        "ratePerPair": args.rate,
        "offeredPerSecond": args.rate * args.pairs as f64,
        "sendSeconds": args.seconds,
        "setUpSeconds": set_up.as_secs_f64(),
        "seconds": elapsed.as_secs_f64(),
        "deliveredPercent": tally.delivered_percent(),
        "latencyMs": latency,
        "messages": tally,
        "serverRssKiB": pids.iter().zip(&connected).map(|(pid, connected)| json!({
            "pid": pid, "connected": connected, "after": resident_kib(*pid),
        })).collect::<Vec<_>>(),
    }))
}

/// What the pair's loop waits for next.
enum Next {
    Send,
    Ada(Option<crate::client::Incoming>),
    Bob(Option<crate::client::Incoming>),
}

async fn pair_paced(mut ada: Side, mut bob: Side, args: &Paced, text: &str) -> (Tally, Vec<u64>) {
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    // Pairs start at random points of their interval, so the load is spread, not in waves.
    tokio::time::sleep(interval.mul_f64(rand::random::<f64>())).await;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + Duration::from_secs(args.seconds);
    let mut bobs_turn = false;
    loop {
        let next = tokio::select! {
            _ = ticker.tick() => Next::Send,
            incoming = next_of(ada.connection.as_mut()) => Next::Ada(incoming),
            incoming = next_of(bob.connection.as_mut()) => Next::Bob(incoming),
        };
        match next {
            Next::Send if Instant::now() >= end => break,
            Next::Send => {
                let side = if bobs_turn { &mut bob } else { &mut ada };
                bobs_turn = !bobs_turn;
                if side.send_message(text).await.is_err() {
                    side.lose_connection();
                }
            }
            Next::Ada(Some(incoming)) => ada.handle(incoming),
            Next::Bob(Some(incoming)) => bob.handle(incoming),
            Next::Ada(None) => ada.lose_connection(),
            Next::Bob(None) => bob.lose_connection(),
        }
    }
    read_until(
        &mut ada,
        &mut bob,
        Duration::from_secs(args.wait_seconds),
        all_in,
    )
    .await;
    finish_pair(ada, bob).await
}
