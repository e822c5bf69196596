//! The small vocabulary every [Duet](https://github.com/duet-chat/duet) crate shares, and
//! nothing else: ids, time, and the wire error codes.
//!
//! - [`GuestId`], [`SessionId`], [`RoomId`]: opaque UUIDs (clients must not parse them);
//!   [`NodeId`]: an operator-chosen or random node name.
//! - [`Timestamp`]: milliseconds since the epoch, RFC 3339 on the wire; [`Clock`] reads it,
//!   [`ManualClock`] lets tests move time without sleeping.
//! - [`ErrorCode`]: every code of protocol.md, each string written once.
//! - `redis` (feature): the fred client builder that every Redis backend uses.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use duet_core::{Clock, ErrorCode, GuestId, ManualClock, Timestamp};
//!
//! let clock = ManualClock::starting_at(Timestamp::from_unix_millis(1_764_340_695_123));
//! let expires = clock.now().saturating_add(Duration::from_secs(60));
//! clock.advance(Duration::from_secs(61));
//! assert!(clock.now() > expires);
//! assert_eq!(expires.to_string(), "2025-11-28T14:39:15.123Z");
//!
//! let guest = GuestId::random();
//! assert_eq!(guest.to_string().parse::<GuestId>().ok(), Some(guest));
//! assert_eq!(ErrorCode::NotInChat.as_str(), "NOT_IN_CHAT");
//! ```
//!
//! # Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `redis` | `redis::client_builder`, `redis::connect` and the `fred` re-export |

mod clock;
mod error_code;
mod ids;
#[cfg(feature = "redis")]
pub mod redis;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error_code::ErrorCode;
pub use ids::{BanId, GuestId, NodeId, ReportId, RoomId, SessionId};
