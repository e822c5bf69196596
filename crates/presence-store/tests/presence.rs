//! The behaviour suite of connections and nodes (`PresenceStore`), and the counts of
//! all three stores: each scenario runs once against `MemoryStore`
//! (module `memory`) and once against `RedisStore` on a real Redis server (module `redis`).

mod common;

use common::*;

async fn a_new_connection_replaces_the_old_one(f: Fixture) {
    let guest = f.new_session(3600).await.guest.id;
    let (node_a, node_b) = (NodeId::random(), NodeId::random());
    ok!(f.presence.heartbeat(&node_a, 1, HEARTBEAT));
    ok!(f.presence.heartbeat(&node_b, 1, HEARTBEAT));
    let first = f.connection(guest, &node_a, "socket-1");
    assert_eq!(ok!(f.presence.register_connection(&first)), None);
    assert_eq!(ok!(f.presence.connection(&guest)), Some(first.clone()));
    let second = f.connection(guest, &node_b, "socket-2");
    assert_eq!(ok!(f.presence.register_connection(&second)), Some(first));
    // The replaced socket disconnects late: it must not remove its successor.
    assert!(!ok!(f.presence.unregister_connection(&guest, "socket-1")));
    assert_eq!(ok!(f.presence.connection(&guest)), Some(second));
    let stats = ok!(f.stores.stats());
    assert_eq!(stats.online_guests, 1);
    assert!(ok!(f.presence.unregister_connection(&guest, "socket-2")));
    assert_eq!(ok!(f.presence.connection(&guest)), None);
    assert_eq!(ok!(f.stores.stats()).online_guests, 0);
}

async fn connections_on_a_dead_node_vanish_and_are_claimed_once(f: Fixture) {
    let (alive, dead) = (NodeId::random(), NodeId::random());
    ok!(f.presence.heartbeat(&alive, 1, Duration::from_secs(60)));
    ok!(f.presence.heartbeat(&dead, 2, HEARTBEAT));
    let g1 = f.new_session(3600).await.guest.id;
    let g2 = f.new_session(3600).await.guest.id;
    let g3 = f.new_session(3600).await.guest.id;
    ok!(f
        .presence
        .register_connection(&f.connection(g1, &dead, "d1")));
    ok!(f
        .presence
        .register_connection(&f.connection(g2, &dead, "d2")));
    ok!(f
        .presence
        .register_connection(&f.connection(g3, &alive, "a1")));
    assert_eq!(ok!(f.presence.live_nodes()).len(), 2);
    assert_eq!(ok!(f.stores.stats()).online_guests, 3);
    assert!(ok!(f.presence.claim_dead_nodes()).is_empty());

    f.clock.advance(HEARTBEAT);
    assert_eq!(ok!(f.presence.live_nodes()), vec![alive.clone()]);
    assert_eq!(ok!(f.presence.connection(&g1)), None);
    assert!(ok!(f.presence.connection(&g3)).is_some());
    let stats = ok!(f.stores.stats());
    assert_eq!(
        (
            stats.online_guests,
            stats.live_nodes,
            stats.connected_sockets
        ),
        (1, 1, 1)
    );

    let (a, b) = tokio::join!(f.presence.claim_dead_nodes(), f.presence.claim_dead_nodes());
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
    assert!(ok!(f.presence.claim_dead_nodes()).is_empty());
}

async fn removing_a_node_returns_its_connections(f: Fixture) {
    let node = NodeId::random();
    ok!(f.presence.heartbeat(&node, 2, HEARTBEAT));
    let g1 = f.new_session(3600).await.guest.id;
    let g2 = f.new_session(3600).await.guest.id;
    ok!(f
        .presence
        .register_connection(&f.connection(g1, &node, "s1")));
    ok!(f
        .presence
        .register_connection(&f.connection(g2, &node, "s2")));
    let mut removed: Vec<_> = ok!(f.presence.remove_node(&node))
        .into_iter()
        .map(|c| c.guest_id)
        .collect();
    removed.sort();
    let mut expected = vec![g1, g2];
    expected.sort();
    assert_eq!(removed, expected);
    assert!(ok!(f.presence.live_nodes()).is_empty());
    assert_eq!(ok!(f.presence.connection(&g1)), None);
    assert!(ok!(f.presence.remove_node(&node)).is_empty());
}

async fn a_connection_without_heartbeat_counts_its_node_alive_for_a_while(f: Fixture) {
    let node = NodeId::random();
    let guest = f.new_session(3600).await.guest.id;
    ok!(f
        .presence
        .register_connection(&f.connection(guest, &node, "s")));
    assert!(ok!(f.presence.connection(&guest)).is_some());
    assert_eq!(ok!(f.presence.live_nodes()), vec![node]);
    f.clock.advance(Duration::from_secs(11));
    assert_eq!(ok!(f.presence.connection(&guest)), None);
}

async fn stats_count_sessions_guests_rooms_sockets_and_nodes(f: Fixture) {
    let empty = ok!(f.stores.stats());
    assert_eq!(empty, Default::default());
    let node = NodeId::random();
    ok!(f.presence.heartbeat(&node, 3, HEARTBEAT));
    let guests: Vec<GuestId> = futures_join(&f, 4, 3600)
        .await
        .iter()
        .map(|s| s.guest.id)
        .collect();
    for (i, guest) in guests.iter().take(3).enumerate() {
        ok!(f
            .presence
            .register_connection(&f.connection(*guest, &node, &format!("s{i}"))));
    }
    ok!(f
        .chats
        .create_pair(&Pair::new(guests[0], guests[1], f.now())));
    let stats = ok!(f.stores.stats());
    assert_eq!(stats.total_sessions, 4);
    assert_eq!(stats.online_guests, 3);
    assert_eq!(stats.active_rooms, 1);
    assert_eq!(stats.connected_sockets, 3);
    assert_eq!(stats.live_nodes, 1);
    ok!(f.sessions.ping());
}

async fn a_store_that_lost_its_state_says_so_once_to_each_node(f: Fixture) {
    let [one, two] = [NodeId::random(), NodeId::random()];
    for node in [&one, &two] {
        assert!(
            !ok!(f.presence.lost_state(node)),
            "the first call only takes note"
        );
        assert!(!ok!(f.presence.lost_state(node)));
    }
    if !f.lose_redis_state() {
        return;
    }
    assert!(ok!(f.presence.lost_state(&one)), "the marker is gone");
    assert!(!ok!(f.presence.lost_state(&one)), "and renewed");
    assert!(
        ok!(f.presence.lost_state(&two)),
        "each node finds out for itself"
    );
}

duet_test_support::backend_suite!(
    memory: memory_fixture,
    redis: redis_fixture,
    scenarios: [
    a_new_connection_replaces_the_old_one,
    connections_on_a_dead_node_vanish_and_are_claimed_once,
    removing_a_node_returns_its_connections,
    a_connection_without_heartbeat_counts_its_node_alive_for_a_while,
    stats_count_sessions_guests_rooms_sockets_and_nodes,
    a_store_that_lost_its_state_says_so_once_to_each_node,
    ]
);
