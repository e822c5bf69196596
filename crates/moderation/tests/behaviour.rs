//! One behaviour suite for both moderation backends: `backend_suite!` runs each scenario
//! against `MemoryModeration` (module `memory`) and against `RedisModeration` on a real Redis
//! (module `redis`, feature `redis`). Time is a `ManualClock` shared with the store.

use std::sync::Arc;
use std::time::Duration;

use duet_core::{BanId, GuestId, ManualClock, ReportId, RoomId, Timestamp};
use duet_moderation::{
    AddressKey, AddressTag, Ban, BanSource, BanTarget, MemoryModeration, ModerationCounts,
    ModerationStore, Report, ReportQuery, ReportReason, SentMessage,
};

struct Fixture {
    store: Arc<dyn ModerationStore>,
    clock: ManualClock,
    _redis_keys: Option<duet_test_support::RedisKeysCleanup>,
}

impl Fixture {
    fn now(&self) -> Timestamp {
        self.store.clock().now()
    }

    fn report(&self, reporter: GuestId, reported: GuestId) -> Report {
        Report {
            id: ReportId::random(),
            created_at: self.now(),
            reporter,
            reported,
            room_id: RoomId::random(),
            reason: ReportReason::Harassment,
            note: Some("rude".to_owned()),
            reported_address: Some(address("192.0.2.9")),
            evidence: vec![SentMessage {
                text: Some("hello".to_owned()),
                file_name: None,
                sent_at: self.now(),
            }],
        }
    }

    fn ban(&self, target: BanTarget, seconds: u64) -> Ban {
        Ban::new(
            target,
            "test",
            BanSource::Operator,
            self.now(),
            Duration::from_secs(seconds),
        )
    }
}

fn address(ip: &str) -> AddressTag {
    AddressKey::new(b"suite").tag(ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}")))
}

macro_rules! ok {
    ($call:expr) => {
        $call
            .await
            .unwrap_or_else(|e| panic!("{} failed: {e}", stringify!($call)))
    };
}

const HOUR: Duration = Duration::from_secs(3600);
const MONTH: Duration = Duration::from_secs(30 * 86_400);

async fn memory_fixture() -> Fixture {
    let clock = ManualClock::new();
    Fixture {
        store: Arc::new(MemoryModeration::with_clock(Arc::new(clock.clone()))),
        clock,
        _redis_keys: None,
    }
}

#[cfg(feature = "redis")]
async fn redis_fixture(test: &str) -> Option<Fixture> {
    use duet_moderation::{RedisModeration, RedisModerationConfig};
    let (keys, client) = duet_test_support::redis_for_test(test).await?;
    let clock = ManualClock::new();
    let config = RedisModerationConfig {
        key_prefix: keys.prefix().to_owned(),
    };
    let store = RedisModeration::with_clock(client, config, Arc::new(clock.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    Some(Fixture {
        store: Arc::new(store),
        clock,
        _redis_keys: Some(keys),
    })
}

async fn distinct_reporters_are_counted_within_the_window(f: Fixture) {
    let troll = GuestId::random();
    let (ada, bob, cy) = (GuestId::random(), GuestId::random(), GuestId::random());
    assert_eq!(
        ok!(f.store.record_report(&f.report(ada, troll), HOUR, MONTH)),
        1
    );
    // The same reporter again counts once.
    assert_eq!(
        ok!(f.store.record_report(&f.report(ada, troll), HOUR, MONTH)),
        1
    );
    f.clock.advance(Duration::from_secs(1800));
    assert_eq!(
        ok!(f.store.record_report(&f.report(bob, troll), HOUR, MONTH)),
        2
    );
    // Reports about someone else do not count for the troll.
    assert_eq!(
        ok!(f.store.record_report(&f.report(cy, ada), HOUR, MONTH)),
        1
    );
    // An hour after ada's last report, only bob's counts, then cy's joins it.
    f.clock.advance(Duration::from_secs(1801));
    assert_eq!(
        ok!(f.store.record_report(&f.report(cy, troll), HOUR, MONTH)),
        2
    );
}

async fn reports_are_listed_newest_first_paged_filtered_and_expire(f: Fixture) {
    let troll = GuestId::random();
    let mut made = Vec::new();
    for n in 0..5 {
        let reported = if n % 2 == 0 { troll } else { GuestId::random() };
        let report = f.report(GuestId::random(), reported);
        ok!(f.store.record_report(&report, HOUR, MONTH));
        made.push(report);
        f.clock.advance(Duration::from_secs(1));
    }
    let all = ok!(f.store.reports(&ReportQuery {
        reported: None,
        offset: 0,
        limit: 10
    }));
    assert_eq!(all.total, 5);
    let ids: Vec<ReportId> = all.reports.iter().map(|r| r.id).collect();
    let newest_first: Vec<ReportId> = made.iter().rev().map(|r| r.id).collect();
    assert_eq!(ids, newest_first);
    assert_eq!(
        all.reports[0], made[4],
        "a report comes back as it was recorded"
    );

    let page = ok!(f.store.reports(&ReportQuery {
        reported: None,
        offset: 1,
        limit: 2
    }));
    assert_eq!(page.total, 5);
    assert_eq!(
        page.reports.iter().map(|r| r.id).collect::<Vec<_>>(),
        newest_first[1..3]
    );

    let of_troll = ok!(f.store.reports(&ReportQuery {
        reported: Some(troll),
        offset: 0,
        limit: 10
    }));
    assert_eq!(of_troll.total, 3);
    assert!(of_troll.reports.iter().all(|r| r.reported == troll));
    assert_eq!(ok!(f.store.counts()).reports, 5);

    f.clock.advance(MONTH);
    let gone = ok!(f.store.reports(&ReportQuery {
        reported: None,
        offset: 0,
        limit: 10
    }));
    assert_eq!((gone.total, gone.reports.len()), (0, 0));
    assert_eq!(ok!(f.store.counts()).reports, 0);
}

async fn a_ban_holds_until_it_expires_or_is_lifted(f: Fixture) {
    let guest = GuestId::random();
    let tag = address("198.51.100.1");
    assert_eq!(ok!(f.store.ban_of(Some(&guest), Some(&tag))), None);
    let version = ok!(f.store.bans_version());
    let ban = f.ban(BanTarget::GuestId(guest), 60);
    ok!(f.store.ban(&ban));
    assert_ne!(
        ok!(f.store.bans_version()),
        version,
        "a ban changes the version"
    );
    assert_eq!(ok!(f.store.ban_of(Some(&guest), None)), Some(ban.clone()));
    assert_eq!(
        ok!(f.store.ban_of(Some(&guest), Some(&tag))),
        Some(ban.clone())
    );
    assert_eq!(
        ok!(f.store.ban_of(Some(&GuestId::random()), Some(&tag))),
        None
    );
    assert_eq!(ok!(f.store.bans()), vec![ban.clone()]);
    assert_eq!(
        ok!(f.store.counts()),
        ModerationCounts {
            reports: 0,
            active_bans: 1
        }
    );

    f.clock.advance(Duration::from_secs(60));
    assert_eq!(ok!(f.store.ban_of(Some(&guest), None)), None, "expired");
    assert_eq!(ok!(f.store.bans()), Vec::<Ban>::new());
    assert_eq!(ok!(f.store.counts()).active_bans, 0);

    let by_address = f.ban(BanTarget::Address(tag.clone()), 600);
    ok!(f.store.ban(&by_address));
    assert_eq!(
        ok!(f.store.ban_of(Some(&guest), Some(&tag))),
        Some(by_address.clone())
    );
    let version = ok!(f.store.bans_version());
    assert!(ok!(f.store.lift(&by_address.id)));
    assert_ne!(
        ok!(f.store.bans_version()),
        version,
        "lifting changes the version"
    );
    assert_eq!(ok!(f.store.ban_of(None, Some(&tag))), None);
    assert!(!ok!(f.store.lift(&by_address.id)), "already lifted");
    assert!(!ok!(f.store.lift(&BanId::random())));
}

async fn a_new_ban_of_a_target_replaces_the_old_and_the_later_of_two_targets_wins(f: Fixture) {
    let guest = GuestId::random();
    let tag = address("203.0.113.5");
    let long = f.ban(BanTarget::GuestId(guest), 3600);
    ok!(f.store.ban(&long));
    // An operator shortens it: the new ban replaces the old one.
    let short = f.ban(BanTarget::GuestId(guest), 60);
    ok!(f.store.ban(&short));
    assert_eq!(ok!(f.store.ban_of(Some(&guest), None)), Some(short.clone()));
    assert_eq!(ok!(f.store.bans()), vec![short.clone()]);
    assert!(!ok!(f.store.lift(&long.id)), "the replaced ban is gone");

    let by_address = f.ban(BanTarget::Address(tag.clone()), 120);
    ok!(f.store.ban(&by_address));
    assert_eq!(
        ok!(f.store.ban_of(Some(&guest), Some(&tag))),
        Some(by_address.clone())
    );
    assert_eq!(ok!(f.store.bans()).len(), 2);
    f.clock.advance(Duration::from_secs(120));
    assert_eq!(ok!(f.store.ban_of(Some(&guest), Some(&tag))), None);
}

async fn a_token_is_claimed_once(f: Fixture) {
    let until = f.now().saturating_add(Duration::from_secs(60));
    assert!(ok!(f.store.claim_once("challenge-a", until)));
    assert!(!ok!(f.store.claim_once("challenge-a", until)));
    assert!(ok!(f.store.claim_once("challenge-b", until)));
    // A claim that would end before it starts is refused: its proof has expired.
    assert!(!ok!(f.store.claim_once("challenge-c", f.now())));
}

async fn the_last_messages_sent_in_a_room_are_kept(f: Fixture) {
    let (guest, room) = (GuestId::random(), RoomId::random());
    let message = |n: u32| SentMessage {
        text: Some(format!("m{n}")),
        file_name: None,
        sent_at: f.now(),
    };
    for n in 0..5 {
        ok!(f.store.remember_sent(&guest, &room, &message(n), 3, HOUR));
    }
    let kept = ok!(f.store.sent_recently(&guest, &room));
    let texts: Vec<_> = kept.iter().filter_map(|m| m.text.clone()).collect();
    assert_eq!(texts, ["m2", "m3", "m4"]);
    assert_eq!(
        ok!(f.store.sent_recently(&guest, &RoomId::random())),
        Vec::new()
    );
    // Keeping none keeps nothing.
    let other = GuestId::random();
    ok!(f.store.remember_sent(&other, &room, &message(9), 0, HOUR));
    assert_eq!(ok!(f.store.sent_recently(&other, &room)), Vec::new());
}

async fn the_guests_of_one_device_are_known_to_each_other_while_they_live(f: Fixture) {
    let (a, b, c) = (GuestId::random(), GuestId::random(), GuestId::random());
    let soon = f.now().saturating_add(Duration::from_secs(60));
    let later = f.now().saturating_add(HOUR);
    assert_eq!(ok!(f.store.note_device("tab-device", &a, soon)), Vec::new());
    assert_eq!(ok!(f.store.note_device("tab-device", &b, later)), vec![a]);
    assert_eq!(
        ok!(f.store.note_device("other-device", &c, later)),
        Vec::new()
    );
    f.clock.advance(Duration::from_secs(61));
    // a's session is over: only b is still there.
    assert_eq!(ok!(f.store.note_device("tab-device", &c, later)), vec![b]);
}

duet_test_support::backend_suite!(
    memory: memory_fixture,
    redis: redis_fixture,
    scenarios: [
        distinct_reporters_are_counted_within_the_window,
        reports_are_listed_newest_first_paged_filtered_and_expire,
        a_ban_holds_until_it_expires_or_is_lifted,
        a_new_ban_of_a_target_replaces_the_old_and_the_later_of_two_targets_wins,
        a_token_is_claimed_once,
        the_last_messages_sent_in_a_room_are_kept,
        the_guests_of_one_device_are_known_to_each_other_while_they_live,
    ]
);
