//! `RedisStore`: the cluster backend, shared by every node (feature `redis`).
//!
//! Every key carries a TTL, and every change that two nodes could race on runs as one Lua
//! script (`lua/*.lua`), so it is atomic on the server. [`keys`] is the only place the key
//! layout is written, and every key a script touches is passed in its `KEYS`.

mod chats;
mod keys;
mod presence;
mod scripts;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

use duet_core::{Clock, SystemClock, Timestamp};
use fred::prelude::{Client, ClientLike, KeysInterface, SortedSetsInterface};

use crate::error::StoreError;
use keys::Keys;
use scripts::{ScriptCall, Scripts};

/// Settings of a [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisStoreConfig {
    /// Prepended to every key (default `duet:`). Give each deployment sharing a Redis its own;
    /// on Redis Cluster it must carry a hash tag (`{duet}:`).
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
    /// How long the shared indexes (`nodes`, `away`) outlive their last write (default 24 h),
    /// so a deployment that stops leaves nothing behind for good.
    pub index_ttl: Duration,
    /// How long an expired session's record stays readable after its expiry (default 5 min),
    /// so that the node that takes it from the expiry index can still learn whose it was.
    pub expired_session_grace: Duration,
}

impl Default for RedisStoreConfig {
    fn default() -> Self {
        Self {
            key_prefix: "duet:".to_owned(),
            pair_ttl: Duration::from_secs(24 * 3600),
            last_partner_ttl: Duration::from_secs(3600),
            connection_ttl: Duration::from_secs(24 * 3600),
            implicit_node_ttl: Duration::from_secs(10),
            index_ttl: Duration::from_secs(24 * 3600),
            expired_session_grace: Duration::from_secs(300),
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

/// How often a script whose inputs changed under it (`retry`) is run again before giving up.
const SCRIPT_RETRIES: usize = 8;

/// Sessions, presence and chats on Redis, shared by every node of a cluster: it implements
/// [`SessionStore`](crate::SessionStore), [`PresenceStore`](crate::PresenceStore) and
/// [`ChatStore`](crate::ChatStore).
#[derive(Clone)]
pub struct RedisStore {
    client: Client,
    config: Arc<RedisStoreConfig>,
    keys: Keys,
    clock: Arc<dyn Clock>,
    scripts: Arc<Scripts>,
    /// The nodes whose marker this store has set or seen (see [`PresenceStore::lost_state`]).
    ///
    /// [`PresenceStore::lost_state`]: crate::PresenceStore::lost_state
    markers_seen: Arc<std::sync::Mutex<std::collections::HashSet<duet_core::NodeId>>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("key_prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on `client` (which should come from `duet_core::redis::connect` or be set up
    /// alike). Refused when `client` talks to a Redis Cluster and the key prefix has no hash
    /// tag: its scripts' keys would then be spread over slots.
    pub fn new(client: Client, config: RedisStoreConfig) -> Result<Self, StoreError> {
        Self::with_clock(client, config, Arc::new(SystemClock))
    }

    /// A store on `client` that reads time from `clock`.
    pub fn with_clock(
        client: Client,
        config: RedisStoreConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        if client.is_clustered() && !keys::has_hash_tag(&config.key_prefix) {
            return Err(StoreError::Config(format!(
                "on Redis Cluster the key prefix {:?} needs a hash tag such as {{duet}}:",
                config.key_prefix
            )));
        }
        Ok(Self {
            client,
            keys: Keys::new(&config.key_prefix),
            config: Arc::new(config),
            clock,
            scripts: Arc::new(Scripts::load()),
            markers_seen: Arc::default(),
        })
    }

    /// The fred client this store uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The clock expiries are judged against.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The string at `key`, if there is one.
    async fn get(&self, key: String) -> Result<Option<String>, StoreError> {
        self.client.get(key).await.map_err(backend)
    }

    /// How many members of the sorted set `key` are scored after now (live deadlines).
    async fn count_live(&self, key: String) -> Result<u64, StoreError> {
        // Scores are whole milliseconds: "after now" starts one millisecond later.
        let after_now = (self.now().unix_millis() + 1) as f64;
        self.client
            .zcount(key, after_now, f64::INFINITY)
            .await
            .map_err(backend)
    }

    async fn call<C: ScriptCall, R: fred::types::FromValue>(
        &self,
        call: C,
    ) -> Result<R, StoreError> {
        let keys = call.keys(&self.keys);
        C::script(&self.scripts)
            .evalsha_with_reload(&self.client, keys, call.args())
            .await
            .map_err(backend)
    }
}

fn backend(error: fred::error::Error) -> StoreError {
    StoreError::Backend(Box::new(error))
}

fn parse<T: serde::de::DeserializeOwned>(json: Option<String>) -> Result<Option<T>, StoreError> {
    json.map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(StoreError::from)
}

/// The error for a script whose inputs kept changing under it.
fn contended(what: &str) -> StoreError {
    StoreError::Backend(format!("{what}: changed under {SCRIPT_RETRIES} attempts in a row").into())
}
