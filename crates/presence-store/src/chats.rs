//! [`ChatStore`]: current pairs, recent partners, away marks and what is kept for each guest.

use std::fmt::Debug;

use async_trait::async_trait;
use duet_core::{GuestId, RoomId, Timestamp};

use crate::error::StoreError;
use crate::kept::{KeepLimits, Kept, KeptEntry, LastSeen, Return};
use crate::model::{LastChat, Pair};

/// Chats in progress and what they need to survive a dropped connection: the pair of each
/// guest, the partner each one just left, away marks with their deadline, and each guest's
/// log of what was sent to it ([`Kept`]).
///
/// Object safe; every method that two nodes could race on is atomic in every backend.
#[async_trait]
pub trait ChatStore: Send + Sync + Debug + 'static {
    /// Records a new pair unless either guest is already in one; returns whether it was created.
    async fn create_pair(&self, pair: &Pair) -> Result<bool, StoreError>;

    /// The guest's current pair.
    async fn pair_of(&self, guest: &GuestId) -> Result<Option<Pair>, StoreError>;

    /// The current pair of each guest, in order: one round trip on Redis.
    async fn pairs_of(&self, guests: &[GuestId]) -> Result<Vec<Option<Pair>>, StoreError> {
        let mut pairs = Vec::with_capacity(guests.len());
        for guest in guests {
            pairs.push(self.pair_of(guest).await?);
        }
        Ok(pairs)
    }

    /// The guest's current pair and whether its partner is away, in one call: what relaying a
    /// message needs. Backends answer it in a single round trip.
    async fn chat_of(&self, guest: &GuestId) -> Result<Option<(Pair, bool)>, StoreError>;

    /// Ends a pair, records each guest as the other's last partner, forgets what was kept for
    /// either and their away marks, and returns the pair. Only one caller gets `Some` for a
    /// given room.
    async fn end_pair(&self, room: &RoomId) -> Result<Option<Pair>, StoreError>;

    /// The chat `guest` last parted from (partner, room, end), while that memory lasts (the
    /// store's last-partner lifetime, 1 hour by default).
    async fn last_chat(&self, guest: &GuestId) -> Result<Option<LastChat>, StoreError>;

    /// Marks the guest's connection as dropped, its chat held until `until`; entries for it are
    /// held from now on.
    async fn set_away(&self, guest: &GuestId, until: Timestamp) -> Result<(), StoreError>;

    /// Until when the guest's chat is held, if its connection dropped.
    async fn away_until(&self, guest: &GuestId) -> Result<Option<Timestamp>, StoreError>;

    /// The guest is back (or gone for good); returns whether it was away.
    async fn clear_away(&self, guest: &GuestId) -> Result<bool, StoreError>;

    /// Removes up to `limit` away marks whose time is up and returns those guests, each to exactly
    /// one caller cluster-wide, so one node ends each held chat even if the guest's own node died.
    async fn take_overdue_away(&self, limit: usize) -> Result<Vec<GuestId>, StoreError>;

    /// Keeps `entry` (opaque) for `guest`, numbered after the last one; see [`Kept`] for what
    /// the caller does next. The guest's log is a ring of the recent entries while it is
    /// connected, and holds everything (refusing beyond `limits`) while it is away.
    async fn keep(
        &self,
        guest: &GuestId,
        entry: Vec<u8>,
        limits: &KeepLimits,
    ) -> Result<Kept, StoreError>;

    /// [`keep`](Self::keep) for a message from `sender` to `recipient` in `room`, in one call
    /// that also checks the chat: `None` (nothing kept) when `room` is no longer the sender's
    /// chat. What relaying needs when the partner is known from an earlier message.
    async fn keep_in_chat(
        &self,
        sender: &GuestId,
        room: &RoomId,
        recipient: &GuestId,
        entry: Vec<u8>,
        limits: &KeepLimits,
    ) -> Result<Option<Kept>, StoreError>;

    /// Replaces everything kept for `guest` by `marker` (a clear, an end), numbered after the
    /// last entry; never refused.
    async fn keep_marker(&self, guest: &GuestId, marker: Vec<u8>) -> Result<Kept, StoreError>;

    /// The guest is taking over a new socket: until [`come_back`](Self::come_back), entries
    /// for it are held rather than sent. Returns whether it has anything to come back to (a
    /// chat, or entries such as the end of one).
    async fn hold_for_return(&self, guest: &GuestId) -> Result<bool, StoreError>;

    /// The guest is back: its away mark ends, and it gets its chat with what it has to be
    /// sent: the entries after the last one it saw, when `seen` names its current chat, else
    /// those held. Without a chat it gets every entry left (the end of its chat) and its log
    /// goes. With one, the hold goes on until [`release_hold`](Self::release_hold), so nothing
    /// kept meanwhile is sent live ahead of these entries.
    async fn come_back(
        &self,
        guest: &GuestId,
        seen: Option<LastSeen>,
    ) -> Result<Return, StoreError>;

    /// Called once what [`come_back`](Self::come_back) (or an earlier call of this) returned
    /// was sent: the entries kept for the guest since, still held, to be sent next; or, when
    /// there are none, the hold ends and the guest's entries go out live from now on, after
    /// everything it was sent. Empty when nothing was held.
    async fn release_hold(&self, guest: &GuestId) -> Result<Vec<KeptEntry>, StoreError>;

    /// Entry `seq`, kept as live, could not be sent (the guest's connection was closing): it and
    /// what follows are held, as if the guest had gone away just before it, so it is sent on the
    /// guest's return even to a client that names nothing it saw.
    async fn hold_since(&self, guest: &GuestId, seq: u64) -> Result<(), StoreError>;

    /// Drops everything kept for the guest.
    async fn forget_kept(&self, guest: &GuestId) -> Result<(), StoreError>;

    /// Chats in progress, held ones included (`activeRooms`).
    async fn count_chats(&self) -> Result<u64, StoreError>;
}
