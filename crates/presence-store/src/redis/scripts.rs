//! The Lua scripts of `lua/`, each with a typed call that names its keys and arguments.
//!
//! Every key a script touches is in its `KEYS`, so a client on Redis Cluster routes it to the
//! slot's owner, and Redis can check it. Where a script would otherwise find keys from data
//! (the old node of a replaced connection, the guests of a room, expired sessions, a dead
//! node's connections), the caller reads that data first, passes the keys, and the script
//! checks that what was read still holds (or reports `retry`). Times are Unix milliseconds
//! from the caller's clock, computed in Rust.

use std::time::Duration;

use duet_core::{GuestId, NodeId, RoomId, SessionId, Timestamp};
use fred::prelude::Value;
use fred::types::scripts::Script;

use super::keys::Keys;
use crate::kept::{KeepLimits, LastSeen};

/// Each script is the concatenation of its files: helpers (`kept.lua`) come first.
macro_rules! scripts {
    ($($name:ident => $($file:literal)+),+ $(,)?) => {
        /// Every script, loaded once per store.
        pub(super) struct Scripts {
            $($name: Script,)+
        }

        impl Scripts {
            pub(super) fn load() -> Self {
                Self {
                    $($name: Script::from_lua(concat!(
                        $(include_str!(concat!("../../lua/", $file)), "\n",)+
                    )),)+
                }
            }
        }
    };
}

scripts! {
    create_session => "create_session.lua",
    extend_session => "extend_session.lua",
    revoke_session => "revoke_session.lua",
    take_expired => "take_expired.lua",
    register_connection => "register_connection.lua",
    unregister_connection => "unregister_connection.lua",
    connection => "connection.lua",
    heartbeat => "heartbeat.lua",
    remove_node => "remove_node.lua",
    presence_counts => "presence_counts.lua",
    instance => "instance.lua",
    create_pair => "create_pair.lua",
    end_pair => "kept.lua" "end_pair.lua",
    chat_of => "chat_of.lua",
    keep => "kept.lua" "keep.lua",
    keep_in_chat => "kept.lua" "keep_in_chat.lua",
    keep_marker => "kept.lua" "keep_marker.lua",
    hold_for_return => "kept.lua" "hold_for_return.lua",
    come_back => "kept.lua" "come_back.lua",
    release_hold => "kept.lua" "release_hold.lua",
    forget_kept => "kept.lua" "forget_kept.lua",
    hold_since => "kept.lua" "hold_since.lua",
    set_away => "kept.lua" "set_away.lua",
    take_overdue_away => "take_overdue_away.lua",
}

/// One run of one script: which, with which keys and arguments.
pub(super) trait ScriptCall {
    fn script(scripts: &Scripts) -> &Script;
    fn keys(&self, keys: &Keys) -> Vec<String>;
    fn args(self) -> Vec<Value>;
}

fn millis(duration: Duration) -> Value {
    Value::from(
        i64::try_from(duration.as_millis())
            .unwrap_or(i64::MAX)
            .to_string(),
    )
}

fn at(time: Timestamp) -> Value {
    Value::from(time.unix_millis().to_string())
}

fn text(value: impl ToString) -> Value {
    Value::from(value.to_string())
}

/// Declares a call struct's script, keys and arguments in one place.
macro_rules! call {
    ($call:ident => $script:ident, |$this:ident, $keys:ident| [$($key:expr),* $(,)?], [$($arg:expr),* $(,)?]) => {
        impl ScriptCall for $call {
            fn script(scripts: &Scripts) -> &Script {
                &scripts.$script
            }
            #[allow(unused_variables)]
            fn keys(&self, $keys: &Keys) -> Vec<String> {
                let $this = self;
                vec![$($key),*]
            }
            #[allow(unused_variables)]
            fn args(self) -> Vec<Value> {
                let $this = self;
                vec![$($arg),*]
            }
        }
    };
}

pub(super) struct CreateSession {
    pub(super) id: SessionId,
    pub(super) json: String,
    pub(super) expires_at: Timestamp,
    pub(super) ttl: Duration,
}
call!(CreateSession => create_session, |c, keys| [keys.session(&c.id), keys.sessions()],
    [text(c.json), text(c.id), at(c.expires_at), millis(c.ttl)]);

pub(super) struct ExtendSession {
    pub(super) id: SessionId,
    pub(super) now: Timestamp,
    pub(super) expires_at: Timestamp,
    pub(super) ttl: Duration,
}
call!(ExtendSession => extend_session, |c, keys| [keys.session(&c.id), keys.sessions()],
    [text(c.id), at(c.now), at(c.expires_at), text(c.expires_at), millis(c.ttl)]);

pub(super) struct RevokeSession {
    pub(super) id: SessionId,
}
call!(RevokeSession => revoke_session, |c, keys| [keys.session(&c.id), keys.sessions()],
    [text(c.id)]);

pub(super) struct TakeExpired {
    pub(super) now: Timestamp,
    pub(super) candidates: Vec<SessionId>,
}

impl ScriptCall for TakeExpired {
    fn script(scripts: &Scripts) -> &Script {
        &scripts.take_expired
    }
    fn keys(&self, keys: &Keys) -> Vec<String> {
        let candidates = self.candidates.iter().map(|id| keys.session(id));
        std::iter::once(keys.sessions()).chain(candidates).collect()
    }
    fn args(self) -> Vec<Value> {
        let candidates = self.candidates.into_iter().map(text);
        std::iter::once(at(self.now)).chain(candidates).collect()
    }
}

pub(super) struct RegisterConnection {
    pub(super) guest: GuestId,
    pub(super) node: NodeId,
    pub(super) socket_id: String,
    pub(super) json: String,
    /// The previous connection as read before the call, with its node.
    pub(super) previous: Option<(String, NodeId)>,
    pub(super) now: Timestamp,
    pub(super) implicit_deadline: Timestamp,
    pub(super) connection_ttl: Duration,
    pub(super) node_record_ttl: Duration,
    pub(super) index_ttl: Duration,
}
call!(RegisterConnection => register_connection, |c, keys| [
    keys.connection(&c.guest),
    keys.node_connections(&c.node),
    keys.nodes(),
    keys.node_connections(c.previous.as_ref().map_or(&c.node, |(_, node)| node)),
], [
    text(c.json), text(c.guest), text(c.socket_id), text(c.node), millis(c.connection_ttl),
    at(c.now), at(c.implicit_deadline), millis(c.node_record_ttl), millis(c.index_ttl),
    text(c.previous.map(|(json, _)| json).unwrap_or_default()),
]);

pub(super) struct UnregisterConnection {
    pub(super) guest: GuestId,
    pub(super) node: NodeId,
    pub(super) socket_id: String,
    /// The connection's json as read before the call.
    pub(super) json: String,
}
call!(UnregisterConnection => unregister_connection,
    |c, keys| [keys.connection(&c.guest), keys.node_connections(&c.node)],
    [text(c.guest), text(c.socket_id), text(c.json)]);

pub(super) struct ConnectionOf {
    pub(super) guest: GuestId,
    pub(super) now: Timestamp,
}
call!(ConnectionOf => connection, |c, keys| [keys.connection(&c.guest), keys.nodes()],
    [at(c.now)]);

pub(super) struct Heartbeat {
    pub(super) node: NodeId,
    pub(super) deadline: Timestamp,
    pub(super) sockets: u64,
    pub(super) record_ttl: Duration,
    pub(super) index_ttl: Duration,
}
call!(Heartbeat => heartbeat,
    |c, keys| [keys.nodes(), keys.node(&c.node), keys.node_connections(&c.node)],
    [text(c.node), at(c.deadline), text(c.sockets), millis(c.record_ttl), millis(c.index_ttl)]);

pub(super) struct RemoveNode {
    pub(super) node: NodeId,
    /// Only a node whose heartbeat ended before this is removed; `None` removes it anyway.
    pub(super) dead_before: Option<Timestamp>,
    /// The node's connections (guest, socket) as read before the call.
    pub(super) connections: Vec<(GuestId, String)>,
}

impl ScriptCall for RemoveNode {
    fn script(scripts: &Scripts) -> &Script {
        &scripts.remove_node
    }
    fn keys(&self, keys: &Keys) -> Vec<String> {
        let fixed = [
            keys.nodes(),
            keys.node(&self.node),
            keys.node_connections(&self.node),
        ];
        let connections = self.connections.iter().map(|(g, _)| keys.connection(g));
        fixed.into_iter().chain(connections).collect()
    }
    fn args(self) -> Vec<Value> {
        let dead_before = self.dead_before.map_or(Value::from(""), at);
        let entries = self
            .connections
            .into_iter()
            .flat_map(|(guest, socket)| [text(guest), text(socket)]);
        [text(self.node), dead_before]
            .into_iter()
            .chain(entries)
            .collect()
    }
}

pub(super) struct PresenceCounts {
    pub(super) live_nodes: Vec<NodeId>,
}

impl ScriptCall for PresenceCounts {
    fn script(scripts: &Scripts) -> &Script {
        &scripts.presence_counts
    }
    fn keys(&self, keys: &Keys) -> Vec<String> {
        self.live_nodes
            .iter()
            .flat_map(|node| [keys.node(node), keys.node_connections(node)])
            .collect()
    }
    fn args(self) -> Vec<Value> {
        Vec::new()
    }
}

pub(super) struct Instance {
    pub(super) node: NodeId,
    pub(super) ttl: Duration,
}
call!(Instance => instance, |c, keys| [keys.marker(&c.node)], [millis(c.ttl)]);

pub(super) struct CreatePair {
    pub(super) room: RoomId,
    pub(super) guests: [GuestId; 2],
    pub(super) json: String,
    pub(super) ttl: Duration,
    pub(super) deadline: Timestamp,
}
call!(CreatePair => create_pair, |c, keys| [
        keys.pair(&c.guests[0]), keys.pair(&c.guests[1]), keys.room(&c.room), keys.rooms(),
    ], [text(c.room), text(c.json), millis(c.ttl), at(c.deadline)]);

pub(super) struct EndPair {
    pub(super) room: RoomId,
    pub(super) guests: [GuestId; 2],
    /// What each guest remembers of the other: `<partner>|<until ms>|<room>|<ended ms>`.
    pub(super) last_partners: [String; 2],
    pub(super) last_partner_ttl: Duration,
}
call!(EndPair => end_pair, |c, keys| [
    keys.room(&c.room), keys.rooms(),
    keys.pair(&c.guests[0]), keys.pair(&c.guests[1]),
    keys.last_partner(&c.guests[0]), keys.last_partner(&c.guests[1]),
    keys.away(), keys.log(&c.guests[0]), keys.log(&c.guests[1]),
    keys.log_meta(&c.guests[0]), keys.log_meta(&c.guests[1]), keys.kept_bytes(),
], [
    text(c.room), text(c.guests[0]), text(c.guests[1]),
    text(&c.last_partners[0]), text(&c.last_partners[1]), millis(c.last_partner_ttl),
]);

pub(super) struct ChatOf {
    pub(super) guest: GuestId,
}
call!(ChatOf => chat_of, |c, keys| [keys.pair(&c.guest), keys.away()], [text(c.guest)]);

pub(super) struct Keep {
    pub(super) guest: GuestId,
    pub(super) entry: Vec<u8>,
    pub(super) limits: KeepLimits,
    pub(super) now: Timestamp,
    pub(super) ttl: Duration,
}
call!(Keep => keep,
    |c, keys| [keys.log(&c.guest), keys.log_meta(&c.guest), keys.kept_bytes()],
    [Value::Bytes(c.entry.into()), text(c.limits.entries), text(c.limits.bytes),
        text(c.limits.total_bytes), millis(c.limits.live_for), at(c.now), millis(c.ttl)]);

pub(super) struct KeepInChat {
    pub(super) sender: GuestId,
    pub(super) room: RoomId,
    pub(super) recipient: GuestId,
    pub(super) entry: Vec<u8>,
    pub(super) limits: KeepLimits,
    pub(super) now: Timestamp,
    pub(super) ttl: Duration,
}
call!(KeepInChat => keep_in_chat, |c, keys| [
    keys.pair(&c.sender), keys.log(&c.recipient), keys.log_meta(&c.recipient), keys.kept_bytes(),
], [
    text(c.room), text(c.recipient), Value::Bytes(c.entry.into()), text(c.limits.entries),
    text(c.limits.bytes), text(c.limits.total_bytes), millis(c.limits.live_for), at(c.now),
    millis(c.ttl),
]);

pub(super) struct KeepMarker {
    pub(super) guest: GuestId,
    pub(super) marker: Vec<u8>,
    pub(super) now: Timestamp,
    pub(super) ttl: Duration,
}
call!(KeepMarker => keep_marker,
    |c, keys| [keys.log(&c.guest), keys.log_meta(&c.guest), keys.kept_bytes()],
    [Value::Bytes(c.marker.into()), millis(c.ttl), at(c.now)]);

pub(super) struct HoldForReturn {
    pub(super) guest: GuestId,
    pub(super) ttl: Duration,
}
call!(HoldForReturn => hold_for_return,
    |c, keys| [keys.pair(&c.guest), keys.log(&c.guest), keys.log_meta(&c.guest)],
    [millis(c.ttl)]);

pub(super) struct ComeBack {
    pub(super) guest: GuestId,
    pub(super) seen: Option<LastSeen>,
    pub(super) ttl: Duration,
}

call!(ComeBack => come_back, |c, keys| [
    keys.pair(&c.guest), keys.away(), keys.log(&c.guest), keys.log_meta(&c.guest),
    keys.kept_bytes(),
], [
    text(c.guest),
    text(c.seen.map(|seen| seen.room_id.to_string()).unwrap_or_default()),
    text(c.seen.map(|seen| seen.seq.to_string()).unwrap_or_default()),
    millis(c.ttl),
]);

pub(super) struct ReleaseHold {
    pub(super) guest: GuestId,
    pub(super) ttl: Duration,
}
call!(ReleaseHold => release_hold, |c, keys| [keys.log(&c.guest), keys.log_meta(&c.guest)],
    [millis(c.ttl)]);

pub(super) struct HoldSince {
    pub(super) guest: GuestId,
    pub(super) seq: u64,
    pub(super) ttl: Duration,
}
call!(HoldSince => hold_since, |c, keys| [keys.log(&c.guest), keys.log_meta(&c.guest)],
    [text(c.seq), millis(c.ttl)]);

pub(super) struct ForgetKept {
    pub(super) guest: GuestId,
}

call!(ForgetKept => forget_kept,
    |c, keys| [keys.log(&c.guest), keys.log_meta(&c.guest), keys.kept_bytes()], []);

pub(super) struct SetAway {
    pub(super) guest: GuestId,
    pub(super) until: Timestamp,
    pub(super) index_ttl: Duration,
    pub(super) log_ttl: Duration,
}
call!(SetAway => set_away, |c, keys| [keys.away(), keys.log_meta(&c.guest)],
    [text(c.guest), at(c.until), millis(c.index_ttl), millis(c.log_ttl)]);

pub(super) struct TakeOverdueAway {
    pub(super) now: Timestamp,
    pub(super) limit: usize,
}
call!(TakeOverdueAway => take_overdue_away, |c, keys| [keys.away()],
    [at(c.now), text(c.limit)]);
