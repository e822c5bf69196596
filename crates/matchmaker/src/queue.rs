//! The [`MatchQueue`] trait.

use std::sync::Arc;

use async_trait::async_trait;
use duet_core::{Clock, GuestId, Timestamp};

use crate::error::QueueError;
use crate::model::{DueWork, Enqueued, MatchConfig, Ticket};

/// The waiting room: guests wait here until the pairing policy finds them a partner.
///
/// The policy (protocol.md, "Pairing rules"):
/// - a pair forms between two waiting guests who share an interest, or who are both eligible for
///   random pairing: a guest without interests at once, a guest with interests once it has waited
///   [`MatchConfig::interest_wait`]; a guest sharing an interest is preferred to a random one;
/// - among candidates, the one that has waited longest is taken, and it is the initiator;
/// - never with itself; two guests who just parted are not paired again while another candidate
///   waits for either, and only once both have waited the interest wait;
/// - a guest is in at most one pair, whatever the concurrency (tasks or nodes).
///
/// Pairs form in [`enqueue`](Self::enqueue) (a partner was already there) or in
/// [`run_due`](Self::run_due) (a wait ended); [`spawn_matcher`](crate::spawn_matcher) calls the
/// latter on a timer and hands its pairs to a channel. Object safe: keep an
/// `Arc<dyn MatchQueue>`.
#[async_trait]
pub trait MatchQueue: Send + Sync + std::fmt::Debug + 'static {
    /// The queue's settings.
    fn config(&self) -> &MatchConfig;

    /// The clock waits are measured with.
    fn clock(&self) -> &Arc<dyn Clock>;

    /// Pairs the guest with a waiting partner, or makes it wait. Idempotent: asking again while
    /// waiting changes nothing and keeps the original wait start.
    async fn enqueue(&self, ticket: Ticket) -> Result<Enqueued, QueueError>;

    /// Stops the guest waiting; returns whether it was waiting.
    async fn cancel(&self, guest: &GuestId) -> Result<bool, QueueError>;

    /// Whether the guest is waiting.
    async fn is_waiting(&self, guest: &GuestId) -> Result<bool, QueueError>;

    /// Extends the tickets of these guests by the ticket lifetime (their node is alive).
    async fn refresh(&self, guests: &[GuestId]) -> Result<(), QueueError>;

    /// How many guests wait (the `availableUsers` of `/api/stats`).
    async fn waiting_count(&self) -> Result<u64, QueueError>;

    /// Keeps `a` and `b` from ever being paired with each other until `until`, however long
    /// either waits and whoever else does (a block or a report). Calling it again only moves the
    /// end later. On a shared queue it holds for every node at once.
    async fn keep_apart(
        &self,
        a: &GuestId,
        b: &GuestId,
        until: Timestamp,
    ) -> Result<(), QueueError>;

    /// Moves the end of every [`keep_apart`](Self::keep_apart) of `guest` that holds now to
    /// `until`, when that is later (its session was extended).
    async fn extend_apart(&self, guest: &GuestId, until: Timestamp) -> Result<(), QueueError>;

    /// Handles up to `limit` waits that have ended and tickets that have expired. Its cost is
    /// proportional to what came due, not to the number of guests waiting.
    async fn run_due(&self, limit: usize) -> Result<DueWork, QueueError>;
}
