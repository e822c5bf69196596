//! [`Keys`]: the Redis key layout, written here and nowhere else.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `session:<sid>` | string | a session's json, until a little after its expiry |
//! | `sessions` | sorted set | session ids by expiry (ms) |
//! | `conn:<gid>` | string | a guest's live connection's json |
//! | `node:<node>` | hash | `sockets`: what the node last reported |
//! | `node:<node>:conns` | hash | guest id → socket id of the node's connections |
//! | `nodes` | sorted set | node names by heartbeat deadline (ms) |
//! | `pair:<gid>` | string | the guest's current pair's json |
//! | `room:<rid>` | string | a pair's json |
//! | `rooms` | sorted set | room ids by safety-net deadline (ms) |
//! | `last:<gid>` | string | `<partner>\|<until ms>` |
//! | `away` | sorted set | away guests by the end of their grace (ms) |
//! | `kept:<gid>` | list | `<seq>\|<entry>`: what was sent to the guest, oldest first |
//! | `kept:<gid>:meta` | hash | the log's last `seq`, its `bytes`, and while held `from`, `hcount`, `hbytes` |
//! | `kept-bytes` | string | bytes of every log together |
//! | `marker:<node>` | string | renewed by its node each second: when it is missing, Redis lost its data |
//!
//! Every key starts with the configured prefix. On Redis Cluster the prefix must carry a hash
//! tag (`{duet}:`) so that every key, and so every script, lives in one slot.

use duet_core::{GuestId, NodeId, RoomId, SessionId};

/// The keys of one deployment, under its prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

/// Whether `prefix` has a Redis Cluster hash tag: a `{`, then at least one character, then `}`.
pub(crate) fn has_hash_tag(prefix: &str) -> bool {
    prefix
        .find('{')
        .and_then(|open| prefix[open + 1..].find('}'))
        .is_some_and(|length| length > 0)
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, kind: &str, id: impl std::fmt::Display) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn index(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub(crate) fn session(&self, id: &SessionId) -> String {
        self.key("session", id)
    }

    pub(crate) fn sessions(&self) -> String {
        self.index("sessions")
    }

    pub(crate) fn connection(&self, guest: &GuestId) -> String {
        self.key("conn", guest)
    }

    pub(crate) fn node(&self, node: &NodeId) -> String {
        self.key("node", node)
    }

    pub(crate) fn node_connections(&self, node: &NodeId) -> String {
        format!("{}:conns", self.node(node))
    }

    pub(crate) fn nodes(&self) -> String {
        self.index("nodes")
    }

    pub(crate) fn pair(&self, guest: &GuestId) -> String {
        self.key("pair", guest)
    }

    pub(crate) fn room(&self, room: &RoomId) -> String {
        self.key("room", room)
    }

    pub(crate) fn rooms(&self) -> String {
        self.index("rooms")
    }

    pub(crate) fn last_partner(&self, guest: &GuestId) -> String {
        self.key("last", guest)
    }

    pub(crate) fn away(&self) -> String {
        self.index("away")
    }

    pub(crate) fn log(&self, guest: &GuestId) -> String {
        self.key("kept", guest)
    }

    pub(crate) fn log_meta(&self, guest: &GuestId) -> String {
        format!("{}:meta", self.log(guest))
    }

    pub(crate) fn marker(&self, node: &NodeId) -> String {
        self.key("marker", node)
    }

    pub(crate) fn kept_bytes(&self) -> String {
        self.index("kept-bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_starts_with_the_prefix() {
        let keys = Keys::new("{duet}:");
        let guest = GuestId::random();
        assert_eq!(keys.connection(&guest), format!("{{duet}}:conn:{guest}"));
        let node = NodeId::new("one").unwrap_or_else(NodeId::random);
        assert_eq!(keys.node_connections(&node), "{duet}:node:one:conns");
        assert_eq!(keys.away(), "{duet}:away");
    }

    #[test]
    fn hash_tags_are_recognised() {
        for tagged in ["{duet}:", "app:{x}:"] {
            assert!(has_hash_tag(tagged), "{tagged}");
        }
        for plain in ["duet:", "{}:", "}{", "{duet:"] {
            assert!(!has_hash_tag(plain), "{plain}");
        }
    }
}
