//! Rewriting what a node knows into a shared store that lost it (a Redis restarted without
//! persistence): the sessions and connections of its connected guests, the pairs they are in,
//! and the tickets of those waiting, so chats go on and waiting guests are still paired.
//!
//! What a node knows of its guests' chats ([`KnownChats`]) is kept as events happen here, and
//! checked against the store every few seconds for what happened elsewhere (a pair formed or
//! ended by another node). What no node holds cannot come back: sessions of guests connected
//! nowhere, away marks, and the messages kept for replay.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use duet_core::{GuestId, RoomId, Timestamp};
use duet_matchmaker::{Enqueued, Ticket};
use duet_presence_store::Pair;
use socketioxide::adapter::Adapter;

use crate::event::EndReason;
use crate::node::Duet;
use crate::reply::Failure;
use crate::session::local_contexts;

/// What this node knows of one connected guest's chat.
#[derive(Debug, Clone)]
pub(crate) enum Known {
    Paired(Pair),
    Waiting(Ticket),
}

/// The chats of this node's connected guests, as far as this node knows; kept only where the
/// store is shared (a memory store cannot lose its state without the node).
#[derive(Debug)]
pub(crate) struct KnownChats {
    enabled: bool,
    by_guest: Mutex<HashMap<GuestId, Known>>,
    /// Partners on other nodes of pairs rewritten here, with when to check that they came back.
    unconfirmed: Mutex<Vec<(Timestamp, GuestId, RoomId)>>,
}

impl KnownChats {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            by_guest: Mutex::default(),
            unconfirmed: Mutex::default(),
        }
    }

    /// Whether anything is kept (the store is shared).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    fn map(&self) -> MutexGuard<'_, HashMap<GuestId, Known>> {
        // Held for one map operation; nothing panics under it.
        self.by_guest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn paired(&self, guest: GuestId, pair: &Pair) {
        if self.enabled {
            self.map().insert(guest, Known::Paired(pair.clone()));
        }
    }

    pub(crate) fn waiting(&self, ticket: Ticket) {
        if self.enabled {
            self.map().insert(ticket.guest, Known::Waiting(ticket));
        }
    }

    pub(crate) fn forget(&self, guest: &GuestId) {
        if self.enabled {
            self.map().remove(guest);
        }
    }

    fn snapshot(&self) -> Vec<(GuestId, Known)> {
        self.map().iter().map(|(g, k)| (*g, k.clone())).collect()
    }
}

impl<A: Adapter> Duet<A> {
    /// Brings what this node knows up to date with the store: pairs formed or ended by other
    /// nodes since (upkeep, every few seconds).
    pub(crate) async fn check_known_chats(&self) {
        if !self.known.enabled {
            return;
        }
        // A guest whose socket moved to another node is that node's to know.
        let here: HashSet<GuestId> = local_contexts(&self.io).iter().map(|c| c.guest).collect();
        self.known.map().retain(|guest, _| here.contains(guest));
        let guests: Vec<GuestId> = self.known.map().keys().copied().collect();
        let pairs = match self.stores.chats.pairs_of(&guests).await {
            Ok(pairs) => pairs,
            Err(error) => {
                tracing::debug!(%error, "cannot check what this node knows of its chats");
                return;
            }
        };
        let mut known = self.known.map();
        for (guest, pair) in guests.into_iter().zip(pairs) {
            match (pair, known.get(&guest)) {
                (Some(pair), _) => {
                    known.insert(guest, Known::Paired(pair));
                }
                (None, Some(Known::Paired(_))) => {
                    known.remove(&guest);
                }
                // Still waiting, as far as anyone can tell.
                (None, _) => {}
            }
        }
    }

    /// Each node renews a marker of its own in the store; when it is gone, the store lost
    /// everything and this node writes back what it holds.
    pub(crate) async fn restore_if_lost(&self) {
        match self.stores.presence.lost_state(&self.node_id).await {
            Ok(true) => self.restore().await,
            Ok(false) => {}
            Err(error) => tracing::debug!(%error, "cannot check the store's marker"),
        }
        self.confirm_restored_partners().await;
    }

    async fn restore(&self) {
        let contexts = local_contexts(&self.io);
        tracing::warn!(
            guests = contexts.len(),
            "the store lost its state; writing back this node's guests, chats and tickets"
        );
        metrics::counter!(crate::metrics::STORE_RESTORES).increment(1);
        let local: HashSet<GuestId> = contexts.iter().map(|c| c.guest).collect();
        for context in &contexts {
            let connection = context.connection(&self.node_id, self.now());
            let written = async {
                self.stores
                    .sessions
                    .create_session(&context.session)
                    .await?;
                self.stores.presence.register_connection(&connection).await
            };
            if let Err(error) = written.await {
                tracing::error!(%error, guest_id = %context.guest, "cannot write a guest back");
            }
        }
        let mut rooms = HashSet::new();
        let check_at = self.now().saturating_add(self.settings.heartbeat_ttl);
        for (guest, known) in self.known.snapshot() {
            if !local.contains(&guest) {
                continue;
            }
            let outcome = match known {
                Known::Paired(pair) => {
                    if !rooms.insert(pair.room_id) {
                        continue;
                    }
                    if let Some(partner) = pair.partner_of(&guest).filter(|p| !local.contains(p)) {
                        self.lock_unconfirmed()
                            .push((check_at, partner, pair.room_id));
                    }
                    self.stores
                        .chats
                        .create_pair(&pair)
                        .await
                        .map(drop)
                        .map_err(Failure::from)
                }
                Known::Waiting(ticket) => match self.queue.enqueue(ticket).await {
                    Ok(Enqueued::Paired(pairing)) => {
                        self.announce(pairing).await;
                        Ok(())
                    }
                    Ok(_) => Ok(()),
                    Err(error) => Err(Failure::from(error)),
                },
            };
            if let Err(failure) = outcome {
                failure.log("restore", &guest);
            }
        }
    }

    fn lock_unconfirmed(&self) -> MutexGuard<'_, Vec<(Timestamp, GuestId, RoomId)>> {
        self.known
            .unconfirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A pair rewritten here whose partner's node never wrote it back (the partner was away,
    /// or its node is gone): the chat ends for the guest here, as a lost connection does.
    async fn confirm_restored_partners(&self) {
        let now = self.now();
        let due: Vec<_> = {
            let mut unconfirmed = self.lock_unconfirmed();
            let (due, later) = unconfirmed.drain(..).partition(|(at, ..)| *at <= now);
            *unconfirmed = later;
            due
        };
        for (_, partner, room) in due {
            let outcome = async {
                if self.stores.presence.connection(&partner).await?.is_some() {
                    return Ok(());
                }
                match self.stores.chats.pair_of(&partner).await? {
                    Some(pair) if pair.room_id == room => {
                        self.end_chat(&pair, &partner, EndReason::Disconnected)
                            .await
                    }
                    _ => Ok(()),
                }
            };
            if let Err(failure) = outcome.await {
                failure.log("restored partner", &partner);
            }
        }
    }
}
