//! [`Waitlist`]: the pairing policy as a plain data structure, with no locks and no clock.
//!
//! Every operation costs O(interests of the guests involved), amortized: candidates are found at
//! the front of per-interest FIFO lines, removed guests leave tombstones that are skipped and
//! compacted away once they make up half of a line, and waits end from a FIFO of deadlines
//! (the interest wait is the same for everyone, so deadlines come in enqueue order).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use duet_auth::{GuestId, Timestamp};

use crate::interests::Interests;
use crate::model::{DueWork, Enqueued, MatchConfig, Pairing, Ticket, Waiter};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A waiting guest's place: its sequence number (wait order) and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    seq: u64,
    guest: GuestId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Still within the interest wait; its deadline is in `due`.
    Fresh,
    /// The interest wait is over; its expiry is in `expiry`.
    Settled,
}

#[derive(Debug)]
struct Waiting {
    seq: u64,
    interests: Interests,
    last_partner: Option<GuestId>,
    since: Timestamp,
    expires_at: Timestamp,
    phase: Phase,
}

/// A FIFO of entries in wait order, with a count of its tombstones.
#[derive(Debug, Default)]
struct Line {
    entries: VecDeque<Entry>,
    stale: usize,
}

/// Lines shorter than this are never compacted: scanning a few tombstones is cheaper.
const COMPACT_MIN: usize = 32;

fn is_live(tickets: &FastMap<GuestId, Waiting>, entry: &Entry) -> bool {
    tickets.get(&entry.guest).is_some_and(|w| w.seq == entry.seq)
}

impl Line {
    fn push(&mut self, entry: Entry) {
        self.entries.push_back(entry);
    }

    /// Records that one entry died; compacts when tombstones are half the line.
    fn bury(&mut self, tickets: &FastMap<GuestId, Waiting>) {
        self.stale += 1;
        if self.stale >= COMPACT_MIN && self.stale * 2 >= self.entries.len() {
            self.entries.retain(|e| is_live(tickets, e));
            self.stale = 0;
        }
    }

    fn is_all_stale(&self) -> bool {
        self.stale >= self.entries.len()
    }

    /// The oldest live entry that `probe` may pair with, and the oldest excluded one (a recent
    /// partner) it may fall back to.
    fn scan(&mut self, tickets: &FastMap<GuestId, Waiting>, probe: &Probe) -> Scan {
        while let Some(front) = self.entries.front() {
            if is_live(tickets, front) {
                break;
            }
            self.entries.pop_front();
            self.stale = self.stale.saturating_sub(1);
        }
        let mut scan = Scan::default();
        for entry in &self.entries {
            if entry.guest == probe.guest {
                continue;
            }
            let Some(other) = tickets.get(&entry.guest).filter(|w| w.seq == entry.seq) else {
                continue;
            };
            if probe.excludes(entry.guest, other) {
                if scan.recent.is_none() {
                    scan.recent = Some(*entry);
                }
                continue;
            }
            scan.best = Some(*entry);
            break;
        }
        scan
    }
}

#[derive(Debug, Default)]
struct Scan {
    best: Option<Entry>,
    recent: Option<Entry>,
}

fn older(a: Option<Entry>, b: Option<Entry>) -> Option<Entry> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The guest looking for a partner.
struct Probe {
    guest: GuestId,
    last_partner: Option<GuestId>,
}

impl Probe {
    fn excludes(&self, candidate: GuestId, other: &Waiting) -> bool {
        self.last_partner == Some(candidate) || other.last_partner == Some(self.guest)
    }
}

/// The waiting room as a single-threaded data structure; [`MemoryQueue`](crate::MemoryQueue)
/// wraps it in a mutex. Time is passed in, so it is trivially testable.
#[derive(Debug)]
pub struct Waitlist {
    interest_wait: Duration,
    ticket_ttl: Duration,
    next_seq: u64,
    tickets: FastMap<GuestId, Waiting>,
    lines: FastMap<String, Line>,
    /// Guests without interests, eligible for random pairing from the start.
    random_open: Line,
    /// Guests with interests whose wait is over.
    random_settled: Line,
    due: VecDeque<(Timestamp, Entry)>,
    due_stale: usize,
    expiry: BinaryHeap<Reverse<(Timestamp, Entry)>>,
    expiry_stale: usize,
}

impl Waitlist {
    /// An empty waitlist with `config`.
    pub fn new(config: &MatchConfig) -> Self {
        Self {
            interest_wait: config.interest_wait,
            ticket_ttl: config.effective_ticket_ttl(),
            next_seq: 0,
            tickets: FastMap::default(),
            lines: FastMap::default(),
            random_open: Line::default(),
            random_settled: Line::default(),
            due: VecDeque::new(),
            due_stale: 0,
            expiry: BinaryHeap::new(),
            expiry_stale: 0,
        }
    }

    /// How many guests wait.
    pub fn len(&self) -> usize {
        self.tickets.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }

    /// Whether `guest` waits.
    pub fn contains(&self, guest: &GuestId) -> bool {
        self.tickets.contains_key(guest)
    }

    /// See [`MatchQueue::enqueue`](crate::MatchQueue::enqueue).
    pub fn enqueue(&mut self, ticket: Ticket, now: Timestamp) -> Enqueued {
        if self.tickets.contains_key(&ticket.guest) {
            return Enqueued::AlreadyWaiting;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let settled = ticket.interests.is_empty() || self.interest_wait.is_zero();
        let probe = Probe {
            guest: ticket.guest,
            last_partner: ticket.last_partner,
        };
        let since = now;
        if let Some(partner) = self.find_partner(&probe, &ticket.interests, settled, since, now) {
            let me = Waiter {
                guest: ticket.guest,
                interests: ticket.interests,
                waiting_since: since,
            };
            return Enqueued::Paired(self.pair_with(me, seq, partner));
        }
        let entry = Entry {
            seq,
            guest: ticket.guest,
        };
        for interest in ticket.interests.as_slice() {
            match self.lines.get_mut(interest.as_str()) {
                Some(line) => line.push(entry),
                None => {
                    let mut line = Line::default();
                    line.push(entry);
                    self.lines.insert(interest.clone(), line);
                }
            }
        }
        let phase = if ticket.interests.is_empty() {
            self.random_open.push(entry);
            Phase::Fresh
        } else if settled {
            self.random_settled.push(entry);
            Phase::Settled
        } else {
            Phase::Fresh
        };
        let expires_at = now.saturating_add(self.ticket_ttl);
        match phase {
            Phase::Fresh => self.due.push_back((now.saturating_add(self.interest_wait), entry)),
            Phase::Settled => self.expiry.push(Reverse((expires_at, entry))),
        }
        self.tickets.insert(
            ticket.guest,
            Waiting {
                seq,
                interests: ticket.interests,
                last_partner: ticket.last_partner,
                since,
                expires_at,
                phase,
            },
        );
        Enqueued::Waiting
    }

    /// See [`MatchQueue::cancel`](crate::MatchQueue::cancel).
    pub fn cancel(&mut self, guest: &GuestId) -> bool {
        self.remove(guest).is_some()
    }

    /// See [`MatchQueue::refresh`](crate::MatchQueue::refresh).
    pub fn refresh(&mut self, guests: &[GuestId], now: Timestamp) {
        let expires_at = now.saturating_add(self.ticket_ttl);
        for guest in guests {
            if let Some(waiting) = self.tickets.get_mut(guest) {
                // The heap keeps the old deadline; when it pops, the later one is pushed again.
                waiting.expires_at = waiting.expires_at.max(expires_at);
            }
        }
    }

    /// See [`MatchQueue::run_due`](crate::MatchQueue::run_due).
    pub fn run_due(&mut self, limit: usize, now: Timestamp) -> DueWork {
        let mut work = DueWork::default();
        let mut handled = 0;
        while handled < limit {
            let Some(&(deadline, entry)) = self.due.front() else { break };
            if deadline > now {
                break;
            }
            self.due.pop_front();
            handled += 1;
            if !is_live(&self.tickets, &entry) {
                self.due_stale = self.due_stale.saturating_sub(1);
                continue;
            }
            if let Some(pairing) = self.wait_ended(entry, now) {
                work.pairings.push(pairing);
            }
        }
        while handled < limit {
            let Some(Reverse((deadline, entry))) = self.expiry.peek().copied() else { break };
            if deadline > now {
                break;
            }
            self.expiry.pop();
            handled += 1;
            let Some(waiting) = self.tickets.get(&entry.guest).filter(|w| w.seq == entry.seq)
            else {
                self.expiry_stale = self.expiry_stale.saturating_sub(1);
                continue;
            };
            if waiting.expires_at > now {
                let refreshed = waiting.expires_at;
                self.expiry.push(Reverse((refreshed, entry)));
            } else {
                self.remove(&entry.guest);
                work.expired.push(entry.guest);
            }
        }
        work
    }

    /// The guest's interest wait is over: it becomes eligible for random pairing, and gets one
    /// more try (a recent partner may now be allowed).
    fn wait_ended(&mut self, entry: Entry, now: Timestamp) -> Option<Pairing> {
        let waiting = self.tickets.get_mut(&entry.guest)?;
        waiting.phase = Phase::Settled;
        let has_interests = !waiting.interests.is_empty();
        let probe = Probe {
            guest: entry.guest,
            last_partner: waiting.last_partner,
        };
        let interests = waiting.interests.clone();
        let since = waiting.since;
        let expires_at = waiting.expires_at;
        if has_interests {
            self.random_settled.push(entry);
        }
        self.expiry.push(Reverse((expires_at, entry)));
        let partner = self.find_partner(&probe, &interests, true, since, now)?;
        let me = self.remove(&entry.guest)?;
        let waiter = Waiter {
            guest: entry.guest,
            interests: me.interests,
            waiting_since: me.since,
        };
        Some(self.pair_with(waiter, entry.seq, partner))
    }

    fn find_partner(
        &mut self,
        probe: &Probe,
        interests: &Interests,
        settled: bool,
        since: Timestamp,
        now: Timestamp,
    ) -> Option<Entry> {
        let mut best = None;
        let mut recent = None;
        for interest in interests.as_slice() {
            if let Some(line) = self.lines.get_mut(interest.as_str()) {
                let scan = line.scan(&self.tickets, probe);
                best = older(best, scan.best);
                recent = older(recent, scan.recent);
            }
        }
        if best.is_none() && settled {
            for line in [&mut self.random_open, &mut self.random_settled] {
                let scan = line.scan(&self.tickets, probe);
                best = older(best, scan.best);
                recent = older(recent, scan.recent);
            }
        }
        if best.is_some() {
            return best;
        }
        // Nobody else: a recent partner, once both have waited the interest wait.
        let recent = recent?;
        let other = self.tickets.get(&recent.guest)?;
        let waited = |start: Timestamp| start.saturating_add(self.interest_wait) <= now;
        (waited(since) && waited(other.since)).then_some(recent)
    }

    /// Removes `partner` from the queue and pairs it with `me` (who is not, or no longer, in it).
    fn pair_with(&mut self, me: Waiter, my_seq: u64, partner: Entry) -> Pairing {
        let other = self.remove(&partner.guest);
        let other = match other {
            Some(w) => Waiter {
                guest: partner.guest,
                interests: w.interests,
                waiting_since: w.since,
            },
            // Unreachable: candidates are live entries; kept total rather than panicking.
            None => Waiter {
                guest: partner.guest,
                interests: Interests::none(),
                waiting_since: me.waiting_since,
            },
        };
        let (initiator, responder) = if partner.seq < my_seq {
            (other, me)
        } else {
            (me, other)
        };
        let common_interests = initiator.interests.common_with(&responder.interests);
        Pairing {
            initiator,
            responder,
            common_interests,
        }
    }

    fn remove(&mut self, guest: &GuestId) -> Option<Waiting> {
        let waiting = self.tickets.remove(guest)?;
        for interest in waiting.interests.as_slice() {
            if let Some(line) = self.lines.get_mut(interest.as_str()) {
                line.bury(&self.tickets);
                if line.is_all_stale() {
                    self.lines.remove(interest.as_str());
                }
            }
        }
        if waiting.interests.is_empty() {
            self.random_open.bury(&self.tickets);
        } else if waiting.phase == Phase::Settled {
            self.random_settled.bury(&self.tickets);
        }
        match waiting.phase {
            Phase::Fresh => {
                self.due_stale += 1;
                if self.due_stale >= COMPACT_MIN && self.due_stale * 2 >= self.due.len() {
                    let tickets = &self.tickets;
                    self.due.retain(|(_, e)| is_live(tickets, e));
                    self.due_stale = 0;
                }
            }
            Phase::Settled => {
                self.expiry_stale += 1;
                if self.expiry_stale >= COMPACT_MIN && self.expiry_stale * 2 >= self.expiry.len() {
                    let tickets = &self.tickets;
                    self.expiry.retain(|Reverse((_, e))| is_live(tickets, e));
                    self.expiry_stale = 0;
                }
            }
        }
        Some(waiting)
    }

    /// Heap and line sizes, tombstones included (for tests that check memory stays bounded).
    #[doc(hidden)]
    pub fn footprint(&self) -> usize {
        self.lines.values().map(|l| l.entries.len()).sum::<usize>()
            + self.random_open.entries.len()
            + self.random_settled.entries.len()
            + self.due.len()
            + self.expiry.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(interests: &[&str]) -> Ticket {
        Ticket::new(GuestId::random(), Interests::parse(interests).unwrap_or_default())
    }

    #[test]
    fn tombstones_are_compacted_so_memory_stays_bounded() {
        let mut waitlist = Waitlist::new(&MatchConfig::default());
        let now = Timestamp::from_unix_millis(0);
        for j in 0..1000 {
            let solo = format!("solo-{j}");
            waitlist.enqueue(ticket(&[solo.as_str()]), now);
        }
        let settled_footprint = waitlist.footprint();
        // A long stream of guests that wait and are paired a moment later, leaving tombstones.
        let topics: Vec<String> = (0..50).map(|i| format!("topic-{i}")).collect();
        for i in 0..200_000 {
            let t = topics[i % 50].as_str();
            assert_eq!(waitlist.enqueue(ticket(&[t]), now), Enqueued::Waiting);
            let outcome = waitlist.enqueue(ticket(&[t, "other"]), now);
            assert!(matches!(outcome, Enqueued::Paired(_)), "step {i}: {outcome:?}");
        }
        assert_eq!(waitlist.len(), 1000);
        assert!(
            waitlist.footprint() <= settled_footprint * 3,
            "{} entries for {} waiting",
            waitlist.footprint(),
            waitlist.len()
        );
    }

    #[test]
    fn cancelled_guests_never_pair() {
        let mut waitlist = Waitlist::new(&MatchConfig::default());
        let now = Timestamp::from_unix_millis(0);
        let a = ticket(&[]);
        waitlist.enqueue(a.clone(), now);
        assert!(waitlist.cancel(&a.guest));
        assert_eq!(waitlist.enqueue(ticket(&[]), now), Enqueued::Waiting);
        assert_eq!(waitlist.len(), 1);
    }
}
