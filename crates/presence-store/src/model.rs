//! The records a presence store keeps.

use duet_core::{GuestId, NodeId, RoomId, SessionId, Timestamp};
use serde::{Deserialize, Serialize};

/// A guest's live socket: which node holds it, and its Socket.IO id there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// The connected guest.
    pub guest_id: GuestId,
    /// The node the socket is connected to.
    pub node_id: NodeId,
    /// The Socket.IO socket id on that node.
    pub socket_id: String,
    /// When the socket connected.
    pub connected_at: Timestamp,
    /// The guest's display name, so any node can introduce it to a partner.
    #[serde(default)]
    pub username: String,
    /// When the guest's session expired as of connecting (TURN credentials end there).
    #[serde(default)]
    pub session_expires_at: Timestamp,
    /// The client's address as an opaque tag (an HMAC the transport makes; never the address),
    /// so that a report made on any node can name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_tag: Option<String>,
}

/// The chat a guest last parted from, while the store remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastChat {
    /// The partner of that chat.
    pub partner: GuestId,
    /// Its room.
    pub room_id: RoomId,
    /// When it ended.
    pub ended_at: Timestamp,
}

/// The current chat of two guests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pair {
    /// The chat's room id.
    pub room_id: RoomId,
    /// The guest that waited longer; it makes the WebRTC offer.
    pub initiator: GuestId,
    /// The other guest.
    pub responder: GuestId,
    /// When the pair formed.
    pub started_at: Timestamp,
    /// The initiator's display name.
    #[serde(default)]
    pub initiator_name: String,
    /// The responder's display name.
    #[serde(default)]
    pub responder_name: String,
    /// The interests they share, in normal form.
    #[serde(default)]
    pub common_interests: Vec<String>,
}

impl Pair {
    /// A new pair starting `now` with a fresh room id.
    pub fn new(initiator: GuestId, responder: GuestId, now: Timestamp) -> Self {
        Self {
            room_id: RoomId::random(),
            initiator,
            responder,
            started_at: now,
            initiator_name: String::new(),
            responder_name: String::new(),
            common_interests: Vec::new(),
        }
    }

    /// The same pair with both display names.
    pub fn with_names(
        mut self,
        initiator: impl Into<String>,
        responder: impl Into<String>,
    ) -> Self {
        self.initiator_name = initiator.into();
        self.responder_name = responder.into();
        self
    }

    /// The same pair with the interests they share.
    pub fn with_common_interests(mut self, interests: Vec<String>) -> Self {
        self.common_interests = interests;
        self
    }

    /// The display name of `guest` in this pair.
    pub fn name_of(&self, guest: &GuestId) -> Option<&str> {
        if *guest == self.initiator {
            Some(&self.initiator_name)
        } else if *guest == self.responder {
            Some(&self.responder_name)
        } else {
            None
        }
    }

    /// The other guest of the pair, or `None` if `guest` is not in it.
    pub fn partner_of(&self, guest: &GuestId) -> Option<GuestId> {
        if *guest == self.initiator {
            Some(self.responder)
        } else if *guest == self.responder {
            Some(self.initiator)
        } else {
            None
        }
    }

    /// Both guests, initiator first.
    pub fn guests(&self) -> [GuestId; 2] {
        [self.initiator, self.responder]
    }
}

/// A session whose expiry has passed, handed out once by
/// [`SessionStore::take_expired_sessions`](crate::SessionStore::take_expired_sessions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredSession {
    /// The expired session.
    pub session_id: SessionId,
    /// Its guest, whose socket and chat must now end.
    pub guest_id: GuestId,
}

/// A node found dead (its heartbeat expired), claimed by exactly one surviving node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadNode {
    /// The dead node.
    pub node_id: NodeId,
    /// The connections it held when it died; they have been removed from the store.
    pub connections: Vec<Connection>,
}

/// Cluster-wide counts, as `GET /api/stats` reports them (less `availableUsers`, which the
/// match queue counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceStats {
    /// Live guest sessions.
    pub total_sessions: u64,
    /// Guests with a connected socket on a live node.
    pub online_guests: u64,
    /// Chats in progress.
    pub active_rooms: u64,
    /// Sockets connected, as the live nodes last reported.
    pub connected_sockets: u64,
    /// Live nodes.
    pub live_nodes: u64,
}

/// What the presence store counts across the cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PresenceCounts {
    /// Guests with a connected socket on a live node.
    pub online_guests: u64,
    /// Sockets connected, as the live nodes last reported.
    pub connected_sockets: u64,
    /// Live nodes.
    pub live_nodes: u64,
}

/// Which backend a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// [`MemoryStore`](crate::MemoryStore).
    Memory,
    /// `RedisStore` (feature `redis`).
    Redis,
}

impl BackendKind {
    /// `"memory"` or `"redis"`, as `/ready` reports it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis => "redis",
        }
    }
}
