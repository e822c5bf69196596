//! [`ChatStore`]: current pairs, recent partners, away marks and held messages.

use std::fmt::Debug;

use async_trait::async_trait;
use duet_core::{GuestId, RoomId, Timestamp};

use crate::error::StoreError;
use crate::model::Pair;

/// Chats in progress and what they need to survive a dropped connection: the pair of each
/// guest, the partner each one just left, away marks with their deadline, and the messages
/// held for an away guest.
///
/// Object safe; every method that two nodes could race on is atomic in every backend.
#[async_trait]
pub trait ChatStore: Send + Sync + Debug + 'static {
    /// Records a new pair unless either guest is already in one; returns whether it was created.
    async fn create_pair(&self, pair: &Pair) -> Result<bool, StoreError>;

    /// The guest's current pair.
    async fn pair_of(&self, guest: &GuestId) -> Result<Option<Pair>, StoreError>;

    /// The guest's current pair and whether its partner is away, in one call: what relaying a
    /// message needs. Backends answer it in a single round trip.
    async fn chat_of(&self, guest: &GuestId) -> Result<Option<(Pair, bool)>, StoreError>;

    /// Ends a pair, records each guest as the other's last partner, forgets what was held for
    /// either and their away marks, and returns the pair. Only one caller gets `Some` for a
    /// given room.
    async fn end_pair(&self, room: &RoomId) -> Result<Option<Pair>, StoreError>;

    /// The partner `guest` last parted from, while that memory lasts.
    async fn last_partner(&self, guest: &GuestId) -> Result<Option<GuestId>, StoreError>;

    /// Marks the guest's connection as dropped, its chat held until `until`.
    async fn set_away(&self, guest: &GuestId, until: Timestamp) -> Result<(), StoreError>;

    /// Until when the guest's chat is held, if its connection dropped.
    async fn away_until(&self, guest: &GuestId) -> Result<Option<Timestamp>, StoreError>;

    /// The guest is back (or gone for good); returns whether it was away.
    async fn clear_away(&self, guest: &GuestId) -> Result<bool, StoreError>;

    /// Removes up to `limit` away marks whose time is up and returns those guests, each to exactly
    /// one caller cluster-wide, so one node ends each held chat even if the guest's own node died.
    async fn take_overdue_away(&self, limit: usize) -> Result<Vec<GuestId>, StoreError>;

    /// Holds an opaque message for an away guest, in order; `false` when `capacity` messages
    /// are held already (the message is not held).
    async fn hold_message(
        &self,
        guest: &GuestId,
        message: Vec<u8>,
        capacity: usize,
    ) -> Result<bool, StoreError>;

    /// Takes every message held for the guest, oldest first.
    async fn take_held(&self, guest: &GuestId) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Drops every message held for the guest.
    async fn clear_held(&self, guest: &GuestId) -> Result<(), StoreError>;

    /// Chats in progress, held ones included (`activeRooms`).
    async fn count_chats(&self) -> Result<u64, StoreError>;
}
