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
//! use duet_matchmaker::{MatchConfig, MatchQueue, MemoryQueue};
//! use duet_presence_store::MemoryStore;
//! use duet_transport::{Chat, ChatSettings, Services, Settings};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let queue: Arc<dyn MatchQueue> = Arc::new(MemoryQueue::new(MatchConfig::default()));
//! let tokens = TokenService::new(&TokenService::random_secret())?;
//! let store = Arc::new(MemoryStore::new());
//! let services = Arc::new(Services::new(tokens, store, Settings::default()).with_queue(queue.clone()));
//! let (socket_layer, io) = ChatSettings::default().socket_io_builder().build_layer();
//! let (chat, ()) = Chat::attach(services.clone(), queue, ChatSettings::default(), &io);
//! let app: axum::Router = duet_transport::http::router(services.clone()).layer(socket_layer);
//! let _tasks = (services.spawn_maintenance(), chat.spawn_background());
//! # let _ = app;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Serve `app` with `axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())`
//! so the per-IP session budget sees client addresses, and add
//! [`OriginPatterns::layer`] for CORS.
//!
//! # How it works
//!
//! - [`Services`] holds what every request needs: the token service, the presence store, the
//!   match queue (for counts), settings and the per-IP session budget.
//! - [`Chat`] serves namespace `/`: a connect middleware checks the token (`connect_error` is
//!   exactly the protocol code), each socket joins `user:<guest id>`, and its events run one at a
//!   time in arrival order after the per-guest budget ([`KeyedBudget`], a token bucket).
//! - Every target is chosen by the server from the presence store; nothing a client sends names
//!   a room or a guest. All shared state lives in the store and the queue, so with the Redis
//!   backends and the Redis adapter (`cluster`, feature `redis`) any node can serve any guest.
//!
//! # Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `redis` | the Redis backends of the store and queue, and `cluster::redis_adapter` |

pub mod chat;
#[cfg(feature = "redis")]
pub mod cluster;
mod cors;
mod error;
pub mod http;
pub mod metrics;
mod rate_limit;
mod services;

pub use chat::{Chat, ChatSettings, EventError};
pub use cors::OriginPatterns;
pub use error::ApiError;
pub use rate_limit::KeyedBudget;
pub use services::{AdapterKind, ClusterStats, Readiness, Services, Settings};
