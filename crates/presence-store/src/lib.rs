//! Who is online, where, and with whom, for [Duet](https://github.com/duet-chat/duet).
//!
//! A [`PresenceStore`] holds everything the nodes of a Duet deployment must agree on about
//! guests: their sessions (with expiry), which node and socket each live guest is connected to,
//! which nodes are alive (heartbeats), the current pair of each guest, the partner each one just
//! left, and the cluster-wide counts `GET /api/stats` reports.
//!
//! | backend | when | built |
//! |---|---|---|
//! | [`MemoryStore`] | one node, no Redis | always |
//! | `RedisStore` | several nodes on one Redis | feature `redis` |
//!
//! Both pass the same behaviour suite (`tests/behaviour.rs`). The trait is object safe, so a
//! server can pick the backend at start-up and keep an `Arc<dyn PresenceStore>`; it also
//! implements [`duet_auth::SessionLookup`], so a token check consults the store.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use duet_auth::{Session, Username};
//! use duet_presence_store::{Connection, MemoryStore, NodeId, Pair, PresenceStore};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let store: Arc<dyn PresenceStore> = Arc::new(MemoryStore::new());
//! let now = store.clock().now();
//! let ada = Session::start(Username::parse("Ada")?, now, Duration::from_secs(7200));
//! let bob = Session::start(Username::parse("Bob")?, now, Duration::from_secs(7200));
//! store.create_session(&ada).await?;
//! store.create_session(&bob).await?;
//!
//! let node = NodeId::random();
//! store.heartbeat(&node, 1, Duration::from_secs(10)).await?;
//! let socket = Connection {
//!     guest_id: ada.guest.id,
//!     node_id: node.clone(),
//!     socket_id: "s1".into(),
//!     connected_at: now,
//!     username: "Ada".into(),
//!     session_expires_at: ada.expires_at(),
//! };
//! store.register_connection(&socket).await?;
//!
//! let pair = Pair::new(ada.guest.id, bob.guest.id, now);
//! assert!(store.create_pair(&pair).await?);
//! assert_eq!(store.pair_of(&bob.guest.id).await?.map(|p| p.room_id), Some(pair.room_id));
//!
//! let stats = store.stats().await?;
//! assert_eq!((stats.total_sessions, stats.online_guests, stats.active_rooms), (2, 1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # How it works
//!
//! Expiry is judged against the store's [`duet_core::Clock`], so tests move time with a
//! [`duet_core::ManualClock`]. The memory backend keeps sessions in an expiry-ordered index
//! that a background task sweeps; the Redis backend gives every key a TTL and changes shared
//! state only in Lua scripts, so two nodes never both claim the same expired session, dead node
//! or ended pair.
//!
//! # Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `redis` | `RedisStore` (build its client with `duet_core::redis::connect`) |

mod error;
mod memory;
mod model;
#[cfg(feature = "redis")]
mod redis;
mod store;

pub use duet_core::{NodeId, RoomId};
pub use error::StoreError;
pub use memory::{MemoryStore, MemoryStoreConfig};
pub use model::{BackendKind, Connection, DeadNode, ExpiredSession, Pair, PresenceStats};
#[cfg(feature = "redis")]
pub use redis::{RedisStore, RedisStoreConfig};

/// The fred crate this store is built on, so users name the same `Client` type.
#[cfg(feature = "redis")]
pub use fred;
pub use store::PresenceStore;
