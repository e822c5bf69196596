//! The [`PresenceStore`] trait.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use duet_auth::{BackendError, Session, SessionLookup};
use duet_core::{Clock, GuestId, NodeId, RoomId, SessionId, Timestamp};

use crate::error::StoreError;
use crate::model::{BackendKind, Connection, DeadNode, ExpiredSession, Pair, PresenceStats};

/// Everything one node must share with the others about guests: sessions, live sockets, nodes,
/// current pairs, recent partners and the counts derived from them.
///
/// Object safe: a server picks the backend at run time and keeps an `Arc<dyn PresenceStore>`.
/// Every method that two nodes could race on is atomic in every backend.
#[async_trait]
pub trait PresenceStore: Send + Sync + Debug + 'static {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// The clock expiries are compared against.
    fn clock(&self) -> &Arc<dyn Clock>;

    /// Checks that the backend answers (for `/ready`).
    async fn ping(&self) -> Result<(), StoreError>;

    // --- sessions ---

    /// Stores a new session until its expiry.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;

    /// The session, or `None` if it is unknown, revoked or expired.
    async fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;

    /// Moves a live session's expiry to `expires_at` (never earlier) and returns it; `None` if the
    /// session is unknown, revoked or expired.
    async fn extend_session(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> Result<Option<Session>, StoreError>;

    /// Deletes a session so that every token issued for it stops working; returns it if it was
    /// live.
    async fn revoke_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;

    /// Removes up to `limit` sessions whose expiry has passed and returns them. Each expired
    /// session is returned once across the whole cluster, so exactly one node ends its chat.
    async fn take_expired_sessions(&self, limit: usize) -> Result<Vec<ExpiredSession>, StoreError>;

    // --- connections and nodes ---

    /// Records `connection` as the guest's live socket and returns the one it replaces, if any.
    async fn register_connection(
        &self,
        connection: &Connection,
    ) -> Result<Option<Connection>, StoreError>;

    /// Forgets the guest's socket if it is still `socket_id` (a replaced socket that disconnects
    /// late must not remove its successor). Returns whether it was removed.
    async fn unregister_connection(
        &self,
        guest: &GuestId,
        socket_id: &str,
    ) -> Result<bool, StoreError>;

    /// The guest's live socket, if it has one on a live node.
    async fn connection(&self, guest: &GuestId) -> Result<Option<Connection>, StoreError>;

    /// Says that `node` is alive for `ttl` more and holds `connected_sockets` sockets.
    async fn heartbeat(
        &self,
        node: &NodeId,
        connected_sockets: u64,
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// The nodes whose heartbeat has not expired.
    async fn live_nodes(&self) -> Result<Vec<NodeId>, StoreError>;

    /// Claims every node whose heartbeat has expired, removing it and its connections. A dead
    /// node is claimed by exactly one caller.
    async fn claim_dead_nodes(&self) -> Result<Vec<DeadNode>, StoreError>;

    /// Removes `node` and its connections at once (graceful shutdown); returns those connections.
    async fn remove_node(&self, node: &NodeId) -> Result<Vec<Connection>, StoreError>;

    // --- pairs ---

    /// Records a new pair unless either guest is already in one; returns whether it was created.
    async fn create_pair(&self, pair: &Pair) -> Result<bool, StoreError>;

    /// The guest's current pair.
    async fn pair_of(&self, guest: &GuestId) -> Result<Option<Pair>, StoreError>;

    /// Ends a pair, records each guest as the other's last partner, forgets what was held for
    /// either, and returns the pair. Only one caller gets `Some` for a given room.
    async fn end_pair(&self, room: &RoomId) -> Result<Option<Pair>, StoreError>;

    /// The guest's current pair and whether its partner is away, in one call: what relaying a
    /// message needs. Backends answer it in a single round trip.
    async fn chat_of(&self, guest: &GuestId) -> Result<Option<(Pair, bool)>, StoreError> {
        let Some(pair) = self.pair_of(guest).await? else {
            return Ok(None);
        };
        let away = match pair.partner_of(guest) {
            Some(partner) => self.away_until(&partner).await?.is_some(),
            None => false,
        };
        Ok(Some((pair, away)))
    }

    /// The partner `guest` last parted from, while that memory lasts.
    async fn last_partner(&self, guest: &GuestId) -> Result<Option<GuestId>, StoreError>;

    // --- resuming ---

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

    // --- counts ---

    /// Cluster-wide counts.
    async fn stats(&self) -> Result<PresenceStats, StoreError>;
}

/// Lets [`duet_auth::TokenService::authenticate`] check sessions in any presence store.
impl SessionLookup for dyn PresenceStore + '_ {
    async fn find_session(&self, id: &SessionId) -> Result<Option<Session>, BackendError> {
        self.session(id)
            .await
            .map_err(|error| Box::new(error) as BackendError)
    }
}
