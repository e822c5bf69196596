//! One behaviour suite for both match queues (`memory::` and `redis::`), plus concurrent stress
//! tests of the invariants. Time is a `ManualClock` shared by queue and test.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use duet_core::{Clock, GuestId, ManualClock};
use duet_matchmaker::{Enqueued, Interests, MatchConfig, MatchQueue, MemoryQueue, Pairing, Ticket};

const WAIT: Duration = Duration::from_secs(10);
const TTL: Duration = Duration::from_secs(120);

struct Fixture {
    queue: Arc<dyn MatchQueue>,
    clock: ManualClock,
    /// Removes the Redis queue's keys when the test ends.
    _redis_keys: Option<duet_test_support::RedisKeysCleanup>,
}

fn config() -> MatchConfig {
    MatchConfig::default()
        .with_interest_wait(WAIT)
        .with_ticket_ttl(TTL)
}

async fn memory_fixture() -> Fixture {
    let clock = ManualClock::new();
    let queue = MemoryQueue::with_clock(config(), Arc::new(clock.clone()));
    Fixture {
        queue: Arc::new(queue),
        clock,
        _redis_keys: None,
    }
}

#[cfg(feature = "redis")]
async fn redis_fixture(test: &str) -> Option<Fixture> {
    use duet_matchmaker::{RedisQueue, RedisQueueConfig};
    let (keys, client) = duet_test_support::redis_for_test(test).await?;
    let clock = ManualClock::new();
    let redis = RedisQueueConfig::default().with_key_prefix(keys.prefix());
    let queue = RedisQueue::with_clock(client, config(), redis, Arc::new(clock.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    Some(Fixture {
        queue: Arc::new(queue),
        clock,
        _redis_keys: Some(keys),
    })
}

fn names(interests: &[std::sync::Arc<str>]) -> Vec<&str> {
    interests.iter().map(|i| &**i).collect()
}

fn interests(list: &[&str]) -> Interests {
    Interests::parse(list).unwrap_or_else(|e| panic!("{e}"))
}

impl Fixture {
    async fn enqueue(&self, guest: GuestId, list: &[&str]) -> Enqueued {
        self.enqueue_after(guest, list, None).await
    }

    async fn enqueue_after(
        &self,
        guest: GuestId,
        list: &[&str],
        last: Option<GuestId>,
    ) -> Enqueued {
        let ticket = Ticket::new(guest, interests(list)).with_last_partner(last);
        self.queue
            .enqueue(ticket)
            .await
            .unwrap_or_else(|e| panic!("enqueue: {e}"))
    }

    async fn waits(&self, guest: GuestId, list: &[&str]) {
        assert_eq!(self.enqueue(guest, list).await, Enqueued::Waiting);
    }

    async fn pairs(&self, guest: GuestId, list: &[&str]) -> Pairing {
        match self.enqueue(guest, list).await {
            Enqueued::Paired(pairing) => pairing,
            other => panic!("expected a pairing, got {other:?}"),
        }
    }

    async fn due(&self) -> duet_matchmaker::DueWork {
        self.queue
            .run_due(1000)
            .await
            .unwrap_or_else(|e| panic!("run_due: {e}"))
    }

    async fn count(&self) -> u64 {
        self.queue.waiting_count().await.unwrap_or(u64::MAX)
    }

    async fn is_waiting(&self, guest: GuestId) -> bool {
        self.queue.is_waiting(&guest).await.unwrap_or(false)
    }
}

fn guests<const N: usize>() -> [GuestId; N] {
    std::array::from_fn(|_| GuestId::random())
}

async fn guests_sharing_an_interest_pair_at_once(f: Fixture) {
    let [a, b, c] = guests();
    f.waits(a, &["Rust", "music"]).await;
    f.waits(b, &["jazz"]).await;
    let pair = f.pairs(c, &["chess", "RUST"]).await;
    assert_eq!((pair.initiator.guest, pair.responder.guest), (a, c));
    assert_eq!(names(&pair.common_interests), ["rust"]);
    assert_eq!(pair.initiator.interests, interests(&["rust", "music"]));
    assert_eq!(f.count().await, 1);
    assert!(f.is_waiting(b).await && !f.is_waiting(a).await);
}

async fn guests_without_interests_pair_with_each_other_at_once(f: Fixture) {
    let [a, b, c] = guests();
    f.waits(a, &["rust"]).await;
    f.waits(b, &[]).await;
    let pair = f.pairs(c, &[]).await;
    assert_eq!((pair.initiator.guest, pair.responder.guest), (b, c));
    assert!(pair.common_interests.is_empty());
    assert!(
        f.is_waiting(a).await,
        "a guest with interests is not eligible before its wait"
    );
}

async fn a_guest_with_interests_is_paired_at_random_after_the_wait(f: Fixture) {
    let [a, b] = guests();
    f.waits(a, &["rust"]).await;
    f.clock.advance(Duration::from_secs(3));
    f.waits(b, &[]).await;
    f.clock.advance(WAIT - Duration::from_millis(3001));
    assert!(
        f.due().await.pairings.is_empty(),
        "the wait is not over yet"
    );
    f.clock.advance(Duration::from_millis(1));
    let work = f.due().await;
    assert_eq!(work.pairings.len(), 1);
    let pair = &work.pairings[0];
    assert_eq!((pair.initiator.guest, pair.responder.guest), (a, b));
    assert!(pair.common_interests.is_empty());
    assert_eq!(f.count().await, 0);
}

async fn two_guests_with_unshared_interests_pair_once_both_waited(f: Fixture) {
    let [a, b] = guests();
    f.waits(a, &["rust"]).await;
    f.clock.advance(Duration::from_secs(5));
    f.waits(b, &["jazz"]).await;
    f.clock.advance(Duration::from_secs(5));
    assert!(f.due().await.pairings.is_empty(), "b is not eligible yet");
    f.clock.advance(Duration::from_secs(5));
    let work = f.due().await;
    assert_eq!(work.pairings.len(), 1);
    assert_eq!(work.pairings[0].initiator.guest, a);
}

async fn the_longest_waiting_candidate_is_served_first(f: Fixture) {
    let [a, b, c, d] = guests();
    f.waits(a, &["x"]).await;
    f.waits(b, &["y"]).await;
    // c shares x with a and y with b: a waited longest.
    let pair = f.pairs(c, &["y", "x"]).await;
    assert_eq!((pair.initiator.guest, pair.responder.guest), (a, c));
    assert_eq!(names(&pair.common_interests), ["x"]);
    let pair = f.pairs(d, &["y"]).await;
    assert_eq!((pair.initiator.guest, pair.responder.guest), (b, d));
}

async fn random_pairing_is_first_come_first_served(f: Fixture) {
    let ids: [GuestId; 8] = guests();
    let mut pairs = Vec::new();
    for id in ids {
        if let Enqueued::Paired(pair) = f.enqueue(id, &[]).await {
            pairs.push((pair.initiator.guest, pair.responder.guest));
        }
    }
    let expected: Vec<_> = ids.chunks(2).map(|c| (c[0], c[1])).collect();
    assert_eq!(pairs, expected);
}

async fn asking_again_while_waiting_keeps_the_place(f: Fixture) {
    let [a, z] = guests();
    f.waits(a, &["rust"]).await;
    f.waits(z, &["jazz"]).await;
    f.clock.advance(Duration::from_secs(6));
    assert_eq!(f.enqueue(a, &["other"]).await, Enqueued::AlreadyWaiting);
    assert_eq!(f.count().await, 2);
    f.clock.advance(Duration::from_secs(4));
    let work = f.due().await;
    assert_eq!(
        work.pairings.len(),
        1,
        "a's wait started at its first request"
    );
    assert_eq!(work.pairings[0].initiator.interests, interests(&["rust"]));
}

async fn cancel_removes_the_guest(f: Fixture) {
    let [a, b] = guests();
    f.waits(a, &[]).await;
    assert!(f.queue.cancel(&a).await.unwrap_or(false));
    assert!(!f.queue.cancel(&a).await.unwrap_or(true));
    assert_eq!(f.count().await, 0);
    f.waits(b, &[]).await;
    f.clock.advance(WAIT * 2);
    assert!(f.due().await.pairings.is_empty());
}

async fn recent_partners_wait_for_someone_else(f: Fixture) {
    let [a, b, c, d] = guests();
    f.waits(a, &[]).await;
    assert_eq!(f.enqueue_after(b, &[], Some(a)).await, Enqueued::Waiting);
    let pair = f.pairs(c, &[]).await;
    assert_eq!((pair.initiator.guest, pair.responder.guest), (a, c));
    let pair = f.pairs(d, &[]).await;
    assert_eq!((pair.initiator.guest, pair.responder.guest), (b, d));
}

async fn recent_partners_rematch_when_nobody_else_came(f: Fixture) {
    let [a, b] = guests();
    assert_eq!(
        f.enqueue_after(a, &["rust"], Some(b)).await,
        Enqueued::Waiting
    );
    f.clock.advance(Duration::from_secs(4));
    assert_eq!(
        f.enqueue_after(b, &["rust"], Some(a)).await,
        Enqueued::Waiting
    );
    f.clock.advance(Duration::from_secs(6));
    assert!(
        f.due().await.pairings.is_empty(),
        "b has not waited the interest wait"
    );
    f.clock.advance(Duration::from_secs(4));
    let work = f.due().await;
    assert_eq!(work.pairings.len(), 1);
    assert_eq!(work.pairings[0].initiator.guest, a);
    assert_eq!(names(&work.pairings[0].common_interests), ["rust"]);
}

impl Fixture {
    async fn keep_apart(&self, a: GuestId, b: GuestId, for_: Duration) {
        let until = self.clock.now().saturating_add(for_);
        self.queue
            .keep_apart(&a, &b, until)
            .await
            .unwrap_or_else(|e| panic!("keep_apart: {e}"));
    }
}

async fn guests_kept_apart_are_never_paired_while_it_holds(f: Fixture) {
    let [a, b, c] = guests();
    f.keep_apart(a, b, Duration::from_secs(600)).await;
    // Whoever comes second, and however long both wait alone, they are not paired.
    f.waits(a, &["rust"]).await;
    f.waits(b, &["rust"]).await;
    f.clock.advance(WAIT * 3);
    assert!(f.due().await.pairings.is_empty());
    // Someone else is paired with either at once.
    let pair = f.pairs(c, &["rust"]).await;
    assert_eq!((pair.initiator.guest, pair.responder.guest), (a, c));
    // Once it ends, they may meet again.
    f.clock.advance(Duration::from_secs(600));
    let pair = f.pairs(a, &[]).await;
    assert_eq!((pair.initiator.guest, pair.responder.guest), (b, a));
}

async fn keeping_apart_holds_both_ways_and_can_be_extended(f: Fixture) {
    let [a, b, c] = guests();
    f.waits(b, &[]).await;
    // Made while b already waits, from a's side only: b is still not a's partner, nor a b's.
    f.keep_apart(a, b, Duration::from_secs(60)).await;
    f.waits(a, &[]).await;
    f.keep_apart(c, a, Duration::from_secs(60)).await;
    let until = f.clock.now().saturating_add(Duration::from_secs(3600));
    f.queue
        .extend_apart(&a, until)
        .await
        .unwrap_or_else(|e| panic!("extend_apart: {e}"));
    f.clock.advance(Duration::from_secs(70));
    // Past the first end (and within the ticket lifetime), the extension holds: c pairs with b, never with a.
    let pair = f.pairs(c, &[]).await;
    assert_eq!(pair.initiator.guest, b);
    assert!(f.due().await.pairings.is_empty());
    assert!(f.is_waiting(a).await);
}

async fn unrefreshed_tickets_expire(f: Fixture) {
    let [a, b] = guests();
    f.waits(a, &["rust"]).await;
    f.waits(b, &["jazz"]).await;
    f.clock.advance(WAIT);
    // a and b became eligible at the same time and paired; use fresh guests for expiry.
    let _ = f.due().await;
    let [c, d] = guests();
    f.waits(c, &[]).await;
    f.clock.advance(Duration::from_secs(60));
    f.queue
        .refresh(&[c])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.enqueue_after(d, &[], Some(c)).await, Enqueued::Waiting);
    f.queue
        .refresh(&[d])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    f.clock.advance(TTL - Duration::from_secs(1));
    // d was c's recent partner; both waited long enough now, so they pair rather than expire.
    let work = f.due().await;
    assert_eq!(work.pairings.len(), 1);
    let [e] = guests();
    f.waits(e, &[]).await;
    f.clock.advance(TTL);
    let work = f.due().await;
    assert_eq!(work.expired, vec![e]);
    assert!(!f.is_waiting(e).await);
    assert_eq!(f.count().await, 0);
}

async fn concurrent_enqueues_never_pair_a_guest_twice(f: Fixture) {
    let queue = Arc::clone(&f.queue);
    let ids: Vec<GuestId> = (0..200).map(|_| GuestId::random()).collect();
    let topics = ["a", "b", "c", "d", "e"];
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().copied().enumerate() {
        let queue = Arc::clone(&queue);
        let list: Vec<&str> = if i % 3 == 0 {
            vec![]
        } else {
            vec![topics[i % 5], topics[(i * 7) % 5]]
        };
        let ticket = Ticket::new(id, interests(&list));
        tasks.push(tokio::spawn(async move {
            let outcome = queue.enqueue(ticket).await;
            let cancelled = i % 17 == 0 && queue.cancel(&id).await.unwrap_or(false);
            (id, outcome, cancelled)
        }));
    }
    let mut pairings = Vec::new();
    let mut cancelled = HashSet::new();
    for task in tasks {
        let (id, outcome, was_cancelled) = task.await.unwrap_or_else(|e| panic!("{e}"));
        if let Ok(Enqueued::Paired(pair)) = outcome {
            pairings.push(pair);
        }
        if was_cancelled {
            cancelled.insert(id);
        }
    }
    f.clock.advance(WAIT);
    pairings.extend(f.due().await.pairings);
    let mut seen = HashSet::new();
    for pair in &pairings {
        assert_ne!(pair.initiator.guest, pair.responder.guest, "self pairing");
        assert!(
            seen.insert(pair.initiator.guest),
            "paired twice: {:?}",
            pair.initiator.guest
        );
        assert!(
            seen.insert(pair.responder.guest),
            "paired twice: {:?}",
            pair.responder.guest
        );
        assert!(
            !cancelled.contains(&pair.initiator.guest)
                && !cancelled.contains(&pair.responder.guest)
        );
        assert!(pair.initiator.waiting_since <= pair.responder.waiting_since);
    }
    let waiting = f.count().await as usize;
    assert_eq!(seen.len() + waiting + cancelled.len(), ids.len());
    assert!(
        waiting <= 1,
        "everyone eligible should have been paired, {waiting} wait"
    );
}

duet_test_support::backend_suite!(
    memory: memory_fixture,
    redis: redis_fixture,
    scenarios: [
        guests_sharing_an_interest_pair_at_once,
        guests_without_interests_pair_with_each_other_at_once,
        a_guest_with_interests_is_paired_at_random_after_the_wait,
        two_guests_with_unshared_interests_pair_once_both_waited,
        the_longest_waiting_candidate_is_served_first,
        random_pairing_is_first_come_first_served,
        asking_again_while_waiting_keeps_the_place,
        cancel_removes_the_guest,
        recent_partners_wait_for_someone_else,
        recent_partners_rematch_when_nobody_else_came,
        unrefreshed_tickets_expire,
        guests_kept_apart_are_never_paired_while_it_holds,
        keeping_apart_holds_both_ways_and_can_be_extended,
        concurrent_enqueues_never_pair_a_guest_twice,
    ]
);
