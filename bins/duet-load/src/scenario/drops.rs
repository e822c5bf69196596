//! `drops`: pairs chatting at a steady rate while each guest's connection is cut under it
//! every few seconds (a reset, no goodbye), reconnecting at once with `auth.lastSeen` (or,
//! with `--no-last-seen`, as a client that names nothing). Counts what the senders were told
//! against what arrived.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use rand::Rng;
use serde_json::{Value, json};
use tokio::time::{Instant as Deadline, sleep_until};

use crate::client::Error;
use crate::delivery::Tally;
use crate::pairs::{Side, all_in, next_of, pair_up, read_until};

/// `drops`'s parameters.
#[derive(Debug, clap::Args)]
pub(crate) struct Drops {
    /// Pairs of guests.
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// How long they chat, in seconds.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// Messages each guest sends per second.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Shortest time between two cuts of one guest's connection, in seconds.
    #[arg(long, default_value_t = 5.0)]
    cut_min_seconds: f64,
    /// Longest time between two cuts, in seconds.
    #[arg(long, default_value_t = 15.0)]
    cut_max_seconds: f64,
    /// How long a cut guest stays away before reconnecting, in milliseconds.
    #[arg(long, default_value_t = 200)]
    away_ms: u64,
    /// Reconnect without `auth.lastSeen` (Socket.IO's own at-most-once delivery).
    #[arg(long)]
    no_last_seen: bool,
    /// How a connection is cut: `silent` abandons it as a network that vanished does (the
    /// server keeps writing into it until it finds out), `reset` closes it at once.
    #[arg(long, value_enum, default_value_t = Cut::Silent)]
    cut: Cut,
}

/// See [`Drops::cut`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Cut {
    Silent,
    Reset,
}

pub(crate) async fn run(args: &Drops, addresses: &[String]) -> Result<Value, Error> {
    let mut pairs = Vec::with_capacity(args.pairs);
    for index in 0..args.pairs {
        let ada = &addresses[index % addresses.len()];
        let bob = &addresses[(index + 1) % addresses.len()];
        pairs.push(pair_up(ada, bob, &format!("drops-{index}")).await?);
    }
    let started = Instant::now();
    let results = join_all(
        pairs
            .into_iter()
            .map(|(ada, bob)| chat_with_drops(ada, bob, args)),
    )
    .await;
    let mut tally = Tally::default();
    let (mut cuts, mut resumed, mut ended) = (0, 0, 0);
    for (pair, pair_cuts, pair_resumed, pair_ended) in &results {
        tally.merge(pair);
        cuts += pair_cuts;
        resumed += pair_resumed;
        ended += pair_ended;
    }
    Ok(json!({
        "scenario": "drops",
        "pairs": args.pairs,
        "nodes": addresses.len(),
        "lastSeen": !args.no_last_seen,
        "cut": format!("{:?}", args.cut).to_lowercase(),
        "seconds": started.elapsed().as_secs_f64(),
        "cuts": cuts,
        "resumed": resumed,
        "chatsEnded": ended,
        "deliveredPercent": tally.delivered_percent(),
        "messages": tally,
    }))
}

fn next_cut(args: &Drops) -> Deadline {
    let seconds = rand::rng()
        .random_range(args.cut_min_seconds..=args.cut_max_seconds.max(args.cut_min_seconds));
    Deadline::now() + Duration::from_secs_f64(seconds)
}

/// One guest's timers.
struct Timers {
    send: Deadline,
    cut: Deadline,
    reconnect: Option<Deadline>,
}

async fn chat_with_drops(mut ada: Side, mut bob: Side, args: &Drops) -> (Tally, u64, u64, u64) {
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    let end = Deadline::now() + Duration::from_secs(args.seconds);
    // Spread the first sends and cuts so that pairs do not move in step.
    let first = || Deadline::now() + interval.mul_f64(rand::rng().random_range(0.0..1.0));
    let mut timers = [
        Timers {
            send: first(),
            cut: next_cut(args),
            reconnect: None,
        },
        Timers {
            send: first(),
            cut: next_cut(args),
            reconnect: None,
        },
    ];
    let mut cuts = 0;
    // Silently cut connections, never read again, closed at the end.
    let mut abandoned = Vec::new();
    while Deadline::now() < end {
        let soonest = timers
            .iter()
            .flat_map(|t| [Some(t.send), Some(t.cut), t.reconnect])
            .flatten()
            .min()
            .unwrap_or(end)
            .min(end);
        tokio::select! {
            incoming = next_of(ada.connection.as_mut()) => match incoming {
                Some(incoming) => ada.handle(incoming),
                None => { ada.lose_connection(); timers[0].reconnect = Some(Deadline::now()); }
            },
            incoming = next_of(bob.connection.as_mut()) => match incoming {
                Some(incoming) => bob.handle(incoming),
                None => { bob.lose_connection(); timers[1].reconnect = Some(Deadline::now()); }
            },
            () = sleep_until(soonest) => {
                let now = Deadline::now();
                for (side, timer) in [&mut ada, &mut bob].into_iter().zip(timers.iter_mut()) {
                    if timer.reconnect.is_some_and(|at| at <= now) {
                        timer.reconnect = None;
                        if side.reconnect(!args.no_last_seen).await.is_err() {
                            timer.reconnect = Some(now + Duration::from_millis(args.away_ms));
                        }
                    }
                    if timer.cut <= now {
                        timer.cut = next_cut(args);
                        if side.connection.is_some() {
                            match args.cut {
                                Cut::Silent => {
                                    side.sent.connection_lost();
                                    abandoned.extend(side.connection.take());
                                }
                                Cut::Reset => side.lose_connection(),
                            }
                            cuts += 1;
                            timer.reconnect = Some(now + Duration::from_millis(args.away_ms));
                        }
                    }
                    if timer.send <= now {
                        timer.send += interval;
                        if side.send_message("steady").await.is_err() {
                            side.lose_connection();
                            timer.reconnect = Some(now + Duration::from_millis(args.away_ms));
                        }
                    }
                }
            }
        }
    }
    // The last cut guests come back, then whatever is still on its way arrives.
    for side in [&mut ada, &mut bob] {
        if side.connection.is_none() {
            let _ = side.reconnect(!args.no_last_seen).await;
        }
    }
    read_until(&mut ada, &mut bob, Duration::from_secs(5), all_in).await;
    let mut tally = Tally::default();
    tally.add(&ada.sent, &bob.received);
    tally.add(&bob.sent, &ada.received);
    let resumed = ada.resumed + bob.resumed;
    let ended = u64::from(ada.ended) + u64::from(bob.ended);
    for side in [ada, bob] {
        if let Some(connection) = side.connection {
            connection.close().await;
        }
    }
    drop(abandoned);
    (tally, cuts, resumed, ended)
}
