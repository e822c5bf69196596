//! What the behaviour suites share: the fixture on either backend.
//!
//! Each scenario is an `async fn(Fixture)`; `backend_suite!` runs it once against `MemoryStore`
//! (module `memory`) and once against `RedisStore` on a real Redis server (module `redis`), so
//! the CI log shows the same test names passing for both. Time is a `ManualClock` shared by the
//! store and the test: expiry is exercised by moving it, never by sleeping.

// Each suite uses a part of what is here.
#![allow(dead_code, unused_imports, unused_macros, unreachable_pub)]

pub use std::sync::Arc;
pub use std::time::Duration;

pub use duet_auth::{Clock, GuestId, ManualClock, Session, Timestamp, Username};
pub use duet_presence_store::{
    ChatStore, Connection, KeepLimits, Kept, KeptEntry, LastSeen, NodeId, Pair, PresenceStore,
    RoomId, SessionStore, Stores,
};

pub struct Fixture {
    pub sessions: Arc<dyn SessionStore>,
    pub presence: Arc<dyn PresenceStore>,
    pub chats: Arc<dyn ChatStore>,
    pub stores: Stores,
    pub clock: ManualClock,
    /// Removes the Redis store's keys when the test ends.
    _redis_keys: Option<duet_test_support::RedisKeysCleanup>,
}

impl Fixture {
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub async fn new_session(&self, ttl_secs: u64) -> Session {
        let name = Username::random();
        let session = Session::start(name, self.now(), Duration::from_secs(ttl_secs));
        self.sessions
            .create_session(&session)
            .await
            .unwrap_or_else(|e| panic!("create_session: {e}"));
        session
    }

    /// Empties the Redis store as a Redis restarted without persistence would; `false` (and
    /// nothing done) for the memory store.
    pub fn lose_redis_state(&self) -> bool {
        let Some(keys) = &self._redis_keys else {
            return false;
        };
        duet_test_support::remove_redis_keys(keys.url(), keys.prefix())
            .unwrap_or_else(|e| panic!("cannot empty Redis: {e}"));
        true
    }

    pub fn connection(&self, guest: GuestId, node: &NodeId, socket: &str) -> Connection {
        Connection {
            guest_id: guest,
            node_id: node.clone(),
            socket_id: socket.to_owned(),
            connected_at: self.now(),
            username: "guest".to_owned(),
            session_expires_at: self.now(),
            address_tag: None,
        }
    }
}

/// Unwraps a store result, naming the call that failed.
macro_rules! ok_ {
    ($call:expr) => {
        $call
            .await
            .unwrap_or_else(|e| panic!("{} failed: {e}", stringify!($call)))
    };
}

pub const HEARTBEAT: Duration = Duration::from_secs(10);
pub(crate) use ok_ as ok;

impl Fixture {
    fn on(stores: Stores, clock: ManualClock) -> Self {
        Self {
            sessions: Arc::clone(&stores.sessions),
            presence: Arc::clone(&stores.presence),
            chats: Arc::clone(&stores.chats),
            stores,
            clock,
            _redis_keys: None,
        }
    }
}

pub async fn memory_fixture() -> Fixture {
    let clock = ManualClock::new();
    let store =
        duet_presence_store::MemoryStore::with_config(Default::default(), Arc::new(clock.clone()));
    Fixture::on(Stores::shared(store), clock)
}

#[cfg(feature = "redis")]
pub async fn redis_fixture(test: &str) -> Option<Fixture> {
    use duet_presence_store::{RedisStore, RedisStoreConfig};
    let (keys, client) = duet_test_support::redis_for_test(test).await?;
    let clock = ManualClock::new();
    let config = RedisStoreConfig::default().with_key_prefix(keys.prefix());
    let store = RedisStore::with_clock(client, config, Arc::new(clock.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut fixture = Fixture::on(Stores::shared(store), clock);
    fixture._redis_keys = Some(keys);
    Some(fixture)
}

pub async fn futures_join(f: &Fixture, count: usize, ttl_secs: u64) -> Vec<Session> {
    let mut sessions = Vec::new();
    for _ in 0..count {
        sessions.push(f.new_session(ttl_secs).await);
    }
    sessions
}
