//! Who is online, where, and with whom, for [Duet](https://github.com/duet-chat/duet): three
//! stores, one per concern, each in memory or on Redis.
//!
//! | trait | holds |
//! |---|---|
//! | [`SessionStore`] | guest sessions with their expiry; implements [`duet_auth::SessionLookup`] |
//! | [`PresenceStore`] | which node and socket each live guest is connected to; node heartbeats |
//! | [`ChatStore`] | the current pair of each guest, recent partners, away marks, the numbered log of what was sent to each guest |
//!
//! | backend | when | built |
//! |---|---|---|
//! | [`MemoryStore`] | one node, no Redis | always |
//! | `RedisStore` | several nodes on one Redis | feature `redis` |
//!
//! Each backend implements all three traits, and each trait has its own behaviour suite
//! (`tests/sessions.rs`, `tests/presence.rs`, `tests/chats.rs`) that runs on both backends.
//! The traits are object safe, so a server picks the backend at start-up and keeps [`Stores`]:
//! one `Arc<dyn …>` per concern.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use duet_auth::{Session, Username};
//! use duet_core::{Clock, SystemClock};
//! use duet_presence_store::{Connection, NodeId, Pair, Stores};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let stores = Stores::memory();
//! let now = SystemClock.now();
//! let ada = Session::start(Username::parse("Ada")?, now, Duration::from_secs(7200));
//! let bob = Session::start(Username::parse("Bob")?, now, Duration::from_secs(7200));
//! stores.sessions.create_session(&ada).await?;
//! stores.sessions.create_session(&bob).await?;
//!
//! let node = NodeId::random();
//! stores.presence.heartbeat(&node, 1, Duration::from_secs(10)).await?;
//! let socket = Connection {
//!     guest_id: ada.guest.id,
//!     node_id: node.clone(),
//!     socket_id: "s1".into(),
//!     connected_at: now,
//!     username: "Ada".into(),
//!     session_expires_at: ada.expires_at(),
//!     address_tag: None,
//! };
//! stores.presence.register_connection(&socket).await?;
//!
//! let pair = Pair::new(ada.guest.id, bob.guest.id, now);
//! assert!(stores.chats.create_pair(&pair).await?);
//! assert_eq!(stores.chats.pair_of(&bob.guest.id).await?.map(|p| p.room_id), Some(pair.room_id));
//!
//! let stats = stores.stats().await?;
//! assert_eq!((stats.total_sessions, stats.online_guests, stats.active_rooms), (2, 1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # How it works
//!
//! Expiry is judged against the backend's [`duet_core::Clock`], so tests move time with a
//! [`duet_core::ManualClock`]. The memory backend keeps sessions in an expiry-ordered index
//! that a background task sweeps. The Redis backend gives every key a TTL and changes shared
//! state only in Lua scripts (`lua/*.lua`), each given every key it touches, so two nodes never
//! both claim the same expired session, dead node or ended pair, and a Redis Cluster routes
//! each script to the one slot its keys share (the key prefix must carry a hash tag there).
//!
//! # Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `redis` | `RedisStore` (build its client with `duet_core::redis::connect`) |

mod chats;
mod error;
mod kept;
mod memory;
mod model;
mod presence;
#[cfg(feature = "redis")]
mod redis;
mod sessions;
mod stores;

pub use chats::ChatStore;
pub use duet_core::{NodeId, RoomId};
pub use error::StoreError;
pub use kept::{KeepLimits, Kept, KeptEntry, LastSeen, Return};
pub use memory::{MemoryStore, MemoryStoreConfig};
pub use model::{
    BackendKind, Connection, DeadNode, ExpiredSession, LastChat, Pair, PresenceCounts,
    PresenceStats,
};
pub use presence::PresenceStore;
#[cfg(feature = "redis")]
pub use redis::{RedisStore, RedisStoreConfig};
pub use sessions::SessionStore;
pub use stores::Stores;

/// The fred crate the Redis backend is built on, so users name the same `Client` type.
#[cfg(feature = "redis")]
pub use duet_core::redis::fred;
