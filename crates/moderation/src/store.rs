//! [`ModerationStore`]: reports, bans, one-time claims and the evidence of recent messages.

use std::time::Duration;

use async_trait::async_trait;
use duet_core::{BanId, Clock, GuestId, RoomId, Timestamp};

use crate::error::ModerationError;
use crate::model::{
    AddressTag, Ban, BanTarget, ModerationCounts, Report, ReportPage, ReportQuery, SentMessage,
};

/// Where reports and bans live: [`MemoryModeration`](crate::MemoryModeration) for one node,
/// `RedisModeration` (feature `redis`) for a cluster, where a ban made on one node holds on every
/// node at once. Every record carries its own expiry; nothing lives forever.
#[async_trait]
pub trait ModerationStore: Send + Sync + std::fmt::Debug + 'static {
    /// The clock expiries are judged against.
    fn clock(&self) -> &std::sync::Arc<dyn Clock>;

    /// Records `report`, kept for `retention`, and answers how many distinct guests reported
    /// `report.reported` within `window` up to `report.created_at`, this reporter included.
    /// One reporter counts once however often it reports.
    async fn record_report(
        &self,
        report: &Report,
        window: Duration,
        retention: Duration,
    ) -> Result<u32, ModerationError>;

    /// The reports `query` asks for, newest first, and how many it matches in all.
    async fn reports(&self, query: &ReportQuery) -> Result<ReportPage, ModerationError>;

    /// Makes `ban`. A live ban of the same target is replaced (the new one's expiry wins, so an
    /// operator can shorten a ban as well as lengthen it).
    async fn ban(&self, ban: &Ban) -> Result<(), ModerationError>;

    /// Every ban that holds now, the latest made first.
    async fn bans(&self) -> Result<Vec<Ban>, ModerationError>;

    /// Lifts a ban; `false` when no live ban has that id.
    async fn lift(&self, id: &BanId) -> Result<bool, ModerationError>;

    /// The ban that holds now for `guest` or for `address`, the one that ends later when both
    /// are banned. One round trip: it runs on every handshake.
    async fn ban_of(
        &self,
        guest: Option<&GuestId>,
        address: Option<&AddressTag>,
    ) -> Result<Option<Ban>, ModerationError>;

    /// A number that changes whenever a ban is made or lifted, so that nodes notice new bans
    /// by polling one key.
    async fn bans_version(&self) -> Result<u64, ModerationError>;

    /// Claims `token` until `until`: `true` the first time, `false` while an earlier claim of it
    /// lives (one-time proofs of work).
    async fn claim_once(&self, token: &str, until: Timestamp) -> Result<bool, ModerationError>;

    /// Remembers a message `guest` sent in `room`, keeping the last `keep` of them for `ttl`
    /// after the latest.
    async fn remember_sent(
        &self,
        guest: &GuestId,
        room: &RoomId,
        message: &SentMessage,
        keep: usize,
        ttl: Duration,
    ) -> Result<(), ModerationError>;

    /// What [`remember_sent`](Self::remember_sent) kept of `guest` in `room`, oldest first.
    async fn sent_recently(
        &self,
        guest: &GuestId,
        room: &RoomId,
    ) -> Result<Vec<SentMessage>, ModerationError>;

    /// Reports kept and bans holding now.
    async fn counts(&self) -> Result<ModerationCounts, ModerationError>;

    /// Records that `guest` runs on the device `device` (a tag, never the client's own id)
    /// until `until`, and answers the other guests of that device still live: two tabs of one
    /// browser are kept from meeting each other.
    async fn note_device(
        &self,
        device: &str,
        guest: &GuestId,
        until: Timestamp,
    ) -> Result<Vec<GuestId>, ModerationError>;
}

/// Of two bans, the one that ends later.
pub(crate) fn later(a: Option<Ban>, b: Option<Ban>) -> Option<Ban> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.expires_at > a.expires_at { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// The targets `ban_of` looks at.
pub(crate) fn targets(guest: Option<&GuestId>, address: Option<&AddressTag>) -> Vec<BanTarget> {
    guest
        .map(|g| BanTarget::GuestId(*g))
        .into_iter()
        .chain(address.map(|a| BanTarget::Address(a.clone())))
        .collect()
}
