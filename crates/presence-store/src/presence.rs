//! [`PresenceStore`]: which guest is connected where, and which nodes are alive.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use duet_core::{GuestId, NodeId};

use crate::error::StoreError;
use crate::model::{Connection, DeadNode, PresenceCounts};

/// Live sockets and the nodes that hold them: registered on connect, replaced by a newer
/// socket of the same guest, claimed when their node's heartbeat expires.
///
/// Object safe; every method that two nodes could race on is atomic in every backend.
#[async_trait]
pub trait PresenceStore: Send + Sync + Debug + 'static {
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

    /// The nodes whose heartbeat has not expired, sorted.
    async fn live_nodes(&self) -> Result<Vec<NodeId>, StoreError>;

    /// Claims every node whose heartbeat has expired, removing it and its connections. A dead
    /// node is claimed by exactly one caller.
    async fn claim_dead_nodes(&self) -> Result<Vec<DeadNode>, StoreError>;

    /// Removes `node` and its connections at once (graceful shutdown); returns those connections.
    async fn remove_node(&self, node: &NodeId) -> Result<Vec<Connection>, StoreError>;

    /// Guests online, sockets connected and live nodes, across the cluster.
    async fn counts(&self) -> Result<PresenceCounts, StoreError>;

    /// Whether the backend lost what it held since `node` last asked: a Redis that restarted
    /// empty (it keeps a marker per node, renewed by each call). The first call only takes
    /// note. A backend that cannot lose its state on its own (memory) always answers `false`.
    async fn lost_state(&self, node: &NodeId) -> Result<bool, StoreError>;
}
