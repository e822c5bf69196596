//! Keeping abuse out of a chat between strangers, for
//! [Duet](https://github.com/duet-chat/duet): reports, bans with expiry, a content filter and
//! proof of work against scripted session creation.
//!
//! | piece | what it does |
//! |---|---|
//! | [`ModerationStore`] | reports (with distinct reporters counted in a window), bans of guests and client addresses with expiry, one-time claims, recent messages kept as evidence |
//! | [`MemoryModeration`] | the store for one node |
//! | `RedisModeration` | the store shared by a cluster (feature `redis`): a ban made on one node holds on all at once |
//! | [`AddressKey`] | client addresses as HMAC tags, so no store or log holds an address |
//! | [`ContentFilter`], [`WordList`] | refuses texts with listed words, after Unicode normalisation and case folding |
//! | [`ProofOfWork`] | ALTCHA-compatible challenges and constant-time verification |
//! | [`AutobanPolicy`] | when enough distinct reporters make a ban, and how long it lasts |
//!
//! Nothing here knows about Socket.IO or HTTP: the transport decides when to call it.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use duet_core::{GuestId, ReportId, RoomId, Clock};
//! use duet_moderation::{
//!     AddressKey, AutobanPolicy, MemoryModeration, ModerationStore, Report, ReportReason,
//! };
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = MemoryModeration::new();
//! let policy = AutobanPolicy::default(); // 3 distinct reporters within an hour: a day's ban
//! let address = AddressKey::new(b"server secret").tag("192.0.2.7".parse()?);
//! let troll = GuestId::random();
//!
//! for _ in 0..3 {
//!     let report = Report {
//!         id: ReportId::random(),
//!         created_at: store.clock().now(),
//!         reporter: GuestId::random(),
//!         reported: troll,
//!         room_id: RoomId::random(),
//!         reason: ReportReason::Spam,
//!         note: None,
//!         reported_address: Some(address.clone()),
//!         evidence: Vec::new(),
//!     };
//!     let reporters = store.record_report(&report, policy.window, policy.retention).await?;
//!     for ban in policy.bans_after(&report, reporters) {
//!         store.ban(&ban).await?;
//!     }
//! }
//! let ban = store.ban_of(Some(&troll), None).await?.expect("banned");
//! assert!(ban.expires_at > store.clock().now());
//! // Its address is banned too, for less time (addresses are shared).
//! let by_address = store.ban_of(None, Some(&address)).await?.expect("banned");
//! assert!(by_address.expires_at < ban.expires_at);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `redis` | `RedisModeration` (fred 10) |

mod address;
mod autoban;
mod error;
mod filter;
mod memory;
mod model;
pub mod pow;
#[cfg(feature = "redis")]
mod redis;
mod store;

pub use address::AddressKey;
pub use autoban::AutobanPolicy;
pub use error::ModerationError;
pub use filter::{ContentFilter, WordList};
pub use memory::MemoryModeration;
pub use model::{
    AddressTag, Ban, BanSource, BanTarget, ModerationCounts, Report, ReportPage, ReportQuery,
    ReportReason, SentMessage, UnknownReason,
};
pub use pow::{Challenge, PowError, ProofOfWork};
#[cfg(feature = "redis")]
pub use redis::{RedisModeration, RedisModerationConfig};
pub use store::ModerationStore;

/// A key for one `purpose` derived from a deployment's `secret` (HMAC-SHA-256 of the purpose
/// under the secret), so the JWT secret every node shares can key address tags and proof-of-work
/// signatures without being used for them directly.
///
/// ```
/// let tags = duet_moderation::derive_key(b"jwt secret", "address tags");
/// assert_ne!(tags, duet_moderation::derive_key(b"jwt secret", "proof of work"));
/// ```
pub fn derive_key(secret: &[u8], purpose: &str) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256>>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The digits of lower-case hex.
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes` (two digits each, by table: tags are made on every connection).
fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}
