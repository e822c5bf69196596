//! The behaviour suite of pairs, recent partners, away marks and held messages
//! (`ChatStore`): each scenario runs once against `MemoryStore`
//! (module `memory`) and once against `RedisStore` on a real Redis server (module `redis`).

mod common;

use common::*;

async fn a_guest_is_in_at_most_one_pair(f: Fixture) {
    let [a, b, c] = [
        f.new_session(3600).await.guest.id,
        f.new_session(3600).await.guest.id,
        f.new_session(3600).await.guest.id,
    ];
    let ab = Pair::new(a, b, f.now());
    let ac = Pair::new(a, c, f.now());
    let (first, second) = tokio::join!(f.chats.create_pair(&ab), f.chats.create_pair(&ac));
    let created = [first.unwrap_or(false), second.unwrap_or(false)];
    assert_eq!(created.iter().filter(|c| **c).count(), 1, "{created:?}");
    let winner = if created[0] { &ab } else { &ac };
    assert_eq!(ok!(f.chats.pair_of(&a)), Some(winner.clone()));
    assert_eq!(
        ok!(f.chats.pair_of(&winner.responder)),
        Some(winner.clone())
    );
    assert!(!ok!(f.chats.create_pair(&Pair::new(c, c, f.now()))));
    assert_eq!(ok!(f.stores.stats()).active_rooms, 1);
}

async fn ending_a_pair_happens_once_and_remembers_partners(f: Fixture) {
    let a = f.new_session(3600).await.guest.id;
    let b = f.new_session(3600).await.guest.id;
    let pair = Pair::new(a, b, f.now());
    assert!(ok!(f.chats.create_pair(&pair)));
    assert_eq!(pair.partner_of(&a), Some(b));
    let (first, second) = tokio::join!(
        f.chats.end_pair(&pair.room_id),
        f.chats.end_pair(&pair.room_id)
    );
    let ended: Vec<_> = [first.ok().flatten(), second.ok().flatten()]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ended, vec![pair.clone()]);
    assert_eq!(ok!(f.chats.pair_of(&a)), None);
    assert_eq!(ok!(f.chats.pair_of(&b)), None);
    assert_eq!(ok!(f.chats.last_partner(&a)), Some(b));
    assert_eq!(ok!(f.chats.last_partner(&b)), Some(a));
    assert_eq!(ok!(f.stores.stats()).active_rooms, 0);
    // Both may pair again, with anyone.
    assert!(ok!(f.chats.create_pair(&Pair::new(b, a, f.now()))));
}

async fn last_partners_are_forgotten_after_a_while(f: Fixture) {
    let a = f.new_session(3600 * 3).await.guest.id;
    let b = f.new_session(3600 * 3).await.guest.id;
    let pair = Pair::new(a, b, f.now());
    ok!(f.chats.create_pair(&pair));
    ok!(f.chats.end_pair(&pair.room_id));
    f.clock.advance(Duration::from_secs(3599));
    assert_eq!(ok!(f.chats.last_partner(&a)), Some(b));
    f.clock.advance(Duration::from_secs(2));
    assert_eq!(ok!(f.chats.last_partner(&a)), None);
    assert_eq!(ok!(f.chats.last_partner(&b)), None);
}

async fn held_messages_come_back_in_order_and_end_with_the_pair(f: Fixture) {
    let a = f.new_session(3600).await.guest.id;
    let b = f.new_session(3600).await.guest.id;
    let pair = Pair::new(a, b, f.now()).with_names("Ada", "Bob");
    ok!(f.chats.create_pair(&pair));
    assert_eq!(
        ok!(f.chats.pair_of(&b)).map(|p| p.responder_name),
        Some("Bob".to_owned())
    );
    assert_eq!(ok!(f.chats.chat_of(&a)), Some((pair.clone(), false)));
    let until = f.now().saturating_add(Duration::from_secs(15));
    ok!(f.chats.set_away(&b, until));
    assert_eq!(ok!(f.chats.away_until(&b)), Some(until));
    assert_eq!(ok!(f.chats.chat_of(&a)), Some((pair.clone(), true)));
    assert_eq!(ok!(f.chats.chat_of(&b)), Some((pair.clone(), false)));
    for i in 0..3u8 {
        assert!(ok!(f.chats.hold_message(&b, vec![i, 0xff], 3)));
    }
    assert!(
        !ok!(f.chats.hold_message(&b, vec![9], 3)),
        "a full buffer refuses"
    );
    assert_eq!(
        ok!(f.chats.take_held(&b)),
        vec![vec![0, 0xff], vec![1, 0xff], vec![2, 0xff]]
    );
    assert!(ok!(f.chats.take_held(&b)).is_empty());
    assert!(
        ok!(f.chats.take_overdue_away(10)).is_empty(),
        "the grace is not over"
    );
    assert!(ok!(f.chats.clear_away(&b)));
    assert!(!ok!(f.chats.clear_away(&b)));
    ok!(f
        .chats
        .set_away(&a, f.now().saturating_add(Duration::from_secs(5))));
    f.clock.advance(Duration::from_secs(5));
    assert_eq!(ok!(f.chats.take_overdue_away(10)), vec![a]);
    assert!(ok!(f.chats.take_overdue_away(10)).is_empty(), "taken once");
    assert_eq!(ok!(f.chats.away_until(&a)), None);
    let until = f.now().saturating_add(Duration::from_secs(15));
    ok!(f.chats.set_away(&b, until));
    ok!(f.chats.hold_message(&b, vec![7], 3));
    ok!(f.chats.clear_held(&b));
    assert!(ok!(f.chats.take_held(&b)).is_empty());
    ok!(f.chats.hold_message(&b, vec![8], 3));
    ok!(f.chats.end_pair(&pair.room_id));
    assert_eq!(ok!(f.chats.chat_of(&a)), None);
    assert_eq!(ok!(f.chats.away_until(&b)), None);
    assert!(ok!(f.chats.take_held(&b)).is_empty());
}

duet_test_support::backend_suite!(
    memory: memory_fixture,
    redis: redis_fixture,
    scenarios: [
    a_guest_is_in_at_most_one_pair,
    ending_a_pair_happens_once_and_remembers_partners,
    last_partners_are_forgotten_after_a_while,
    held_messages_come_back_in_order_and_end_with_the_pair,
    ]
);
