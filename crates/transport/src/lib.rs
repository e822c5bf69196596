//! All of [Duet](https://github.com/duet-chat/duet) for an axum server: the HTTP API of
//! protocol.md §1 (guest sessions, stats, health, readiness, metrics) and the Socket.IO chat of
//! §2 (matching, messages and files, typing, WebRTC signaling, resume, limits), built on
//! socketioxide and composed from `duet-auth`, `duet-presence-store`, `duet-matchmaker` and
//! `duet-signaling`.
//!
//! # Example: Duet inside your own axum app
//!
//! ```
//! use std::sync::Arc;
//! use duet_auth::TokenService;
//! use duet_matchmaker::{MatchConfig, MemoryQueue};
//! use duet_presence_store::Stores;
//! use duet_transport::{Duet, Settings};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let tokens = TokenService::new(&TokenService::random_secret())?;
//! let queue = Arc::new(MemoryQueue::new(MatchConfig::default()));
//! let settings = Settings::default();
//! let (socket_layer, io) = settings.socket_io_builder().build_layer();
//! let (duet, ()) = Duet::builder(tokens, Stores::memory(), queue).settings(settings).build(&io);
//! let app: axum::Router = duet.router().layer(socket_layer);
//! let tasks = duet.spawn_tasks(); // keep it: dropping it stops the node's background work
//! # let _ = (app, tasks);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Serve `app` with `axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())`
//! so the per-IP session budget sees client addresses, and add [`OriginPatterns::layer`] for
//! CORS. `examples/embedded_chat.rs` runs exactly this beside routes of its own.
//!
//! # How it works
//!
//! - [`Duet`] is one node: tokens, the presence store, the match queue, settings, budgets and
//!   its `SocketIo`. Its HTTP routes ([`Duet::router`]) and its socket handlers are functions
//!   over that state, grouped by what they do: `session` (handshake, resume, replacement,
//!   disconnect), `matching` (match, cancel, announce, end a chat) and `relay` (messages,
//!   clear, typing, signals, the partner looked up once).
//! - Every event a socket sends is admitted to that socket's inbox while socketioxide reads it,
//!   after the per-guest budget ([`KeyedBudget`], a token bucket), and the inbox runs them one at
//!   a time in that order: a partner sees messages, typing and ICE candidates in the order they
//!   were sent. An idle socket has no task; its inbox ends with it.
//! - Each event is decoded once into a typed client event (shape, then size), applied in one
//!   `match`, and answered with its ack or `app:error`; each server event has its own payload
//!   type. Wire codes come from [`duet_core::ErrorCode`].
//! - Every target is chosen by the server from the presence store; nothing a client sends names
//!   a room or a guest. All shared state lives in the store and the queue, so with the Redis
//!   backends and the Redis adapter (`cluster`, feature `redis`) any node can serve any guest.
//!
//! # Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `redis` | `cluster::connect`: the Redis store, queue and Socket.IO adapter together |

mod admin;
mod backoff;
mod catch_up;
mod client_ip;
#[cfg(feature = "redis")]
pub mod cluster;
mod cors;
mod error;
mod event;
mod held;
pub mod http;
mod inbox;
mod loose;
mod matching;
pub mod metrics;
mod moderate;
mod node;
mod rate_limit;
mod relay;
mod reply;
mod restore;
pub mod serve;
mod session;
mod settings;

pub use client_ip::{DEFAULT_TRUSTED_PROXIES, TrustedProxies};
pub use cors::OriginPatterns;
pub use error::ApiError;
pub use event::{
    MAX_CLIENT_ID_CHARS, MAX_FILE_NAME_CHARS, MAX_FILE_TYPE_BYTES, MAX_REPORT_NOTE_CHARS,
    MAX_TEXT_CHARS,
};
pub use held::HELD_MESSAGES;
pub use moderate::{AdminToken, DEFAULT_REPORT_WINDOW, Moderation};
pub use node::{AdapterLink, ClusterStats, Duet, DuetBuilder, NodeTasks};
pub use rate_limit::KeyedBudget;
pub use reply::EventError;
pub use settings::{AdapterKind, Readiness, Settings};
