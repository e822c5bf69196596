//! The behaviour suite of sessions (`SessionStore`): each scenario runs once against `MemoryStore`
//! (module `memory`) and once against `RedisStore` on a real Redis server (module `redis`).

mod common;

use common::*;

async fn sessions_can_be_created_read_and_revoked(f: Fixture) {
    let session = f.new_session(3600).await;
    assert_eq!(ok!(f.sessions.session(&session.id)), Some(session.clone()));
    assert_eq!(
        ok!(f.sessions.revoke_session(&session.id)),
        Some(session.clone())
    );
    assert_eq!(ok!(f.sessions.session(&session.id)), None);
    assert_eq!(ok!(f.sessions.revoke_session(&session.id)), None);
    let unknown = Session::start(Username::random(), f.now(), Duration::from_secs(60));
    assert_eq!(ok!(f.sessions.session(&unknown.id)), None);
}

async fn sessions_expire_at_their_expiry(f: Fixture) {
    let session = f.new_session(60).await;
    f.clock.advance(Duration::from_millis(59_000));
    assert!(ok!(f.sessions.session(&session.id)).is_some());
    f.clock.advance(Duration::from_millis(1_000));
    assert_eq!(ok!(f.sessions.session(&session.id)), None);
    assert_eq!(
        ok!(f
            .sessions
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
        ok!(f.sessions.extend_session(&session.id, later)).unwrap_or_else(|| panic!("live"));
    assert_eq!(extended.expires_at(), later);
    assert_eq!(extended.guest.id, session.guest.id);
    assert_eq!(
        ok!(f.sessions.session(&session.id)).map(|s| s.expires_at()),
        Some(later)
    );
    let earlier = f.now().saturating_add(Duration::from_secs(1));
    let unchanged = ok!(f.sessions.extend_session(&session.id, earlier)).map(|s| s.expires_at());
    assert_eq!(unchanged, Some(later));
    // The old expiry has passed, the new one has not.
    f.clock.advance(Duration::from_secs(120));
    assert!(ok!(f.sessions.session(&session.id)).is_some());
    assert!(ok!(f.sessions.take_expired_sessions(100)).is_empty());
}

async fn each_expired_session_is_taken_exactly_once(f: Fixture) {
    let short: Vec<Session> = futures_join(&f, 5, 30).await;
    let long = f.new_session(3600).await;
    f.clock.advance(Duration::from_secs(31));
    let (a, b) = tokio::join!(
        f.sessions.take_expired_sessions(3),
        f.sessions.take_expired_sessions(3)
    );
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    let rest = ok!(f.sessions.take_expired_sessions(100));
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
    assert!(ok!(f.sessions.take_expired_sessions(100)).is_empty());
    assert!(ok!(f.sessions.session(&long.id)).is_some());
    assert!(ok!(f.stores.stats()).total_sessions >= 1);
}

duet_test_support::backend_suite!(
    memory: memory_fixture,
    redis: redis_fixture,
    scenarios: [
    sessions_can_be_created_read_and_revoked,
    sessions_expire_at_their_expiry,
    extending_a_session_moves_its_expiry_and_never_shortens_it,
    each_expired_session_is_taken_exactly_once,
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
    let store: Arc<dyn SessionStore> = Arc::new(memory.clone());
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
