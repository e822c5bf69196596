//! `RedisStore`: the cluster backend, shared by every node (feature `redis`).
//!
//! Every key carries a TTL, and every change that two nodes could race on runs as one Lua script,
//! so it is atomic on the server. The scripts touch keys they compute from the prefix; on Redis
//! Cluster give the prefix a hash tag (`{duet}:`) so that all keys share one slot.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use duet_auth::Session;
use duet_core::{Clock, GuestId, NodeId, RoomId, SessionId, SystemClock, Timestamp};
use fred::prelude::{Client, ClientLike, KeysInterface, SortedSetsInterface, Value};
use fred::types::scripts::Script;

use crate::error::StoreError;
use crate::model::{BackendKind, Connection, DeadNode, ExpiredSession, Pair, PresenceStats};
use crate::store::PresenceStore;

/// How long an expired session's record stays readable after its expiry, so that the node that
/// takes it from the expiry index can still learn whose it was.
const EXPIRED_SESSION_GRACE: Duration = Duration::from_secs(300);

/// Settings of a [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisStoreConfig {
    /// Prepended to every key (default `duet:`). Give each deployment sharing a Redis its own.
    pub key_prefix: String,
    /// Longest a pair record lives without being ended (default 24 h); a safety net only, since
    /// chats end with their guests' sessions.
    pub pair_ttl: Duration,
    /// How long a guest remembers the partner it just left (default 1 hour).
    pub last_partner_ttl: Duration,
    /// Longest a connection record lives (default 24 h); a dead node's records are removed long
    /// before by the node that claims it.
    pub connection_ttl: Duration,
    /// How long a node counts as alive after its first connection when it never sent a
    /// heartbeat (default 10 s).
    pub implicit_node_ttl: Duration,
}

impl Default for RedisStoreConfig {
    fn default() -> Self {
        Self {
            key_prefix: "duet:".to_owned(),
            pair_ttl: Duration::from_secs(24 * 3600),
            last_partner_ttl: Duration::from_secs(3600),
            connection_ttl: Duration::from_secs(24 * 3600),
            implicit_node_ttl: Duration::from_secs(10),
        }
    }
}

impl RedisStoreConfig {
    /// The same settings with another key prefix.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }
}

fn backend(error: fred::error::Error) -> StoreError {
    StoreError::Backend(Box::new(error))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The presence store on Redis, shared by every node of a cluster.
#[derive(Clone)]
pub struct RedisStore {
    client: Client,
    config: Arc<RedisStoreConfig>,
    clock: Arc<dyn Clock>,
    scripts: Arc<Scripts>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("key_prefix", &self.config.key_prefix)
            .finish_non_exhaustive()
    }
}

struct Scripts {
    create_session: Script,
    extend_session: Script,
    revoke_session: Script,
    take_expired: Script,
    register: Script,
    unregister: Script,
    connection: Script,
    heartbeat: Script,
    claim_dead: Script,
    remove_node: Script,
    create_pair: Script,
    end_pair: Script,
    stats: Script,
    hold: Script,
    take_held: Script,
    set_away: Script,
    take_overdue_away: Script,
    chat_of: Script,
}

impl RedisStore {
    /// A store on `client` (which should come from `duet_core::redis::client_from_url` or be set up alike).
    pub fn new(client: Client, config: RedisStoreConfig) -> Self {
        Self::with_clock(client, config, Arc::new(SystemClock))
    }

    /// A store on `client` that reads time from `clock`.
    pub fn with_clock(client: Client, config: RedisStoreConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            config: Arc::new(config),
            clock,
            scripts: Arc::new(Scripts {
                create_session: Script::from_lua(lua::CREATE_SESSION),
                extend_session: Script::from_lua(lua::EXTEND_SESSION),
                revoke_session: Script::from_lua(lua::REVOKE_SESSION),
                take_expired: Script::from_lua(lua::TAKE_EXPIRED),
                register: Script::from_lua(lua::REGISTER_CONNECTION),
                unregister: Script::from_lua(lua::UNREGISTER_CONNECTION),
                connection: Script::from_lua(lua::CONNECTION),
                heartbeat: Script::from_lua(lua::HEARTBEAT),
                claim_dead: Script::from_lua(lua::CLAIM_DEAD_NODES),
                remove_node: Script::from_lua(lua::REMOVE_NODE),
                create_pair: Script::from_lua(lua::CREATE_PAIR),
                end_pair: Script::from_lua(lua::END_PAIR),
                stats: Script::from_lua(lua::STATS),
                hold: Script::from_lua(lua::HOLD),
                take_held: Script::from_lua(lua::TAKE_HELD),
                set_away: Script::from_lua(lua::SET_AWAY),
                take_overdue_away: Script::from_lua(lua::TAKE_OVERDUE_AWAY),
                chat_of: Script::from_lua(lua::CHAT_OF),
            }),
        }
    }

    /// The fred client this store uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.config.key_prefix.clone();
        for part in parts {
            key.push_str(part);
        }
        key
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn run<R: fred::types::FromValue>(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<R, StoreError> {
        script
            .evalsha_with_reload(&self.client, keys, args)
            .await
            .map_err(backend)
    }

    fn prefix(&self) -> String {
        self.config.key_prefix.clone()
    }
}

fn parse<T: serde::de::DeserializeOwned>(json: Option<String>) -> Result<Option<T>, StoreError> {
    json.map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(StoreError::from)
}

#[async_trait]
impl PresenceStore for RedisStore {
    fn kind(&self) -> BackendKind {
        BackendKind::Redis
    }

    fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .ping::<Value>(None)
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let now = self.now();
        let ttl = session.expires_at().duration_since(now) + EXPIRED_SESSION_GRACE;
        let sid = session.id.to_string();
        let keys = vec![self.key(&["session:", &sid]), self.key(&["sessions"])];
        let args = vec![
            serde_json::to_string(session)?,
            sid,
            session.expires_at().unix_millis().to_string(),
            millis(ttl).to_string(),
        ];
        self.run::<Value>(&self.scripts.create_session, keys, args)
            .await
            .map(drop)
    }

    async fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let key = self.key(&["session:", &id.to_string()]);
        let json: Option<String> = self.client.get(key).await.map_err(backend)?;
        let session: Option<Session> = parse(json)?;
        let now = self.now();
        Ok(session.filter(|s| !s.is_expired_at(now)))
    }

    async fn extend_session(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let now = self.now();
        let sid = id.to_string();
        let keys = vec![self.key(&["session:", &sid]), self.key(&["sessions"])];
        let ttl = expires_at.duration_since(now) + EXPIRED_SESSION_GRACE;
        let args = vec![
            sid,
            now.unix_millis().to_string(),
            expires_at.unix_millis().to_string(),
            expires_at.to_string(),
            millis(ttl).to_string(),
        ];
        let json: Option<String> = self.run(&self.scripts.extend_session, keys, args).await?;
        parse(json)
    }

    async fn revoke_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let sid = id.to_string();
        let keys = vec![self.key(&["session:", &sid]), self.key(&["sessions"])];
        let json: Option<String> = self
            .run(&self.scripts.revoke_session, keys, vec![sid])
            .await?;
        let now = self.now();
        Ok(parse::<Session>(json)?.filter(|s| !s.is_expired_at(now)))
    }

    async fn take_expired_sessions(&self, limit: usize) -> Result<Vec<ExpiredSession>, StoreError> {
        let keys = vec![self.key(&["sessions"])];
        let args = vec![
            self.now().unix_millis().to_string(),
            limit.to_string(),
            self.prefix(),
        ];
        let taken: Vec<String> = self.run(&self.scripts.take_expired, keys, args).await?;
        // The script returns sid, then the session JSON or "" when the record was already gone.
        let mut expired = Vec::with_capacity(taken.len() / 2);
        for chunk in taken.chunks(2) {
            let [sid, json] = chunk else { continue };
            let Ok(session_id) = sid.parse::<SessionId>() else {
                tracing::warn!(sid = %sid, "unreadable session id in the expiry index");
                continue;
            };
            match serde_json::from_str::<Session>(json) {
                Ok(session) => expired.push(ExpiredSession {
                    session_id,
                    guest_id: session.guest.id,
                }),
                Err(_) => tracing::debug!(%session_id, "expired session record already gone"),
            }
        }
        Ok(expired)
    }

    async fn register_connection(
        &self,
        connection: &Connection,
    ) -> Result<Option<Connection>, StoreError> {
        let gid = connection.guest_id.to_string();
        let node = connection.node_id.as_str();
        let keys = vec![
            self.key(&["conn:", &gid]),
            self.key(&["node:", node, ":conns"]),
            self.key(&["nodes"]),
        ];
        let now = self.now();
        let args = vec![
            serde_json::to_string(connection)?,
            gid,
            connection.socket_id.clone(),
            node.to_owned(),
            self.prefix(),
            millis(self.config.connection_ttl).to_string(),
            now.unix_millis().to_string(),
            now.saturating_add(self.config.implicit_node_ttl)
                .unix_millis()
                .to_string(),
            millis(self.config.implicit_node_ttl * 3).to_string(),
        ];
        let previous: Option<String> = self.run(&self.scripts.register, keys, args).await?;
        parse(previous)
    }

    async fn unregister_connection(
        &self,
        guest: &GuestId,
        socket_id: &str,
    ) -> Result<bool, StoreError> {
        let gid = guest.to_string();
        let keys = vec![self.key(&["conn:", &gid])];
        let args = vec![gid, socket_id.to_owned(), self.prefix()];
        let removed: i64 = self.run(&self.scripts.unregister, keys, args).await?;
        Ok(removed == 1)
    }

    async fn connection(&self, guest: &GuestId) -> Result<Option<Connection>, StoreError> {
        let keys = vec![
            self.key(&["conn:", &guest.to_string()]),
            self.key(&["nodes"]),
        ];
        let args = vec![self.now().unix_millis().to_string()];
        let json: Option<String> = self.run(&self.scripts.connection, keys, args).await?;
        parse(json)
    }

    async fn heartbeat(
        &self,
        node: &NodeId,
        connected_sockets: u64,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let keys = vec![
            self.key(&["nodes"]),
            self.key(&["node:", node.as_str()]),
            self.key(&["node:", node.as_str(), ":conns"]),
        ];
        let deadline = self.now().saturating_add(ttl);
        // A dead node's records must outlive its heartbeat long enough for a survivor to claim them.
        let record_ttl = ttl * 3 + Duration::from_secs(30);
        let args = vec![
            node.as_str().to_owned(),
            deadline.unix_millis().to_string(),
            connected_sockets.to_string(),
            millis(record_ttl).to_string(),
        ];
        self.run::<Value>(&self.scripts.heartbeat, keys, args)
            .await
            .map(drop)
    }

    async fn live_nodes(&self) -> Result<Vec<NodeId>, StoreError> {
        let now = self.now().unix_millis();
        let names: Vec<String> = self
            .client
            .zrangebyscore(self.key(&["nodes"]), format!("({now}"), "+inf", false, None)
            .await
            .map_err(backend)?;
        let mut nodes: Vec<NodeId> = names.iter().filter_map(|n| NodeId::new(n)).collect();
        nodes.sort();
        Ok(nodes)
    }

    async fn claim_dead_nodes(&self) -> Result<Vec<DeadNode>, StoreError> {
        let keys = vec![self.key(&["nodes"])];
        let args = vec![self.now().unix_millis().to_string(), self.prefix()];
        let flat: Vec<String> = self.run(&self.scripts.claim_dead, keys, args).await?;
        // "N:<node>" starts a dead node; each "C:<json>" after it is one of its connections.
        let mut dead: Vec<DeadNode> = Vec::new();
        for entry in flat {
            if let Some(name) = entry.strip_prefix("N:") {
                match NodeId::new(name) {
                    Some(node_id) => dead.push(DeadNode {
                        node_id,
                        connections: Vec::new(),
                    }),
                    None => tracing::warn!(node = %name, "unreadable node id among the dead"),
                }
            } else if let (Some(json), Some(node)) = (entry.strip_prefix("C:"), dead.last_mut()) {
                node.connections.push(serde_json::from_str(json)?);
            }
        }
        Ok(dead)
    }

    async fn remove_node(&self, node: &NodeId) -> Result<Vec<Connection>, StoreError> {
        let keys = vec![self.key(&["nodes"])];
        let args = vec![node.as_str().to_owned(), self.prefix()];
        let jsons: Vec<String> = self.run(&self.scripts.remove_node, keys, args).await?;
        jsons
            .iter()
            .map(|json| serde_json::from_str(json).map_err(StoreError::from))
            .collect()
    }

    async fn create_pair(&self, pair: &Pair) -> Result<bool, StoreError> {
        if pair.initiator == pair.responder {
            return Ok(false);
        }
        let room = pair.room_id.to_string();
        let keys = vec![
            self.key(&["pair:", &pair.initiator.to_string()]),
            self.key(&["pair:", &pair.responder.to_string()]),
            self.key(&["room:", &room]),
            self.key(&["rooms"]),
        ];
        let deadline = self.now().saturating_add(self.config.pair_ttl);
        let args = vec![
            room,
            serde_json::to_string(pair)?,
            millis(self.config.pair_ttl).to_string(),
            deadline.unix_millis().to_string(),
        ];
        let created: i64 = self.run(&self.scripts.create_pair, keys, args).await?;
        Ok(created == 1)
    }

    async fn pair_of(&self, guest: &GuestId) -> Result<Option<Pair>, StoreError> {
        // One script reads the guest's room and the room's pair in a single round trip.
        Ok(self.chat_of(guest).await?.map(|(pair, _)| pair))
    }

    async fn chat_of(&self, guest: &GuestId) -> Result<Option<(Pair, bool)>, StoreError> {
        let gid = guest.to_string();
        let keys = vec![self.key(&["pair:", &gid]), self.key(&["away"])];
        let args = vec![self.prefix(), gid];
        let reply: Vec<String> = self.run(&self.scripts.chat_of, keys, args).await?;
        let [json, away] = &reply[..] else {
            return Ok(None);
        };
        let pair: Pair = serde_json::from_str(json)?;
        Ok(Some((pair, away == "1")))
    }

    async fn end_pair(&self, room: &RoomId) -> Result<Option<Pair>, StoreError> {
        let room = room.to_string();
        let keys = vec![self.key(&["room:", &room]), self.key(&["rooms"])];
        let until = self.now().saturating_add(self.config.last_partner_ttl);
        let args = vec![
            room,
            self.prefix(),
            millis(self.config.last_partner_ttl).to_string(),
            until.unix_millis().to_string(),
        ];
        let json: Option<String> = self.run(&self.scripts.end_pair, keys, args).await?;
        parse(json)
    }

    async fn last_partner(&self, guest: &GuestId) -> Result<Option<GuestId>, StoreError> {
        let partner: Option<String> = self
            .client
            .get(self.key(&["last:", &guest.to_string()]))
            .await
            .map_err(backend)?;
        // Stored as "<partner>|<until ms>": the key's TTL frees the memory, the deadline keeps
        // expiry exact against the store's clock.
        let Some(entry) = partner else {
            return Ok(None);
        };
        let corrupt = || StoreError::Corrupt(format!("last partner {entry:?}"));
        let (partner, until) = entry.split_once('|').ok_or_else(corrupt)?;
        let until: i64 = until.parse().map_err(|_| corrupt())?;
        if until <= self.now().unix_millis() {
            return Ok(None);
        }
        partner.parse().map(Some).map_err(|_| corrupt())
    }

    async fn set_away(&self, guest: &GuestId, until: Timestamp) -> Result<(), StoreError> {
        let keys = vec![self.key(&["away"])];
        let args = vec![guest.to_string(), until.unix_millis().to_string()];
        self.run::<Value>(&self.scripts.set_away, keys, args)
            .await
            .map(drop)
    }

    async fn away_until(&self, guest: &GuestId) -> Result<Option<Timestamp>, StoreError> {
        let until: Option<f64> = self
            .client
            .zscore(self.key(&["away"]), guest.to_string())
            .await
            .map_err(backend)?;
        Ok(until.map(|ms| Timestamp::from_unix_millis(ms as i64)))
    }

    async fn clear_away(&self, guest: &GuestId) -> Result<bool, StoreError> {
        let removed: i64 = self
            .client
            .zrem(self.key(&["away"]), guest.to_string())
            .await
            .map_err(backend)?;
        Ok(removed == 1)
    }

    async fn take_overdue_away(&self, limit: usize) -> Result<Vec<GuestId>, StoreError> {
        let keys = vec![self.key(&["away"])];
        let args = vec![self.now().unix_millis().to_string(), limit.to_string()];
        let guests: Vec<String> = self
            .run(&self.scripts.take_overdue_away, keys, args)
            .await?;
        Ok(guests.iter().filter_map(|g| g.parse().ok()).collect())
    }

    async fn hold_message(
        &self,
        guest: &GuestId,
        message: Vec<u8>,
        capacity: usize,
    ) -> Result<bool, StoreError> {
        let key = self.key(&["held:", &guest.to_string()]);
        let args: Vec<Value> = vec![
            Value::Bytes(message.into()),
            Value::from(capacity.to_string()),
            Value::from(millis(self.config.pair_ttl).to_string()),
        ];
        let held: i64 = self
            .scripts
            .hold
            .evalsha_with_reload(&self.client, vec![key], args)
            .await
            .map_err(backend)?;
        Ok(held == 1)
    }

    async fn take_held(&self, guest: &GuestId) -> Result<Vec<Vec<u8>>, StoreError> {
        let key = self.key(&["held:", &guest.to_string()]);
        let held: Vec<Value> = self
            .scripts
            .take_held
            .evalsha_with_reload(&self.client, vec![key], Vec::<String>::new())
            .await
            .map_err(backend)?;
        Ok(held
            .into_iter()
            .filter_map(|value| value.as_bytes().map(<[u8]>::to_vec))
            .collect())
    }

    async fn clear_held(&self, guest: &GuestId) -> Result<(), StoreError> {
        let key = self.key(&["held:", &guest.to_string()]);
        let _: i64 = self.client.del(key).await.map_err(backend)?;
        Ok(())
    }

    async fn stats(&self) -> Result<PresenceStats, StoreError> {
        let keys = vec![
            self.key(&["sessions"]),
            self.key(&["nodes"]),
            self.key(&["rooms"]),
        ];
        let args = vec![self.now().unix_millis().to_string(), self.prefix()];
        let counts: Vec<i64> = self.run(&self.scripts.stats, keys, args).await?;
        let [total, online, rooms, sockets, nodes] = counts[..] else {
            return Err(StoreError::Corrupt(format!("stats returned {counts:?}")));
        };
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(PresenceStats {
            total_sessions: count(total),
            online_guests: count(online),
            active_rooms: count(rooms),
            connected_sockets: count(sockets),
            live_nodes: count(nodes),
        })
    }
}

/// The Lua scripts. Times are Unix milliseconds passed in by the caller, so every node judges
/// expiry by the same clock it uses elsewhere.
mod lua {
    /// KEYS: session, sessions. ARGV: json, sid, expires_ms, ttl_ms.
    pub(super) const CREATE_SESSION: &str = r#"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return 1
"#;

    /// KEYS: session, sessions. ARGV: sid, now_ms, new_expires_ms, new_expires_rfc3339, ttl_ms.
    pub(super) const EXTEND_SESSION: &str = r#"
local json = redis.call('GET', KEYS[1])
if not json then return false end
local session = cjson.decode(json)
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) <= tonumber(ARGV[2]) then return false end
if tonumber(ARGV[3]) <= tonumber(score) then return json end
session['guest']['expiresAt'] = ARGV[4]
json = cjson.encode(session)
redis.call('SET', KEYS[1], json, 'PX', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return json
"#;

    /// KEYS: session, sessions. ARGV: sid.
    pub(super) const REVOKE_SESSION: &str = r#"
local json = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return json
"#;

    /// KEYS: sessions. ARGV: now_ms, limit, prefix. Returns sid, json-or-"" pairs.
    pub(super) const TAKE_EXPIRED: &str = r#"
local sids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, sid in ipairs(sids) do
  redis.call('ZREM', KEYS[1], sid)
  local key = ARGV[3] .. 'session:' .. sid
  local json = redis.call('GET', key)
  redis.call('DEL', key)
  table.insert(out, sid)
  table.insert(out, json or '')
end
return out
"#;

    /// KEYS: conn, node conns, nodes.
    /// ARGV: json, gid, socket, node, prefix, conn_ttl_ms, now_ms, implicit_deadline_ms,
    /// node_record_ttl_ms. Returns the replaced connection's json.
    pub(super) const REGISTER_CONNECTION: &str = r#"
local previous = redis.call('GET', KEYS[1])
if previous then
  local old = cjson.decode(previous)
  local old_key = ARGV[5] .. 'node:' .. old['nodeId'] .. ':conns'
  if redis.call('HGET', old_key, ARGV[2]) == old['socketId'] then
    redis.call('HDEL', old_key, ARGV[2])
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[6])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local deadline = redis.call('ZSCORE', KEYS[3], ARGV[4])
if not deadline or tonumber(deadline) <= tonumber(ARGV[7]) then
  redis.call('ZADD', KEYS[3], ARGV[8], ARGV[4])
end
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[9]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[9])
end
if redis.call('PTTL', KEYS[3]) < 86400000 then
  redis.call('PEXPIRE', KEYS[3], 86400000)
end
return previous
"#;

    /// KEYS: conn. ARGV: gid, socket, prefix.
    pub(super) const UNREGISTER_CONNECTION: &str = r#"
local json = redis.call('GET', KEYS[1])
if not json then return 0 end
local conn = cjson.decode(json)
if conn['socketId'] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
local node_key = ARGV[3] .. 'node:' .. conn['nodeId'] .. ':conns'
if redis.call('HGET', node_key, ARGV[1]) == ARGV[2] then
  redis.call('HDEL', node_key, ARGV[1])
end
return 1
"#;

    /// KEYS: conn, nodes. ARGV: now_ms. The connection only while its node lives.
    pub(super) const CONNECTION: &str = r#"
local json = redis.call('GET', KEYS[1])
if not json then return false end
local conn = cjson.decode(json)
local deadline = redis.call('ZSCORE', KEYS[2], conn['nodeId'])
if not deadline or tonumber(deadline) <= tonumber(ARGV[1]) then return false end
return json
"#;

    /// KEYS: nodes, node, node conns. ARGV: node, deadline_ms, sockets, record_ttl_ms.
    pub(super) const HEARTBEAT: &str = r#"
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], 86400000)
redis.call('HSET', KEYS[2], 'sockets', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 1
"#;

    /// Shared by CLAIM_DEAD_NODES and REMOVE_NODE: removes one node and appends its connections.
    macro_rules! remove_node_fn {
        () => {
            r#"
local function remove_node(nodes_key, prefix, node, out)
  local conns_key = prefix .. 'node:' .. node .. ':conns'
  local entries = redis.call('HGETALL', conns_key)
  for i = 1, #entries, 2 do
    local conn_key = prefix .. 'conn:' .. entries[i]
    local json = redis.call('GET', conn_key)
    if json then
      local conn = cjson.decode(json)
      if conn['nodeId'] == node and conn['socketId'] == entries[i + 1] then
        redis.call('DEL', conn_key)
        table.insert(out, json)
      end
    end
  end
  redis.call('DEL', conns_key, prefix .. 'node:' .. node)
  return redis.call('ZREM', nodes_key, node)
end
"#
        };
    }

    /// KEYS: nodes. ARGV: now_ms, prefix. Returns "N:<node>" then "C:<json>" per connection.
    pub(super) const CLAIM_DEAD_NODES: &str = concat!(
        remove_node_fn!(),
        r#"
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out = {}
for _, node in ipairs(dead) do
  local conns = {}
  remove_node(KEYS[1], ARGV[2], node, conns)
  table.insert(out, 'N:' .. node)
  for _, json in ipairs(conns) do table.insert(out, 'C:' .. json) end
end
return out
"#
    );

    /// KEYS: nodes. ARGV: node, prefix. Returns the node's connections.
    pub(super) const REMOVE_NODE: &str = concat!(
        remove_node_fn!(),
        r#"
local out = {}
remove_node(KEYS[1], ARGV[2], ARGV[1], out)
return out
"#
    );

    /// KEYS: pair a, pair b, room, rooms. ARGV: room, json, ttl_ms, deadline_ms.
    pub(super) const CREATE_PAIR: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
redis.call('PEXPIRE', KEYS[4], ARGV[3])
return 1
"#;

    /// KEYS: room, rooms. ARGV: room, prefix, last_partner_ttl_ms, last_partner_until_ms.
    pub(super) const END_PAIR: &str = r#"
local json = redis.call('GET', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not json then return false end
redis.call('DEL', KEYS[1])
local pair = cjson.decode(json)
local guests = { pair['initiator'], pair['responder'] }
for i, guest in ipairs(guests) do
  local pair_key = ARGV[2] .. 'pair:' .. guest
  if redis.call('GET', pair_key) == ARGV[1] then redis.call('DEL', pair_key) end
  redis.call('SET', ARGV[2] .. 'last:' .. guest, guests[3 - i] .. '|' .. ARGV[4], 'PX', ARGV[3])
  redis.call('ZREM', ARGV[2] .. 'away', guest)
  redis.call('DEL', ARGV[2] .. 'held:' .. guest)
end
return json
"#;

    /// KEYS: held. ARGV: message, capacity, ttl_ms. 1 when held, 0 when full.
    pub(super) const HOLD: &str = r#"
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"#;

    /// KEYS: pair, away. ARGV: prefix, gid. The pair's json and "1" when the partner is away;
    /// nothing when the guest is in no pair.
    pub(super) const CHAT_OF: &str = r#"
local room = redis.call('GET', KEYS[1])
if not room then return {} end
local json = redis.call('GET', ARGV[1] .. 'room:' .. room)
if not json then return {} end
local pair = cjson.decode(json)
local partner = pair['initiator']
if partner == ARGV[2] then partner = pair['responder'] end
local away = redis.call('ZSCORE', KEYS[2], partner)
if away then return { json, '1' } end
return { json, '0' }
"#;

    /// KEYS: away. ARGV: guest, until_ms.
    pub(super) const SET_AWAY: &str = r#"
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], 86400000)
return 1
"#;

    /// KEYS: away. ARGV: now_ms, limit. The guests whose grace is over, removed.
    pub(super) const TAKE_OVERDUE_AWAY: &str = r#"
local overdue = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, guest in ipairs(overdue) do redis.call('ZREM', KEYS[1], guest) end
return overdue
"#;

    /// KEYS: held. Every held message, oldest first; the list is gone afterwards.
    pub(super) const TAKE_HELD: &str = r#"
local held = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return held
"#;

    /// KEYS: sessions, nodes, rooms. ARGV: now_ms, prefix.
    /// Returns total sessions, online guests, active rooms, connected sockets, live nodes.
    pub(super) const STATS: &str = r#"
local now = tonumber(ARGV[1])
local total = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local rooms = redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf')
local nodes = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')
local online, sockets = 0, 0
for _, node in ipairs(nodes) do
  online = online + redis.call('HLEN', ARGV[2] .. 'node:' .. node .. ':conns')
  sockets = sockets + (tonumber(redis.call('HGET', ARGV[2] .. 'node:' .. node, 'sockets')) or 0)
end
return { total, online, rooms, sockets, #nodes }
"#;
}
