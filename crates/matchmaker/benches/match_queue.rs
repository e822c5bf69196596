//! How fast is the pairing queue?
//!
//! - `match_queue/enqueue_pair/*`: one guest waits, a second one pairs with it, in a queue that
//!   already holds 1 K or 100 K waiting guests; with interests (1 000 distinct, 3 per guest) or
//!   without. One iteration is one pair; the `Waitlist` is driven directly, on one core.
//! - `match_queue/join_and_cancel/100k_waiting`: a guest joins and cancels.
//! - `memory_queue/enqueue_pair/100k_waiting`: the same through `MemoryQueue` (mutex, async).
//! - `redis_queue/enqueue_pair/64_concurrent[/100k_waiting]`: pairs per second on a real Redis
//!   from one node, 64 tasks in flight, in an empty queue or beside 100 K waiting guests (needs
//!   `DUET_TEST_REDIS_URL` or a Redis on 127.0.0.1:6379; the benchmark's keys are removed after).

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use duet_core::{GuestId, ManualClock, Timestamp};
use duet_matchmaker::{
    Interests, MatchConfig, MatchQueue, MemoryQueue, RedisQueue, RedisQueueConfig, Ticket, Waitlist,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DISTINCT_INTERESTS: usize = 1000;

fn topic(i: usize) -> String {
    format!("topic-{i}")
}

/// A waiting guest that no stream guest can pair with (its only interest is its own).
fn backlog_ticket(j: usize) -> Ticket {
    let solo = format!("solo-{j}");
    Ticket::new(
        GuestId::random(),
        Interests::parse([solo]).unwrap_or_default(),
    )
}

/// A guest that waits and one that shares its first interest: exactly one pair.
fn stream_pair(rng: &mut StdRng, with_interests: bool) -> (Ticket, Ticket) {
    if !with_interests {
        return (
            Ticket::new(GuestId::random(), Interests::none()),
            Ticket::new(GuestId::random(), Interests::none()),
        );
    }
    let mut pick = || topic(rng.random_range(0..DISTINCT_INTERESTS));
    let first = [pick(), pick(), pick()];
    let second = [first[0].clone(), pick(), pick()];
    (
        Ticket::new(
            GuestId::random(),
            Interests::parse(first).unwrap_or_default(),
        ),
        Ticket::new(
            GuestId::random(),
            Interests::parse(second).unwrap_or_default(),
        ),
    )
}

fn waitlist_with_backlog(waiting: usize, now: Timestamp) -> Waitlist {
    let mut waitlist = Waitlist::new(&MatchConfig::default());
    for j in 0..waiting {
        waitlist.enqueue(backlog_ticket(j), now);
    }
    waitlist
}

fn waitlist_benches(c: &mut Criterion) {
    let now = Timestamp::from_unix_millis(1_000_000);
    let mut group = c.benchmark_group("match_queue");
    group.throughput(Throughput::Elements(1));
    for (waiting, label) in [(1_000, "1k_waiting"), (100_000, "100k_waiting")] {
        for with_interests in [true, false] {
            let name = format!(
                "enqueue_pair/{label}/{}",
                if with_interests {
                    "3_of_1000_interests"
                } else {
                    "no_interests"
                }
            );
            let mut waitlist = waitlist_with_backlog(waiting, now);
            let mut rng = StdRng::seed_from_u64(7);
            group.bench_function(name, |b| {
                // Tickets are made before the clock starts and pairings dropped after it stops:
                // parsing a payload and serializing the answer are the transport's work.
                b.iter_batched(
                    || stream_pair(&mut rng, with_interests),
                    |(first, second)| {
                        let waited = waitlist.enqueue(first, now);
                        (waited, waitlist.enqueue(second, now))
                    },
                    BatchSize::SmallInput,
                );
            });
        }
    }
    let mut waitlist = waitlist_with_backlog(100_000, now);
    let mut rng = StdRng::seed_from_u64(11);
    group.bench_function("join_and_cancel/100k_waiting", |b| {
        b.iter_batched(
            || stream_pair(&mut rng, true).0,
            |ticket| {
                let guest = ticket.guest;
                waitlist.enqueue(ticket, now);
                waitlist.cancel(&guest)
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn memory_queue_benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new();
    let queue = MemoryQueue::with_clock(MatchConfig::default(), Arc::new(clock));
    runtime.block_on(async {
        for j in 0..100_000 {
            let _ = queue.enqueue(backlog_ticket(j)).await;
        }
    });
    let mut rng = StdRng::seed_from_u64(13);
    let mut group = c.benchmark_group("memory_queue");
    group.throughput(Throughput::Elements(1));
    group.bench_function("enqueue_pair/100k_waiting/3_of_1000_interests", |b| {
        b.iter_batched(
            || stream_pair(&mut rng, true),
            |(first, second)| {
                runtime.block_on(async {
                    let _ = queue.enqueue(first).await;
                    queue.enqueue(second).await
                })
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn redis_url() -> Option<String> {
    std::env::var("DUET_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| Some("redis://127.0.0.1:6379".to_owned()))
}

/// Pairs in flight at once on the Redis queue, as on a busy node.
const IN_FLIGHT: usize = 64;

fn redis_benches(c: &mut Criterion) {
    let Some(url) = redis_url() else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let Ok(client) = runtime.block_on(duet_core::redis::connect(&url)) else {
        eprintln!("redis_queue benches SKIPPED: no Redis at {url}");
        return;
    };
    let mut group = c.benchmark_group("redis_queue");
    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    group.measurement_time(Duration::from_secs(10));
    for waiting in [0, 100_000] {
        let prefix = format!("duet-bench:{}:{waiting}:", std::process::id());
        let queue = match RedisQueue::new(
            client.clone(),
            MatchConfig::default(),
            RedisQueueConfig::default().with_key_prefix(prefix.clone()),
        ) {
            Ok(queue) => Arc::new(queue),
            Err(error) => {
                eprintln!("SKIPPED the Redis queue benchmark: {error}");
                return;
            }
        };
        runtime.block_on(fill_backlog(&queue, waiting));
        let name = match waiting {
            0 => "enqueue_pair/64_concurrent/3_of_1000_interests".to_owned(),
            n => format!(
                "enqueue_pair/64_concurrent/{}k_waiting/3_of_1000_interests",
                n / 1000
            ),
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| runtime.block_on(pairs_in_flight(&queue, iterations)));
        });
        drop(queue);
        // The backlog would otherwise stay in Redis: its sorted sets carry no TTL.
        if let Err(error) = duet_test_support::remove_redis_keys(&url, &prefix) {
            eprintln!("could not remove the benchmark's keys under {prefix}: {error}");
        }
    }
    group.finish();
}

/// Makes `waiting` guests wait, each with an interest of its own, 64 enqueues at a time.
async fn fill_backlog(queue: &Arc<RedisQueue>, waiting: usize) {
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|task| {
            let queue = Arc::clone(queue);
            tokio::spawn(async move {
                for j in (task..waiting).step_by(IN_FLIGHT) {
                    if let Err(error) = queue.enqueue(backlog_ticket(j)).await {
                        panic!("filling the backlog: {error}");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

/// One iteration is one pair for each of the 64 tasks. Every task works through its own pairs
/// one after the other, so 64 stay in flight until the end, as on a busy node; waiting for all
/// 64 after every pair would leave Redis idle at each round's end.
async fn pairs_in_flight(queue: &Arc<RedisQueue>, iterations: u64) -> Duration {
    let mut rng = StdRng::seed_from_u64(iterations);
    let workloads: Vec<Vec<(Ticket, Ticket)>> = (0..IN_FLIGHT)
        .map(|_| {
            (0..iterations)
                .map(|_| stream_pair(&mut rng, true))
                .collect()
        })
        .collect();
    let start = Instant::now();
    let tasks: Vec<_> = workloads
        .into_iter()
        .map(|pairs| {
            let queue = Arc::clone(queue);
            tokio::spawn(async move {
                for (first, second) in pairs {
                    let _ = queue.enqueue(first).await;
                    let _ = queue.enqueue(second).await;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    // A guest sometimes pairs with another task's guest and leaves one waiting; a later guest
    // sharing an interest takes it. The queue stays near its starting size either way, so every
    // iteration measures the same thing.
    start.elapsed()
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = waitlist_benches, memory_queue_benches, redis_benches
}
criterion_main!(benches);
