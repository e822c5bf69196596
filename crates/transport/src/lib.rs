//! The HTTP API of [Duet](https://github.com/duet-chat/duet) for an axum server: guest
//! sessions, stats, health, readiness and metrics, with CORS and per-IP limits.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use duet_auth::TokenService;
//! use duet_presence_store::MemoryStore;
//! use duet_transport::{Services, Settings, http};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let tokens = TokenService::new(&TokenService::random_secret())?;
//! let services = Arc::new(Services::new(tokens, Arc::new(MemoryStore::new()), Settings::default()));
//! let app: axum::Router = http::router(services.clone())
//!     .layer(duet_transport::OriginPatterns::parse("http://localhost:3000").layer());
//! let _maintenance = services.spawn_maintenance();
//! # let _ = app;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Serve `app` with `axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())`
//! so the per-IP session budget sees client addresses.

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
