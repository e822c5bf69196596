//! Tickets, pairings and settings.

use std::time::Duration;

use duet_core::{GuestId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::interests::Interests;

/// A guest asking to be paired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Who waits.
    pub guest: GuestId,
    /// What it would like to talk about (may be empty).
    pub interests: Interests,
    /// The partner it just left, if any: they are not paired again while anyone else waits.
    pub last_partner: Option<GuestId>,
}

impl Ticket {
    /// A ticket for `guest` with `interests` and no recent partner.
    pub fn new(guest: GuestId, interests: Interests) -> Self {
        Self {
            guest,
            interests,
            last_partner: None,
        }
    }

    /// The same ticket, remembering the partner the guest just left.
    pub fn with_last_partner(mut self, partner: Option<GuestId>) -> Self {
        self.last_partner = partner;
        self
    }
}

/// One side of a pairing: a guest and what it waited with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiter {
    /// The guest.
    pub guest: GuestId,
    /// Its interests.
    pub interests: Interests,
    /// When it started waiting.
    pub waiting_since: Timestamp,
}

/// Two guests paired with each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pairing {
    /// The guest that waited longer; it makes the WebRTC offer.
    pub initiator: Waiter,
    /// The other guest.
    pub responder: Waiter,
    /// The interests they share, in normal form and the initiator's order (empty for a random
    /// pairing).
    pub common_interests: Vec<std::sync::Arc<str>>,
}

/// What [`MatchQueue::enqueue`](crate::MatchQueue::enqueue) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// A partner was waiting: here is the pair.
    Paired(Pairing),
    /// The guest now waits.
    Waiting,
    /// The guest was already waiting; its place and wait start are unchanged.
    AlreadyWaiting,
}

/// What came due in [`MatchQueue::run_due`](crate::MatchQueue::run_due).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueWork {
    /// Pairs formed because a wait ended (random pairing, or a rematch allowed at last).
    pub pairings: Vec<Pairing>,
    /// Guests whose tickets expired unrefreshed; they no longer wait.
    pub expired: Vec<GuestId>,
}

/// Settings of a match queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchConfig {
    /// How long a guest with interests waits for a guest sharing one before it is paired at random
    /// (default 10 s; `DUET_MATCH_INTEREST_WAIT_MS`).
    pub interest_wait: Duration,
    /// How long a ticket lives unless [`refreshed`](crate::MatchQueue::refresh) (default 2 min):
    /// the node holding the guest's socket refreshes it, so a guest whose node died stops
    /// waiting by itself. Never shorter than `interest_wait`.
    pub ticket_ttl: Duration,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self {
            interest_wait: Duration::from_secs(10),
            ticket_ttl: Duration::from_secs(120),
        }
    }
}

impl MatchConfig {
    /// The same settings with another interest wait.
    pub fn with_interest_wait(mut self, wait: Duration) -> Self {
        self.interest_wait = wait;
        self
    }

    /// The same settings with another ticket lifetime.
    pub fn with_ticket_ttl(mut self, ttl: Duration) -> Self {
        self.ticket_ttl = ttl;
        self
    }

    /// The ticket lifetime actually used (at least the interest wait).
    pub(crate) fn effective_ticket_ttl(&self) -> Duration {
        self.ticket_ttl.max(self.interest_wait)
    }
}
