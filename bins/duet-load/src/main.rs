//! `duet-load`: drives running `duet-server` nodes the way real clients do, and reports what
//! happened as JSON: throughput, latency, delivery (lost, repeated, reordered) and the servers'
//! memory.
//!
//! Every scenario creates guest sessions over HTTP and opens one Socket.IO WebSocket per guest.
//! It is bounded in count and time and talks only to the addresses it is given. Give the
//! servers budgets large enough for a load test:
//!
//! ```text
//! DUET_RATE_LIMIT_MAX=1000000 DUET_SESSION_RATE_LIMIT_PER_MINUTE=1000000 cargo run --release -p duet-server &
//! cargo run --release -p duet-load -- --address 127.0.0.1:3000 --server-pid $! relay --pairs 200
//! cargo run --release -p duet-load -- --address 127.0.0.1:3001 --address 127.0.0.1:3002 burst --pairs 500
//! cargo run --release -p duet-load -- --address 127.0.0.1:3000 drops --pairs 50 --seconds 120
//! ```
//!
//! | scenario | what |
//! |---|---|
//! | `relay` | ack-paced messages, both guests of a pair on one node; msg/s and latency |
//! | `cross-node` | `relay` with every pair split over the first two nodes |
//! | `burst` | pairs split over the nodes, bursts without waiting for acks; loss, duplicates, order |
//! | `paced` | P pairs × R msg/s without waiting for acks; p50/p90/p99/max latency (HDR), loss |
//! | `drops` | steady chat while connections are cut every few seconds; delivery across resumes |
//! | `idle` | N connected guests, optionally paired; server memory per guest |
//! | `handshake` | sessions and connections as fast as they are taken; server CPU per guest |

mod client;
mod delivery;
mod pairs;
mod scenario;

use clap::{Parser, Subcommand};
use scenario::relay::Placement;

/// Load generator for duet-server.
#[derive(Debug, Parser)]
struct Args {
    /// A server's address (host:port); give it once per node. Pairs are spread over them, the
    /// two guests of a pair on different nodes where there are several.
    #[arg(long = "address", default_value = "127.0.0.1:3000")]
    addresses: Vec<String>,
    /// A server's process id, to report its memory and CPU from /proc (repeatable).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Spread connections to a loopback server over 127.0.0.1 to 127.0.0.N (each address has
    /// its own ports, and the server's per-IP limits see N clients).
    #[arg(long, default_value_t = 1)]
    source_addresses: u8,
    /// Give up (and fail) when a scenario takes longer than this, in seconds.
    #[arg(long, default_value_t = 600)]
    give_up_seconds: u64,
    /// Fail (after printing the report) unless every message arrived, once and in order: the
    /// smoke run of CI. Correctness only; no timing is judged.
    #[arg(long)]
    require_complete: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Ack-paced messages between pairs: throughput and latency.
    Relay(scenario::relay::Relay),
    /// `relay` with every pair split over the first two addresses: cross-node throughput.
    CrossNode(scenario::relay::Relay),
    /// Bursts without waiting for acks, pairs across nodes: loss, duplicates, order.
    Burst(scenario::burst::Burst),
    /// P pairs × R msg/s without waiting for acks: latency percentiles (HDR) and loss.
    Paced(scenario::paced::Paced),
    /// Steady chat while connections are cut under the guests: delivery across resumes.
    Drops(scenario::drops::Drops),
    /// N connected guests, optionally paired: server memory per guest.
    Idle(scenario::idle::Idle),
    /// Sessions and connections as fast as they are taken: rate and server CPU per guest.
    Handshake(scenario::handshake::Handshake),
}

/// Resident memory of process `pid` in KiB, from /proc.
pub(crate) fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) of process `pid` in microseconds, from /proc.
pub(crate) fn cpu_micros(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports these in USER_HZ, 100 per second on every common architecture.
    Some(ticks * 10_000)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    // Every socket is a file descriptor: take all the hard limit allows.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("duet-load: cannot raise the open-file limit: {error}");
    }
    client::spread_sources(args.source_addresses);
    let pids = &args.server_pids;
    let scenario = async {
        Ok::<_, String>(match &args.scenario {
            Scenario::Relay(relay) => {
                scenario::relay::run(relay, Placement::SameNode, &args.addresses, pids).await?
            }
            Scenario::CrossNode(relay) => {
                scenario::relay::run(relay, Placement::Split, &args.addresses, pids).await?
            }
            Scenario::Burst(burst) => scenario::burst::run(burst, &args.addresses).await?,
            Scenario::Paced(paced) => scenario::paced::run(paced, &args.addresses, pids).await?,
            Scenario::Drops(drops) => scenario::drops::run(drops, &args.addresses).await?,
            Scenario::Idle(idle) => scenario::idle::run(idle, &args.addresses, pids).await?,
            Scenario::Handshake(handshake) => {
                scenario::handshake::run(handshake, &args.addresses, pids).await?
            }
        })
    };
    let limit = std::time::Duration::from_secs(args.give_up_seconds);
    let report = tokio::time::timeout(limit, scenario)
        .await
        .map_err(|_| format!("gave up after {} s", args.give_up_seconds))??;
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    println!("{text}");
    if args.require_complete {
        incomplete(&report).map_or(Ok(()), Err)?;
    }
    Ok(())
}

/// Why a report's messages are not all there once and in order, if they are not.
fn incomplete(report: &serde_json::Value) -> Option<String> {
    let messages = &report["messages"];
    if !messages.is_object() {
        return Some("this scenario reports no message counts".to_owned());
    }
    let count = |field: &str| messages[field].as_u64().unwrap_or(u64::MAX);
    let faults: Vec<String> = [
        "lost",
        "duplicates",
        "out_of_order",
        "refused",
        "unconfirmed",
    ]
    .into_iter()
    .filter(|field| count(field) != 0)
    .map(|field| format!("{field} {}", count(field)))
    .collect();
    let (sent, delivered) = (count("sent"), count("delivered"));
    if faults.is_empty() && sent == delivered && sent > 0 {
        return None;
    }
    Some(format!(
        "incomplete delivery: {delivered} of {sent} delivered; {}",
        faults.join(", ")
    ))
}
