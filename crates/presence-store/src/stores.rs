//! [`Stores`]: the three stores a node works with, and the counts they make together.

use std::sync::Arc;

use crate::chats::ChatStore;
use crate::error::StoreError;
use crate::memory::MemoryStore;
use crate::model::{BackendKind, PresenceStats};
use crate::presence::PresenceStore;
use crate::sessions::SessionStore;

/// The session, presence and chat stores of one deployment, usually one backend behind all
/// three ([`Stores::memory`], [`Stores::shared`]).
#[derive(Debug, Clone)]
pub struct Stores {
    /// Guest sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Live sockets and nodes.
    pub presence: Arc<dyn PresenceStore>,
    /// Pairs, away marks and held messages.
    pub chats: Arc<dyn ChatStore>,
}

impl Stores {
    /// All three in one [`MemoryStore`]: a single node.
    pub fn memory() -> Self {
        Self::shared(MemoryStore::new())
    }

    /// All three in `backend`.
    pub fn shared<B: SessionStore + PresenceStore + ChatStore>(backend: B) -> Self {
        let backend = Arc::new(backend);
        Self {
            sessions: Arc::clone(&backend) as Arc<dyn SessionStore>,
            presence: Arc::clone(&backend) as Arc<dyn PresenceStore>,
            chats: backend,
        }
    }

    /// The sessions' backend, as `/ready` reports it.
    pub fn kind(&self) -> BackendKind {
        self.sessions.kind()
    }

    /// The counts of `GET /api/stats` (less `availableUsers`, which the match queue counts).
    pub async fn stats(&self) -> Result<PresenceStats, StoreError> {
        let (sessions, presence, chats) = tokio::join!(
            self.sessions.count_sessions(),
            self.presence.counts(),
            self.chats.count_chats()
        );
        let presence = presence?;
        Ok(PresenceStats {
            total_sessions: sessions?,
            online_guests: presence.online_guests,
            active_rooms: chats?,
            connected_sockets: presence.connected_sockets,
            live_nodes: presence.live_nodes,
        })
    }
}
