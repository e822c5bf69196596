//! One behaviour suite for every presence-store backend.
//!
//! Each scenario below is an `async fn(Fixture)`; `backend_suite!` runs it once against
//! `MemoryStore` (module `memory`) and once against `RedisStore` on a real Redis server (module
//! `redis`), so the CI log shows the same test names passing for both. Time is a `ManualClock`
//! shared by the store and the test: expiry is exercised by moving it, never by sleeping.

use std::sync::Arc;
use std::time::Duration;

use duet_auth::{Clock, GuestId, ManualClock, Session, Timestamp, Username};
use duet_presence_store::{Connection, NodeId, Pair, PresenceStore};

struct Fixture {
    store: Arc<dyn PresenceStore>,
    clock: ManualClock,
    /// Removes the Redis store's keys when the test ends.
    _redis_keys: Option<duet_test_support::RedisKeysCleanup>,
}

impl Fixture {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn new_session(&self, ttl_secs: u64) -> Session {
        let name = Username::random();
        let session = Session::start(name, self.now(), Duration::from_secs(ttl_secs));
        self.store
            .create_session(&session)
            .await
            .unwrap_or_else(|e| panic!("create_session: {e}"));
        session
    }

    fn connection(&self, guest: GuestId, node: &NodeId, socket: &str) -> Connection {
        Connection {
            guest_id: guest,
            node_id: node.clone(),
            socket_id: socket.to_owned(),
            connected_at: self.now(),
            username: "guest".to_owned(),
            session_expires_at: self.now(),
        }
    }
}

/// Unwraps a store result, naming the call that failed.
macro_rules! ok {
    ($call:expr) => {
        $call
            .await
            .unwrap_or_else(|e| panic!("{} failed: {e}", stringify!($call)))
    };
}

const HEARTBEAT: Duration = Duration::from_secs(10);

async fn sessions_can_be_created_read_and_revoked(f: Fixture) {
    let session = f.new_session(3600).await;
    assert_eq!(ok!(f.store.session(&session.id)), Some(session.clone()));
    assert_eq!(
        ok!(f.store.revoke_session(&session.id)),
        Some(session.clone())
    );
    assert_eq!(ok!(f.store.session(&session.id)), None);
    assert_eq!(ok!(f.store.revoke_session(&session.id)), None);
    let unknown = Session::start(Username::random(), f.now(), Duration::from_secs(60));
    assert_eq!(ok!(f.store.session(&unknown.id)), None);
}

async fn sessions_expire_at_their_expiry(f: Fixture) {
    let session = f.new_session(60).await;
    f.clock.advance(Duration::from_millis(59_000));
    assert!(ok!(f.store.session(&session.id)).is_some());
    f.clock.advance(Duration::from_millis(1_000));
    assert_eq!(ok!(f.store.session(&session.id)), None);
    assert_eq!(
        ok!(f
            .store
            .extend_session(&session.id, f.now().saturating_add(HEARTBEAT))),
        None
    );
}

async fn extending_a_session_moves_its_expiry_and_never_shortens_it(f: Fixture) {
    let session = f.new_session(60).await;
    let later = session
        .expires_at()
        .saturating_add(Duration::from_secs(600));
    let extended =
        ok!(f.store.extend_session(&session.id, later)).unwrap_or_else(|| panic!("live"));
    assert_eq!(extended.expires_at(), later);
    assert_eq!(extended.guest.id, session.guest.id);
    assert_eq!(
        ok!(f.store.session(&session.id)).map(|s| s.expires_at()),
        Some(later)
    );
    let earlier = f.now().saturating_add(Duration::from_secs(1));
    let unchanged = ok!(f.store.extend_session(&session.id, earlier)).map(|s| s.expires_at());
    assert_eq!(unchanged, Some(later));
    // The old expiry has passed, the new one has not.
    f.clock.advance(Duration::from_secs(120));
    assert!(ok!(f.store.session(&session.id)).is_some());
    assert!(ok!(f.store.take_expired_sessions(100)).is_empty());
}

async fn each_expired_session_is_taken_exactly_once(f: Fixture) {
    let short: Vec<Session> = futures_join(&f, 5, 30).await;
    let long = f.new_session(3600).await;
    f.clock.advance(Duration::from_secs(31));
    let (a, b) = tokio::join!(
        f.store.take_expired_sessions(3),
        f.store.take_expired_sessions(3)
    );
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    let rest = ok!(f.store.take_expired_sessions(100));
    let mut taken: Vec<_> = a
        .iter()
        .chain(&b)
        .chain(&rest)
        .map(|e| e.session_id)
        .collect();
    taken.sort();
    let mut expected: Vec<_> = short.iter().map(|s| s.id).collect();
    expected.sort();
    assert_eq!(taken, expected);
    for expired in a.iter().chain(&b).chain(&rest) {
        let session = short.iter().find(|s| s.id == expired.session_id);
        assert_eq!(session.map(|s| s.guest.id), Some(expired.guest_id));
    }
    assert!(ok!(f.store.take_expired_sessions(100)).is_empty());
    assert!(ok!(f.store.session(&long.id)).is_some());
    assert!(ok!(f.store.stats()).total_sessions >= 1);
}

async fn futures_join(f: &Fixture, count: usize, ttl_secs: u64) -> Vec<Session> {
    let mut sessions = Vec::new();
    for _ in 0..count {
        sessions.push(f.new_session(ttl_secs).await);
    }
    sessions
}

async fn a_new_connection_replaces_the_old_one(f: Fixture) {
    let guest = f.new_session(3600).await.guest.id;
    let (node_a, node_b) = (NodeId::random(), NodeId::random());
    ok!(f.store.heartbeat(&node_a, 1, HEARTBEAT));
    ok!(f.store.heartbeat(&node_b, 1, HEARTBEAT));
    let first = f.connection(guest, &node_a, "socket-1");
    assert_eq!(ok!(f.store.register_connection(&first)), None);
    assert_eq!(ok!(f.store.connection(&guest)), Some(first.clone()));
    let second = f.connection(guest, &node_b, "socket-2");
    assert_eq!(ok!(f.store.register_connection(&second)), Some(first));
    // The replaced socket disconnects late: it must not remove its successor.
    assert!(!ok!(f.store.unregister_connection(&guest, "socket-1")));
    assert_eq!(ok!(f.store.connection(&guest)), Some(second));
    let stats = ok!(f.store.stats());
    assert_eq!(stats.online_guests, 1);
    assert!(ok!(f.store.unregister_connection(&guest, "socket-2")));
    assert_eq!(ok!(f.store.connection(&guest)), None);
    assert_eq!(ok!(f.store.stats()).online_guests, 0);
}

async fn connections_on_a_dead_node_vanish_and_are_claimed_once(f: Fixture) {
    let (alive, dead) = (NodeId::random(), NodeId::random());
    ok!(f.store.heartbeat(&alive, 1, Duration::from_secs(60)));
    ok!(f.store.heartbeat(&dead, 2, HEARTBEAT));
    let g1 = f.new_session(3600).await.guest.id;
    let g2 = f.new_session(3600).await.guest.id;
    let g3 = f.new_session(3600).await.guest.id;
    ok!(f.store.register_connection(&f.connection(g1, &dead, "d1")));
    ok!(f.store.register_connection(&f.connection(g2, &dead, "d2")));
    ok!(f.store.register_connection(&f.connection(g3, &alive, "a1")));
    assert_eq!(ok!(f.store.live_nodes()).len(), 2);
    assert_eq!(ok!(f.store.stats()).online_guests, 3);
    assert!(ok!(f.store.claim_dead_nodes()).is_empty());

    f.clock.advance(HEARTBEAT);
    assert_eq!(ok!(f.store.live_nodes()), vec![alive.clone()]);
    assert_eq!(ok!(f.store.connection(&g1)), None);
    assert!(ok!(f.store.connection(&g3)).is_some());
    let stats = ok!(f.store.stats());
    assert_eq!(
        (
            stats.online_guests,
            stats.live_nodes,
            stats.connected_sockets
        ),
        (1, 1, 1)
    );

    let (a, b) = tokio::join!(f.store.claim_dead_nodes(), f.store.claim_dead_nodes());
    let claims: Vec<_> = a
        .unwrap_or_default()
        .into_iter()
        .chain(b.unwrap_or_default())
        .collect();
    assert_eq!(claims.len(), 1, "{claims:?}");
    assert_eq!(claims[0].node_id, dead);
    let mut guests: Vec<_> = claims[0].connections.iter().map(|c| c.guest_id).collect();
    guests.sort();
    let mut expected = vec![g1, g2];
    expected.sort();
    assert_eq!(guests, expected);
    assert!(ok!(f.store.claim_dead_nodes()).is_empty());
}

async fn removing_a_node_returns_its_connections(f: Fixture) {
    let node = NodeId::random();
    ok!(f.store.heartbeat(&node, 2, HEARTBEAT));
    let g1 = f.new_session(3600).await.guest.id;
    let g2 = f.new_session(3600).await.guest.id;
    ok!(f.store.register_connection(&f.connection(g1, &node, "s1")));
    ok!(f.store.register_connection(&f.connection(g2, &node, "s2")));
    let mut removed: Vec<_> = ok!(f.store.remove_node(&node))
        .into_iter()
        .map(|c| c.guest_id)
        .collect();
    removed.sort();
    let mut expected = vec![g1, g2];
    expected.sort();
    assert_eq!(removed, expected);
    assert!(ok!(f.store.live_nodes()).is_empty());
    assert_eq!(ok!(f.store.connection(&g1)), None);
    assert!(ok!(f.store.remove_node(&node)).is_empty());
}

async fn a_connection_without_heartbeat_counts_its_node_alive_for_a_while(f: Fixture) {
    let node = NodeId::random();
    let guest = f.new_session(3600).await.guest.id;
    ok!(f
        .store
        .register_connection(&f.connection(guest, &node, "s")));
    assert!(ok!(f.store.connection(&guest)).is_some());
    assert_eq!(ok!(f.store.live_nodes()), vec![node]);
    f.clock.advance(Duration::from_secs(11));
    assert_eq!(ok!(f.store.connection(&guest)), None);
}

async fn a_guest_is_in_at_most_one_pair(f: Fixture) {
    let [a, b, c] = [
        f.new_session(3600).await.guest.id,
        f.new_session(3600).await.guest.id,
        f.new_session(3600).await.guest.id,
    ];
    let ab = Pair::new(a, b, f.now());
    let ac = Pair::new(a, c, f.now());
    let (first, second) = tokio::join!(f.store.create_pair(&ab), f.store.create_pair(&ac));
    let created = [first.unwrap_or(false), second.unwrap_or(false)];
    assert_eq!(created.iter().filter(|c| **c).count(), 1, "{created:?}");
    let winner = if created[0] { &ab } else { &ac };
    assert_eq!(ok!(f.store.pair_of(&a)), Some(winner.clone()));
    assert_eq!(
        ok!(f.store.pair_of(&winner.responder)),
        Some(winner.clone())
    );
    assert!(!ok!(f.store.create_pair(&Pair::new(c, c, f.now()))));
    assert_eq!(ok!(f.store.stats()).active_rooms, 1);
}

async fn ending_a_pair_happens_once_and_remembers_partners(f: Fixture) {
    let a = f.new_session(3600).await.guest.id;
    let b = f.new_session(3600).await.guest.id;
    let pair = Pair::new(a, b, f.now());
    assert!(ok!(f.store.create_pair(&pair)));
    assert_eq!(pair.partner_of(&a), Some(b));
    let (first, second) = tokio::join!(
        f.store.end_pair(&pair.room_id),
        f.store.end_pair(&pair.room_id)
    );
    let ended: Vec<_> = [first.ok().flatten(), second.ok().flatten()]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ended, vec![pair.clone()]);
    assert_eq!(ok!(f.store.pair_of(&a)), None);
    assert_eq!(ok!(f.store.pair_of(&b)), None);
    assert_eq!(ok!(f.store.last_partner(&a)), Some(b));
    assert_eq!(ok!(f.store.last_partner(&b)), Some(a));
    assert_eq!(ok!(f.store.stats()).active_rooms, 0);
    // Both may pair again, with anyone.
    assert!(ok!(f.store.create_pair(&Pair::new(b, a, f.now()))));
}

async fn last_partners_are_forgotten_after_a_while(f: Fixture) {
    let a = f.new_session(3600 * 3).await.guest.id;
    let b = f.new_session(3600 * 3).await.guest.id;
    let pair = Pair::new(a, b, f.now());
    ok!(f.store.create_pair(&pair));
    ok!(f.store.end_pair(&pair.room_id));
    f.clock.advance(Duration::from_secs(3599));
    assert_eq!(ok!(f.store.last_partner(&a)), Some(b));
    f.clock.advance(Duration::from_secs(2));
    assert_eq!(ok!(f.store.last_partner(&a)), None);
    assert_eq!(ok!(f.store.last_partner(&b)), None);
}

async fn held_messages_come_back_in_order_and_end_with_the_pair(f: Fixture) {
    let a = f.new_session(3600).await.guest.id;
    let b = f.new_session(3600).await.guest.id;
    let pair = Pair::new(a, b, f.now()).with_names("Ada", "Bob");
    ok!(f.store.create_pair(&pair));
    assert_eq!(
        ok!(f.store.pair_of(&b)).map(|p| p.responder_name),
        Some("Bob".to_owned())
    );
    assert_eq!(ok!(f.store.chat_of(&a)), Some((pair.clone(), false)));
    let until = f.now().saturating_add(Duration::from_secs(15));
    ok!(f.store.set_away(&b, until));
    assert_eq!(ok!(f.store.away_until(&b)), Some(until));
    assert_eq!(ok!(f.store.chat_of(&a)), Some((pair.clone(), true)));
    assert_eq!(ok!(f.store.chat_of(&b)), Some((pair.clone(), false)));
    for i in 0..3u8 {
        assert!(ok!(f.store.hold_message(&b, vec![i, 0xff], 3)));
    }
    assert!(
        !ok!(f.store.hold_message(&b, vec![9], 3)),
        "a full buffer refuses"
    );
    assert_eq!(
        ok!(f.store.take_held(&b)),
        vec![vec![0, 0xff], vec![1, 0xff], vec![2, 0xff]]
    );
    assert!(ok!(f.store.take_held(&b)).is_empty());
    assert!(
        ok!(f.store.take_overdue_away(10)).is_empty(),
        "the grace is not over"
    );
    assert!(ok!(f.store.clear_away(&b)));
    assert!(!ok!(f.store.clear_away(&b)));
    ok!(f
        .store
        .set_away(&a, f.now().saturating_add(Duration::from_secs(5))));
    f.clock.advance(Duration::from_secs(5));
    assert_eq!(ok!(f.store.take_overdue_away(10)), vec![a]);
    assert!(ok!(f.store.take_overdue_away(10)).is_empty(), "taken once");
    assert_eq!(ok!(f.store.away_until(&a)), None);
    let until = f.now().saturating_add(Duration::from_secs(15));
    ok!(f.store.set_away(&b, until));
    ok!(f.store.hold_message(&b, vec![7], 3));
    ok!(f.store.clear_held(&b));
    assert!(ok!(f.store.take_held(&b)).is_empty());
    ok!(f.store.hold_message(&b, vec![8], 3));
    ok!(f.store.end_pair(&pair.room_id));
    assert_eq!(ok!(f.store.chat_of(&a)), None);
    assert_eq!(ok!(f.store.away_until(&b)), None);
    assert!(ok!(f.store.take_held(&b)).is_empty());
}

async fn stats_count_sessions_guests_rooms_sockets_and_nodes(f: Fixture) {
    let empty = ok!(f.store.stats());
    assert_eq!(empty, Default::default());
    let node = NodeId::random();
    ok!(f.store.heartbeat(&node, 3, HEARTBEAT));
    let guests: Vec<GuestId> = futures_join(&f, 4, 3600)
        .await
        .iter()
        .map(|s| s.guest.id)
        .collect();
    for (i, guest) in guests.iter().take(3).enumerate() {
        ok!(f
            .store
            .register_connection(&f.connection(*guest, &node, &format!("s{i}"))));
    }
    ok!(f
        .store
        .create_pair(&Pair::new(guests[0], guests[1], f.now())));
    let stats = ok!(f.store.stats());
    assert_eq!(stats.total_sessions, 4);
    assert_eq!(stats.online_guests, 3);
    assert_eq!(stats.active_rooms, 1);
    assert_eq!(stats.connected_sockets, 3);
    assert_eq!(stats.live_nodes, 1);
    ok!(f.store.ping());
}

async fn memory_fixture() -> Fixture {
    let clock = ManualClock::new();
    let store =
        duet_presence_store::MemoryStore::with_config(Default::default(), Arc::new(clock.clone()));
    Fixture {
        store: Arc::new(store),
        clock,
        _redis_keys: None,
    }
}

#[cfg(feature = "redis")]
async fn redis_fixture(test: &str) -> Option<Fixture> {
    use duet_presence_store::{RedisStore, RedisStoreConfig};
    let keys = duet_test_support::RedisKeysCleanup::for_test(test)?;
    let client = duet_core::redis::connect(keys.url())
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at {}: {e}", keys.url()));
    let clock = ManualClock::new();
    let config = RedisStoreConfig::default().with_key_prefix(keys.prefix());
    let store = RedisStore::with_clock(client, config, Arc::new(clock.clone()));
    Some(Fixture {
        store: Arc::new(store),
        clock,
        _redis_keys: Some(keys),
    })
}

duet_test_support::backend_suite!(
    memory: memory_fixture,
    redis: redis_fixture,
    scenarios: [
    sessions_can_be_created_read_and_revoked,
    sessions_expire_at_their_expiry,
    extending_a_session_moves_its_expiry_and_never_shortens_it,
    each_expired_session_is_taken_exactly_once,
    a_new_connection_replaces_the_old_one,
    connections_on_a_dead_node_vanish_and_are_claimed_once,
    removing_a_node_returns_its_connections,
    a_connection_without_heartbeat_counts_its_node_alive_for_a_while,
    a_guest_is_in_at_most_one_pair,
    ending_a_pair_happens_once_and_remembers_partners,
    last_partners_are_forgotten_after_a_while,
    stats_count_sessions_guests_rooms_sockets_and_nodes,
    held_messages_come_back_in_order_and_end_with_the_pair,
    ]
);

/// The memory backend's background sweep, driven by Tokio's paused clock.
#[tokio::test(start_paused = true)]
async fn memory_sweeper_removes_expired_sessions_in_the_background() {
    let f = memory_fixture().await;
    let memory = duet_presence_store::MemoryStore::with_config(
        Default::default(),
        Arc::new(f.clock.clone()),
    );
    let store: Arc<dyn PresenceStore> = Arc::new(memory.clone());
    let session = Session::start(Username::random(), f.now(), Duration::from_secs(5));
    ok!(store.create_session(&session));
    assert_eq!(memory.held_sessions(), 1);
    f.clock.advance(Duration::from_secs(6));
    tokio::time::advance(Duration::from_secs(2)).await;
    // Let the sweep task run its due tick.
    tokio::task::yield_now().await;
    assert_eq!(memory.held_sessions(), 0);
    let expired = ok!(store.take_expired_sessions(10));
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].guest_id, session.guest.id);
}
