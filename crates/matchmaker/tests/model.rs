//! Property tests: random sequences of enqueue, cancel, time passing and ticks, run against a
//! brute-force reference of the pairing rules and against both queues, which must agree with it
//! step by step.

use std::sync::Arc;
use std::time::Duration;

use duet_core::{Clock, GuestId, ManualClock, Timestamp};
use duet_matchmaker::{Enqueued, Interests, MatchConfig, MatchQueue, MemoryQueue, Pairing, Ticket};
use proptest::prelude::*;

const WAIT_MS: u64 = 10_000;
const TOPICS: [&str; 4] = ["art", "books", "chess", "dance"];

#[derive(Debug, Clone)]
enum Op {
    Enqueue {
        guest: usize,
        topics: Vec<usize>,
        last: Option<usize>,
    },
    Cancel(usize),
    Advance(u64),
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..10usize, prop::collection::vec(0..4usize, 0..3), prop::option::of(0..10usize))
            .prop_map(|(guest, topics, last)| Op::Enqueue { guest, topics, last }),
        1 => (0..10usize).prop_map(Op::Cancel),
        2 => (0..15_000u64).prop_map(Op::Advance),
        2 => Just(Op::Tick),
    ]
}

/// The rules of protocol.md, by brute force.
#[derive(Default)]
struct Reference {
    next_seq: u64,
    waiting: Vec<Waiting>,
}

#[derive(Clone)]
struct Waiting {
    guest: GuestId,
    seq: u64,
    interests: Interests,
    last: Option<GuestId>,
    since: i64,
    /// Eligible for random pairing: no interests, or its wait ended at a tick.
    settled: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Paired(GuestId, GuestId, Vec<std::sync::Arc<str>>),
    Waiting,
    Already,
}

impl Reference {
    fn excluded(a: &Waiting, b: &Waiting) -> bool {
        a.last == Some(b.guest) || b.last == Some(a.guest)
    }

    fn find(&self, me: &Waiting, now: i64) -> Option<usize> {
        let mut others: Vec<usize> = (0..self.waiting.len())
            .filter(|&i| self.waiting[i].guest != me.guest)
            .collect();
        others.sort_by_key(|&i| self.waiting[i].seq);
        let shares = |o: &Waiting| !me.interests.common_with(&o.interests).is_empty();
        let random = |o: &Waiting| me.settled && o.settled;
        let pick = |ok: &dyn Fn(&Waiting) -> bool| {
            others
                .iter()
                .copied()
                .find(|&i| ok(&self.waiting[i]) && !Self::excluded(me, &self.waiting[i]))
        };
        if let Some(i) = pick(&|o| shares(o)) {
            return Some(i);
        }
        if let Some(i) = pick(&|o| random(o) && o.guest != me.guest) {
            return Some(i);
        }
        let recent = others.iter().copied().find(|&i| {
            let o = &self.waiting[i];
            Self::excluded(me, o) && (shares(o) || random(o))
        })?;
        let waited = |since: i64| since + WAIT_MS as i64 <= now;
        (waited(me.since) && waited(self.waiting[recent].since)).then_some(recent)
    }

    fn pair(&mut self, me: Waiting, other: usize) -> Outcome {
        let other = self.waiting.remove(other);
        let (first, second) = if me.seq < other.seq {
            (me, other)
        } else {
            (other, me)
        };
        let common = first.interests.common_with(&second.interests);
        Outcome::Paired(first.guest, second.guest, common)
    }

    fn enqueue(&mut self, ticket: Ticket, now: i64) -> Outcome {
        if self.waiting.iter().any(|w| w.guest == ticket.guest) {
            return Outcome::Already;
        }
        let me = Waiting {
            guest: ticket.guest,
            seq: self.next_seq,
            interests: ticket.interests,
            last: ticket.last_partner,
            since: now,
            settled: false,
        };
        let me = Waiting {
            settled: me.interests.is_empty(),
            ..me
        };
        self.next_seq += 1;
        match self.find(&me, now) {
            Some(other) => self.pair(me, other),
            None => {
                self.waiting.push(me);
                Outcome::Waiting
            }
        }
    }

    /// Waits that ended since the last tick, in wait order, each one trying once more.
    fn tick(&mut self, now: i64, last_tick: i64) -> Vec<Outcome> {
        let mut due: Vec<Waiting> = self
            .waiting
            .iter()
            .filter(|w| w.since + (WAIT_MS as i64) <= now && w.since + (WAIT_MS as i64) > last_tick)
            .cloned()
            .collect();
        due.sort_by_key(|w| w.seq);
        let mut out = Vec::new();
        for w in due {
            let Some(at) = self
                .waiting
                .iter()
                .position(|x| x.guest == w.guest && x.seq == w.seq)
            else {
                continue;
            };
            self.waiting[at].settled = true;
            let me = self.waiting[at].clone();
            if let Some(other) = self.find(&me, now) {
                let other_guest = self.waiting[other].guest;
                self.waiting.retain(|x| x.guest != me.guest);
                if let Some(other) = self.waiting.iter().position(|x| x.guest == other_guest) {
                    out.push(self.pair(me, other));
                }
            }
        }
        out
    }
}

fn outcome_of(enqueued: Enqueued) -> Outcome {
    match enqueued {
        Enqueued::Paired(p) => pairing_outcome(p),
        Enqueued::Waiting => Outcome::Waiting,
        Enqueued::AlreadyWaiting => Outcome::Already,
    }
}

fn pairing_outcome(p: Pairing) -> Outcome {
    Outcome::Paired(p.initiator.guest, p.responder.guest, p.common_interests)
}

async fn check(ops: Vec<Op>, queue: Arc<dyn MatchQueue>, clock: ManualClock) {
    let guests: Vec<GuestId> = (0..10).map(|_| GuestId::random()).collect();
    let mut reference = Reference::default();
    let mut last_tick = i64::MIN;
    let now = |c: &ManualClock| c.now().unix_millis();
    for op in ops {
        match op {
            Op::Enqueue {
                guest,
                topics,
                last,
            } => {
                let list: Vec<&str> = topics.iter().map(|&t| TOPICS[t]).collect();
                let interests = Interests::parse(list).unwrap_or_default();
                let ticket = Ticket::new(guests[guest], interests)
                    .with_last_partner(last.map(|l| guests[l]));
                let expected = reference.enqueue(ticket.clone(), now(&clock));
                let actual = outcome_of(
                    queue
                        .enqueue(ticket)
                        .await
                        .unwrap_or_else(|e| panic!("{e}")),
                );
                assert_eq!(actual, expected, "enqueue of guest {guest}");
            }
            Op::Cancel(guest) => {
                let expected = reference.waiting.iter().any(|w| w.guest == guests[guest]);
                reference.waiting.retain(|w| w.guest != guests[guest]);
                assert_eq!(queue.cancel(&guests[guest]).await.ok(), Some(expected));
            }
            Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
            Op::Tick => {
                let expected = reference.tick(now(&clock), last_tick);
                last_tick = now(&clock);
                let work = queue
                    .run_due(10_000)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let actual: Vec<Outcome> = work.pairings.into_iter().map(pairing_outcome).collect();
                assert_eq!(actual, expected, "tick");
                assert!(work.expired.is_empty());
            }
        }
        let mut expected: Vec<GuestId> = reference.waiting.iter().map(|w| w.guest).collect();
        expected.sort();
        let mut actual = Vec::new();
        for g in &guests {
            if queue.is_waiting(g).await.unwrap_or(false) {
                actual.push(*g);
            }
        }
        actual.sort();
        assert_eq!(actual, expected, "who waits");
    }
}

fn config() -> MatchConfig {
    MatchConfig::default()
        .with_interest_wait(Duration::from_millis(WAIT_MS))
        .with_ticket_ttl(Duration::from_secs(3600))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn memory_queue_follows_the_pairing_rules(ops in prop::collection::vec(op(), 1..60)) {
        let clock = ManualClock::starting_at(Timestamp::from_unix_millis(1_000_000));
        let queue = MemoryQueue::with_clock(config(), Arc::new(clock.clone()));
        runtime().block_on(check(ops, Arc::new(queue), clock));
    }
}

#[cfg(feature = "redis")]
proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn redis_queue_follows_the_pairing_rules(ops in prop::collection::vec(op(), 1..60)) {
        runtime().block_on(async move {
            use duet_matchmaker::{RedisQueue, RedisQueueConfig};
            let Some((keys, client)) = duet_test_support::redis_for_test("redis_queue_follows_the_pairing_rules").await else {
                return;
            };
            let clock = ManualClock::starting_at(Timestamp::from_unix_millis(1_000_000));
            let redis = RedisQueueConfig::default().with_key_prefix(keys.prefix());
            let queue = RedisQueue::with_clock(client, config(), redis, Arc::new(clock.clone()))
                .unwrap_or_else(|e| panic!("{e}"));
            check(ops, Arc::new(queue), clock).await;
            drop(keys);
        });
    }
}
