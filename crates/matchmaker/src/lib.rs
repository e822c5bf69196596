//! The random pairing queue of [Duet](https://github.com/duet-chat/duet): who talks to whom.
//!
//! Guests wait in a [`MatchQueue`] with optional [`Interests`]. Two guests who share an interest
//! are paired first; a guest with interests who finds nobody within the interest wait is paired
//! at random; the longest-waiting candidate is always served first and becomes the initiator;
//! two guests who just parted are not paired again while anyone else waits; two guests kept
//! apart ([`MatchQueue::keep_apart`]: one blocked or reported the other) are never paired while
//! it holds.
//!
//! | queue | when | built |
//! |---|---|---|
//! | [`MemoryQueue`] | one node | always |
//! | `RedisQueue` | several nodes on one Redis (atomic Lua scripts) | feature `redis` |
//!
//! Both pass the same behaviour suite (`tests/behaviour.rs`), including concurrent stress tests
//! and property tests.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use duet_core::GuestId;
//! use duet_matchmaker::{Enqueued, Interests, MatchConfig, MatchQueue, MemoryQueue, Ticket};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let queue = MemoryQueue::new(MatchConfig::default().with_interest_wait(Duration::from_secs(10)));
//! let (ada, bob) = (GuestId::random(), GuestId::random());
//!
//! let first = queue.enqueue(Ticket::new(ada, Interests::parse(["Rust", "jazz"])?)).await?;
//! assert_eq!(first, Enqueued::Waiting);
//!
//! let Enqueued::Paired(pair) = queue.enqueue(Ticket::new(bob, Interests::parse(["rust"])?)).await?
//! else { panic!("bob shares an interest with ada") };
//! assert_eq!(pair.initiator.guest, ada); // ada waited longer
//! assert_eq!(pair.common_interests, [std::sync::Arc::from("rust")]);
//! assert_eq!(queue.waiting_count().await?, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Pairs that form later, when an interest wait ends, come from [`MatchQueue::run_due`];
//! [`spawn_matcher`] calls it on a timer and sends them to a channel.
//!
//! # How it works
//!
//! The memory queue is a [`Waitlist`]: a FIFO line per interest, two random-pairing lines and a
//! FIFO of wait deadlines, all in wait order, so finding the longest-waiting candidate looks at
//! the front of a few lines. Removed guests leave tombstones, compacted once they are half of a
//! line. The Redis queue keeps the same shapes as sorted sets scored by wait order and changes
//! them only inside Lua scripts; the enqueues a node receives while its script calls are in
//! flight travel together in the next call.
//!
//! # Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `redis` | `RedisQueue` (fred 10) |

mod error;
mod interests;
mod matcher;
mod memory;
mod model;
mod queue;
#[cfg(feature = "redis")]
mod redis;
mod waitlist;

pub use error::QueueError;
pub use interests::{Interests, InterestsError, MAX_INTEREST_CHARS, MAX_INTERESTS};
pub use matcher::spawn_matcher;
pub use memory::MemoryQueue;
pub use model::{DueWork, Enqueued, MatchConfig, Pairing, Ticket, Waiter};
pub use queue::MatchQueue;
#[cfg(feature = "redis")]
pub use redis::{RedisQueue, RedisQueueConfig};
pub use waitlist::Waitlist;
