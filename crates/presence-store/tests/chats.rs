//! The behaviour suite of pairs, recent partners, away marks and each guest's log
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
    let loser = if created[0] { c } else { b };
    assert_eq!(
        ok!(f.chats.pairs_of(&[winner.responder, loser, a])),
        vec![Some(winner.clone()), None, Some(winner.clone())]
    );
    assert_eq!(ok!(f.chats.pairs_of(&[])), vec![]);
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
    assert_eq!(ok!(f.chats.last_chat(&a)).map(|c| c.partner), Some(b));
    assert_eq!(ok!(f.chats.last_chat(&b)).map(|c| c.partner), Some(a));
    let last = ok!(f.chats.last_chat(&a));
    assert_eq!(
        last.map(|c| (c.room_id, c.ended_at)),
        Some((pair.room_id, f.now()))
    );
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
    assert_eq!(ok!(f.chats.last_chat(&a)).map(|c| c.partner), Some(b));
    f.clock.advance(Duration::from_secs(2));
    assert_eq!(ok!(f.chats.last_chat(&a)), None);
    assert_eq!(ok!(f.chats.last_chat(&b)), None);
}

async fn away_marks_end_once_when_their_time_is_up(f: Fixture) {
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
    ok!(f.chats.set_away(&b, until));
    ok!(f.chats.end_pair(&pair.room_id));
    assert_eq!(ok!(f.chats.chat_of(&a)), None);
    assert_eq!(ok!(f.chats.away_until(&b)), None);
}

const LIMITS: KeepLimits = KeepLimits {
    entries: 3,
    bytes: 64,
    total_bytes: 1 << 20,
    live_for: Duration::from_secs(15),
};

fn seen(pair: &Pair, seq: u64) -> Option<LastSeen> {
    Some(LastSeen {
        room_id: pair.room_id,
        seq,
    })
}

fn seqs(entries: &[KeptEntry]) -> Vec<u64> {
    entries.iter().map(|kept| kept.seq).collect()
}

async fn a_log_numbers_what_is_sent_and_replays_what_was_missed(f: Fixture) {
    let a = f.new_session(3600).await.guest.id;
    let b = f.new_session(3600).await.guest.id;
    let pair = Pair::new(a, b, f.now());
    ok!(f.chats.create_pair(&pair));
    // Connected: a ring of the most recent three.
    for i in 1..=5u64 {
        assert_eq!(
            ok!(f.chats.keep(&b, vec![i as u8, 0xff], &LIMITS)),
            Kept::Live(i)
        );
    }
    let back = ok!(f.chats.come_back(&b, seen(&pair, 3)));
    assert_eq!((back.pair.as_ref(), back.was_away), (Some(&pair), false));
    assert_eq!(seqs(&back.entries), [4, 5]);
    assert_eq!(back.entries[0].entry, [4, 0xff]);
    assert_eq!(
        seqs(&ok!(f.chats.come_back(&b, seen(&pair, 0))).entries),
        [3, 4, 5]
    );
    assert!(
        ok!(f.chats.come_back(&b, None)).entries.is_empty(),
        "nothing was held"
    );
    let other_room = Pair::new(a, b, f.now());
    assert!(
        ok!(f.chats.come_back(&b, seen(&other_room, 0)))
            .entries
            .is_empty(),
        "what was seen of another chat counts for nothing"
    );

    // Away: everything is held, beyond the limits the sender is refused.
    ok!(f
        .chats
        .set_away(&b, f.now().saturating_add(Duration::from_secs(15))));
    for seq in 6..=8 {
        assert_eq!(
            ok!(f.chats.keep(&b, b"held".to_vec(), &LIMITS)),
            Kept::Held(seq)
        );
    }
    assert_eq!(
        ok!(f.chats.keep(&b, b"more".to_vec(), &LIMITS)),
        Kept::Refused
    );
    let back = ok!(f.chats.come_back(&b, None));
    assert!(back.was_away);
    assert_eq!(seqs(&back.entries), [6, 7, 8]);
    // Kept while those are on their way: held, and handed out by the release, never sent live
    // ahead of them; once a release finds nothing new, entries go live again.
    assert_eq!(ok!(f.chats.keep(&b, vec![9], &LIMITS)), Kept::Held(9));
    let released = ok!(f.chats.release_hold(&b));
    assert_eq!(
        (seqs(&released), &released[0].entry[..]),
        (vec![9], &[9][..])
    );
    assert!(ok!(f.chats.release_hold(&b)).is_empty());
    assert_eq!(ok!(f.chats.keep(&b, vec![10], &LIMITS)), Kept::Live(10));
    assert!(ok!(f.chats.release_hold(&b)).is_empty(), "no hold");

    // An entry that could not be sent starts the hold, for a client that names nothing.
    assert_eq!(ok!(f.chats.keep(&b, vec![11], &LIMITS)), Kept::Live(11));
    ok!(f.chats.hold_since(&b, 11));
    assert_eq!(ok!(f.chats.keep(&b, vec![12], &LIMITS)), Kept::Held(12));
    assert_eq!(seqs(&ok!(f.chats.come_back(&b, None)).entries), [11, 12]);
    assert!(ok!(f.chats.release_hold(&b)).is_empty());
    assert_eq!(ok!(f.chats.keep(&b, vec![0; 40], &LIMITS)), Kept::Live(13));

    // A new socket taking over holds as well; a marker replaces what was kept.
    assert!(ok!(f.chats.hold_for_return(&b)));
    assert_eq!(ok!(f.chats.keep(&b, vec![0; 40], &LIMITS)), Kept::Held(14));
    assert_eq!(
        ok!(f.chats.keep(&b, vec![0; 40], &LIMITS)),
        Kept::Refused,
        "80 held bytes exceed 64"
    );
    assert_eq!(
        ok!(f.chats.keep_marker(&b, b"cleared".to_vec())),
        Kept::Held(15)
    );
    let back = ok!(f.chats.come_back(&b, seen(&pair, 7)));
    assert_eq!(seqs(&back.entries), [15]);
    assert_eq!(back.entries[0].entry, b"cleared");

    // The end of the chat drops the logs; a marker kept after it is all a returning guest gets.
    ok!(f.chats.end_pair(&pair.room_id));
    assert!(!ok!(f.chats.hold_for_return(&a)));
    assert_eq!(
        ok!(f.chats.keep_marker(&b, b"ended".to_vec())),
        Kept::Live(1)
    );
    assert!(ok!(f.chats.hold_for_return(&b)), "an end to come back to");
    let back = ok!(f.chats.come_back(&b, seen(&pair, 40)));
    assert_eq!((back.pair, seqs(&back.entries)), (None, vec![1]));
    assert!(
        ok!(f.chats.come_back(&b, None)).entries.is_empty(),
        "taken once"
    );
    ok!(f.chats.keep_marker(&a, b"ended".to_vec()));
    ok!(f.chats.forget_kept(&a));
    assert!(ok!(f.chats.come_back(&a, None)).entries.is_empty());
}

async fn entries_for_a_connected_guest_last_the_grace_held_ones_longer(f: Fixture) {
    let a = f.new_session(3600).await.guest.id;
    let b = f.new_session(3600).await.guest.id;
    let pair = Pair::new(a, b, f.now());
    ok!(f.chats.create_pair(&pair));
    ok!(f.chats.keep(&b, vec![1], &LIMITS));
    f.clock.advance(Duration::from_secs(10));
    ok!(f.chats.keep(&b, vec![2], &LIMITS));
    f.clock.advance(Duration::from_secs(6));
    ok!(f.chats.keep(&b, vec![3], &LIMITS));
    assert_eq!(
        seqs(&ok!(f.chats.come_back(&b, seen(&pair, 0))).entries),
        [2, 3],
        "the first was sent more than the grace ago"
    );
    ok!(f
        .chats
        .set_away(&b, f.now().saturating_add(Duration::from_secs(60))));
    ok!(f.chats.keep(&b, vec![4], &LIMITS));
    f.clock.advance(Duration::from_secs(30));
    ok!(f.chats.keep(&b, vec![5], &LIMITS));
    assert_eq!(seqs(&ok!(f.chats.come_back(&b, None)).entries), [4, 5]);
}

async fn keeping_in_a_chat_checks_the_chat_in_the_same_call(f: Fixture) {
    let [a, b, c] = [
        f.new_session(3600).await.guest.id,
        f.new_session(3600).await.guest.id,
        f.new_session(3600).await.guest.id,
    ];
    let pair = Pair::new(a, b, f.now());
    ok!(f.chats.create_pair(&pair));
    let keep = |sender, room, recipient| {
        let chats = Arc::clone(&f.chats);
        async move {
            chats
                .keep_in_chat(&sender, &room, &recipient, b"hi".to_vec(), &LIMITS)
                .await
        }
    };
    assert_eq!(ok!(keep(a, pair.room_id, b)), Some(Kept::Live(1)));
    assert_eq!(ok!(keep(a, pair.room_id, b)), Some(Kept::Live(2)));
    assert_eq!(ok!(keep(b, pair.room_id, a)), Some(Kept::Live(1)));
    assert_eq!(ok!(keep(a, pair.room_id, c)), None, "not the partner");
    assert_eq!(ok!(keep(c, pair.room_id, b)), None, "not in the chat");
    assert_eq!(ok!(keep(a, RoomId::random(), b)), None, "another room");
    ok!(f
        .chats
        .set_away(&b, f.now().saturating_add(Duration::from_secs(15))));
    assert_eq!(ok!(keep(a, pair.room_id, b)), Some(Kept::Held(3)));
    ok!(f.chats.end_pair(&pair.room_id));
    assert_eq!(ok!(keep(a, pair.room_id, b)), None, "the chat ended");
    assert!(ok!(f.chats.come_back(&b, None)).entries.is_empty());
}

async fn the_store_wide_byte_limit_holds_across_guests(f: Fixture) {
    let guests = [
        f.new_session(3600).await.guest.id,
        f.new_session(3600).await.guest.id,
    ];
    let limits = KeepLimits {
        entries: 10,
        bytes: 1000,
        total_bytes: 250,
        live_for: Duration::from_secs(15),
    };
    let mut pairs = Vec::new();
    for guest in &guests {
        let partner = f.new_session(3600).await.guest.id;
        let pair = Pair::new(*guest, partner, f.now());
        assert!(ok!(f.chats.create_pair(&pair)));
        pairs.push(pair);
        ok!(f
            .chats
            .set_away(guest, f.now().saturating_add(Duration::from_secs(15))));
        assert!(matches!(
            ok!(f.chats.keep(guest, vec![0; 100], &limits)),
            Kept::Held(1)
        ));
    }
    assert_eq!(
        ok!(f.chats.keep(&guests[1], vec![0; 100], &limits)),
        Kept::Refused
    );
    // A connected guest's entries still go out, numbered, without being kept.
    ok!(f.chats.come_back(&guests[1], None));
    assert!(ok!(f.chats.release_hold(&guests[1])).is_empty());
    assert_eq!(
        ok!(f.chats.keep(&guests[1], vec![0; 100], &limits)),
        Kept::Unkept(2)
    );
    assert_eq!(
        ok!(f.chats.come_back(&guests[1], seen(&pairs[1], 1))).entries,
        []
    );
    assert!(ok!(f.chats.release_hold(&guests[1])).is_empty());
    // Room comes back when a log goes.
    ok!(f.chats.forget_kept(&guests[0]));
    assert_eq!(
        ok!(f.chats.keep(&guests[1], vec![0; 100], &limits)),
        Kept::Live(3)
    );
    assert_eq!(
        seqs(&ok!(f.chats.come_back(&guests[1], seen(&pairs[1], 1))).entries),
        [3]
    );
}

duet_test_support::backend_suite!(
    memory: memory_fixture,
    redis: redis_fixture,
    scenarios: [
    a_guest_is_in_at_most_one_pair,
    ending_a_pair_happens_once_and_remembers_partners,
    last_partners_are_forgotten_after_a_while,
    away_marks_end_once_when_their_time_is_up,
    a_log_numbers_what_is_sent_and_replays_what_was_missed,
    the_store_wide_byte_limit_holds_across_guests,
    keeping_in_a_chat_checks_the_chat_in_the_same_call,
    entries_for_a_connected_guest_last_the_grace_held_ones_longer,
    ]
);
