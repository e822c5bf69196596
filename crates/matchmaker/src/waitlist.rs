//! [`Waitlist`]: the pairing policy as a plain data structure, with no locks and no clock.
//!
//! Every operation costs O(interests of the guests involved), amortized:
//! - waiting guests live in a slab; every line refers to them by slot and sequence number, so
//!   checking that an entry is still live costs an index, not a hash lookup;
//! - candidates are found at the front of per-interest FIFO lines (in wait order);
//! - removed guests leave tombstones that are skipped, and compacted away once they make up half
//!   of a line;
//! - waits end from a FIFO of deadlines (the interest wait is the same for everyone, so
//!   deadlines come in enqueue order) and tickets expire from a heap of the few that outlive it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use duet_core::{GuestId, Timestamp};

use crate::interests::{Interests, MAX_INTERESTS};
use crate::model::{DueWork, Enqueued, MatchConfig, Pairing, Ticket, Waiter};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A reference to a waiting guest: its sequence number (wait order, unique) and slab slot. A
/// slot is reused after its guest leaves, but never with the same sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    seq: u64,
    slot: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Still within the interest wait; its deadline is in `due`.
    Fresh,
    /// The interest wait is over; its expiry is in `expiry`.
    Settled,
}

/// The lines a ticket sits in, by slot in `Waitlist::lines`, without a heap allocation.
#[derive(Debug, Clone, Copy, Default)]
struct LineIds {
    ids: [u32; MAX_INTERESTS],
    len: u8,
}

impl LineIds {
    fn push(&mut self, id: u32) {
        if let Some(slot) = self.ids.get_mut(usize::from(self.len)) {
            *slot = id;
            self.len += 1;
        }
    }

    fn as_slice(&self) -> &[u32] {
        &self.ids[..usize::from(self.len)]
    }
}

#[derive(Debug)]
struct Waiting {
    guest: GuestId,
    seq: u64,
    interests: Interests,
    lines: LineIds,
    last_partner: Option<GuestId>,
    since: Timestamp,
    expires_at: Timestamp,
    phase: Phase,
}

/// Waiting guests by slot.
#[derive(Debug, Default)]
struct Slab {
    slots: Vec<Option<Waiting>>,
    free: Vec<u32>,
}

impl Slab {
    fn live(&self, entry: Entry) -> Option<&Waiting> {
        self.slots
            .get(entry.slot as usize)?
            .as_ref()
            .filter(|w| w.seq == entry.seq)
    }

    fn get_mut(&mut self, slot: u32) -> Option<&mut Waiting> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    fn insert(&mut self, waiting: Waiting) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                if let Some(place) = self.slots.get_mut(slot as usize) {
                    *place = Some(waiting);
                }
                slot
            }
            None => {
                self.slots.push(Some(waiting));
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        }
    }

    fn take(&mut self, slot: u32) -> Option<Waiting> {
        let waiting = self.slots.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        Some(waiting)
    }
}

/// A FIFO of entries in wait order, with a count of its tombstones.
#[derive(Debug, Default)]
struct Line {
    entries: VecDeque<Entry>,
    stale: usize,
}

/// Lines shorter than this are never compacted: scanning a few tombstones is cheaper.
const COMPACT_MIN: usize = 32;

/// Empty lines are kept for reuse until at least this many can be freed at once.
const PRUNE_MIN_LINES: usize = 4096;

impl Line {
    fn push(&mut self, entry: Entry) {
        self.entries.push_back(entry);
    }

    /// Records that one entry died; compacts when tombstones are half the line.
    fn bury(&mut self, slab: &Slab) {
        self.stale += 1;
        if self.stale >= COMPACT_MIN && self.stale * 2 >= self.entries.len() {
            self.entries.retain(|e| slab.live(*e).is_some());
            self.stale = 0;
        }
    }

    fn is_all_stale(&self) -> bool {
        self.stale >= self.entries.len()
    }

    /// The oldest live entry that `probe` may pair with, and the oldest excluded one (a recent
    /// partner) it may fall back to.
    fn scan(&mut self, slab: &Slab, probe: &Probe) -> Scan {
        let mut scan = Scan::default();
        let mut at_front = true;
        let mut index = 0;
        while let Some(entry) = self.entries.get(index).copied() {
            let Some(other) = slab.live(entry) else {
                // Tombstones at the front go for good; those behind live entries wait.
                if at_front {
                    self.entries.pop_front();
                    self.stale = self.stale.saturating_sub(1);
                } else {
                    index += 1;
                }
                continue;
            };
            at_front = false;
            index += 1;
            if other.guest == probe.guest || probe.forbids(other) {
                continue;
            }
            if probe.excludes(other) {
                if scan.recent.is_none() {
                    scan.recent = Some(entry);
                }
                continue;
            }
            scan.best = Some(entry);
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
    /// Guests it must never be paired with (empty, so no allocation, nearly always).
    kept_apart: Vec<GuestId>,
}

impl Probe {
    /// A recent partner: passed over while anyone else waits.
    fn excludes(&self, other: &Waiting) -> bool {
        self.last_partner == Some(other.guest) || other.last_partner == Some(self.guest)
    }

    /// Kept apart: never.
    fn forbids(&self, other: &Waiting) -> bool {
        self.kept_apart.contains(&other.guest)
    }
}

/// How often ended keep-aparts are swept out of a [`Waitlist`].
const APART_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The waiting room as a single-threaded data structure; [`MemoryQueue`](crate::MemoryQueue)
/// wraps it in a mutex. Time is passed in, so it is trivially testable.
#[derive(Debug)]
pub struct Waitlist {
    interest_wait: Duration,
    ticket_ttl: Duration,
    next_seq: u64,
    slab: Slab,
    /// Guest id to slab slot.
    slot_of: FastMap<GuestId, u32>,
    /// Interest name to its line's slot; a ticket keeps line slots, so removing it hashes no
    /// strings.
    line_index: FastMap<Box<str>, u32>,
    lines: Vec<Line>,
    free_lines: Vec<u32>,
    /// Lines that became empty since the last prune. Empty lines are kept for reuse until many
    /// can be freed, so a popular interest does not reallocate its line at every pairing.
    emptied_lines: usize,
    /// Guests without interests, eligible for random pairing from the start.
    random_open: Line,
    /// Guests with interests whose wait is over.
    random_settled: Line,
    due: VecDeque<(Timestamp, Entry)>,
    due_stale: usize,
    expiry: BinaryHeap<Reverse<(Timestamp, Entry)>>,
    expiry_stale: usize,
    /// For each guest, the guests it must never be paired with, and until when.
    apart: FastMap<GuestId, Vec<(GuestId, Timestamp)>>,
    apart_swept_at: Timestamp,
}

impl Waitlist {
    /// An empty waitlist with `config`.
    pub fn new(config: &MatchConfig) -> Self {
        Self {
            interest_wait: config.interest_wait,
            ticket_ttl: config.effective_ticket_ttl(),
            next_seq: 0,
            slab: Slab::default(),
            slot_of: FastMap::default(),
            line_index: FastMap::default(),
            lines: Vec::new(),
            free_lines: Vec::new(),
            emptied_lines: 0,
            random_open: Line::default(),
            random_settled: Line::default(),
            due: VecDeque::new(),
            due_stale: 0,
            expiry: BinaryHeap::new(),
            expiry_stale: 0,
            apart: FastMap::default(),
            apart_swept_at: Timestamp::from_unix_millis(i64::MIN),
        }
    }

    /// See [`MatchQueue::keep_apart`](crate::MatchQueue::keep_apart).
    pub fn keep_apart(&mut self, a: GuestId, b: GuestId, until: Timestamp) {
        for (guest, other) in [(a, b), (b, a)] {
            let list = self.apart.entry(guest).or_default();
            match list.iter_mut().find(|(g, _)| *g == other) {
                Some((_, end)) => *end = (*end).max(until),
                None => list.push((other, until)),
            }
        }
    }

    /// See [`MatchQueue::extend_apart`](crate::MatchQueue::extend_apart).
    pub fn extend_apart(&mut self, guest: GuestId, until: Timestamp, now: Timestamp) {
        for other in self.kept_apart_from(&guest, now) {
            self.keep_apart(guest, other, until);
        }
    }

    /// The guests `guest` is kept apart from at `now` (no allocation when there are none).
    fn kept_apart_from(&self, guest: &GuestId, now: Timestamp) -> Vec<GuestId> {
        self.apart
            .get(guest)
            .into_iter()
            .flatten()
            .filter(|(_, end)| *end > now)
            .map(|(other, _)| *other)
            .collect()
    }

    /// The probe of `guest` at `now`.
    fn probe(&self, guest: GuestId, last_partner: Option<GuestId>, now: Timestamp) -> Probe {
        Probe {
            guest,
            last_partner,
            kept_apart: self.kept_apart_from(&guest, now),
        }
    }

    /// Forgets keep-aparts that ended, once a minute: the map holds only guests who were ever
    /// blocked or reported, so a full pass is cheap at that pace.
    fn sweep_apart(&mut self, now: Timestamp) {
        if now.saturating_sub(APART_SWEEP_EVERY) < self.apart_swept_at {
            return;
        }
        self.apart_swept_at = now;
        self.apart.retain(|_, list| {
            list.retain(|(_, end)| *end > now);
            !list.is_empty()
        });
    }

    /// How many guests wait.
    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    /// Whether `guest` waits.
    pub fn contains(&self, guest: &GuestId) -> bool {
        self.slot_of.contains_key(guest)
    }

    /// See [`MatchQueue::enqueue`](crate::MatchQueue::enqueue).
    pub fn enqueue(&mut self, ticket: Ticket, now: Timestamp) -> Enqueued {
        if self.slot_of.contains_key(&ticket.guest) {
            return Enqueued::AlreadyWaiting;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let settled = ticket.interests.is_empty() || self.interest_wait.is_zero();
        let probe = self.probe(ticket.guest, ticket.last_partner, now);
        // Each interest is hashed once: the slots found serve both the search and the insert.
        let mut resolved = [None; MAX_INTERESTS];
        let mut known = LineIds::default();
        for (slot, interest) in resolved.iter_mut().zip(ticket.interests.as_slice()) {
            *slot = self.line_index.get(&**interest).copied();
            if let Some(id) = *slot {
                known.push(id);
            }
        }
        if let Some(partner) = self.find_partner(&probe, known.as_slice(), settled, now, now) {
            let me = Waiter {
                guest: ticket.guest,
                interests: ticket.interests,
                waiting_since: now,
            };
            return Enqueued::Paired(self.pair_with(me, &resolved, seq, partner));
        }
        let phase = if settled && !ticket.interests.is_empty() {
            Phase::Settled
        } else {
            Phase::Fresh
        };
        let expires_at = now.saturating_add(self.ticket_ttl);
        let slot = self.slab.insert(Waiting {
            guest: ticket.guest,
            seq,
            interests: Interests::none(),
            lines: LineIds::default(),
            last_partner: ticket.last_partner,
            since: now,
            expires_at,
            phase,
        });
        let entry = Entry { seq, slot };
        let mut lines = LineIds::default();
        for (known_line, interest) in resolved.iter().zip(ticket.interests.as_slice()) {
            let id = match known_line {
                Some(id) => *id,
                None => self.new_line(interest),
            };
            if let Some(line) = self.lines.get_mut(id as usize) {
                line.push(entry);
            }
            lines.push(id);
        }
        if ticket.interests.is_empty() {
            self.random_open.push(entry);
        } else if phase == Phase::Settled {
            self.random_settled.push(entry);
        }
        match phase {
            Phase::Fresh => self
                .due
                .push_back((now.saturating_add(self.interest_wait), entry)),
            Phase::Settled => self.expiry.push(Reverse((expires_at, entry))),
        }
        if let Some(waiting) = self.slab.get_mut(slot) {
            waiting.interests = ticket.interests;
            waiting.lines = lines;
        }
        self.slot_of.insert(ticket.guest, slot);
        Enqueued::Waiting
    }

    /// See [`MatchQueue::cancel`](crate::MatchQueue::cancel).
    pub fn cancel(&mut self, guest: &GuestId) -> bool {
        let Some(&slot) = self.slot_of.get(guest) else {
            return false;
        };
        self.remove(slot).is_some()
    }

    /// See [`MatchQueue::refresh`](crate::MatchQueue::refresh).
    pub fn refresh(&mut self, guests: &[GuestId], now: Timestamp) {
        let expires_at = now.saturating_add(self.ticket_ttl);
        for guest in guests {
            let Some(&slot) = self.slot_of.get(guest) else {
                continue;
            };
            if let Some(waiting) = self.slab.get_mut(slot) {
                // The heap keeps the old deadline; when it pops, the later one is pushed again.
                waiting.expires_at = waiting.expires_at.max(expires_at);
            }
        }
    }

    /// See [`MatchQueue::run_due`](crate::MatchQueue::run_due).
    pub fn run_due(&mut self, limit: usize, now: Timestamp) -> DueWork {
        self.sweep_apart(now);
        let mut work = DueWork::default();
        let mut handled = 0;
        while handled < limit {
            let Some(&(deadline, entry)) = self.due.front() else {
                break;
            };
            if deadline > now {
                break;
            }
            self.due.pop_front();
            handled += 1;
            if self.slab.live(entry).is_none() {
                self.due_stale = self.due_stale.saturating_sub(1);
                continue;
            }
            if let Some(pairing) = self.wait_ended(entry, now) {
                work.pairings.push(pairing);
            }
        }
        while handled < limit {
            let Some(Reverse((deadline, entry))) = self.expiry.peek().copied() else {
                break;
            };
            if deadline > now {
                break;
            }
            self.expiry.pop();
            handled += 1;
            let Some(waiting) = self.slab.live(entry) else {
                self.expiry_stale = self.expiry_stale.saturating_sub(1);
                continue;
            };
            if waiting.expires_at > now {
                let refreshed = waiting.expires_at;
                self.expiry.push(Reverse((refreshed, entry)));
            } else if let Some(expired) = self.remove(entry.slot) {
                work.expired.push(expired.guest);
            }
        }
        work
    }

    /// The guest's interest wait is over: it becomes eligible for random pairing, and gets one
    /// more try (a recent partner may now be allowed).
    fn wait_ended(&mut self, entry: Entry, now: Timestamp) -> Option<Pairing> {
        let waiting = self.slab.get_mut(entry.slot)?;
        waiting.phase = Phase::Settled;
        let has_interests = !waiting.interests.is_empty();
        let (guest, last_partner) = (waiting.guest, waiting.last_partner);
        let lines = waiting.lines;
        let since = waiting.since;
        let expires_at = waiting.expires_at;
        if has_interests {
            self.random_settled.push(entry);
        }
        self.expiry.push(Reverse((expires_at, entry)));
        let probe = self.probe(guest, last_partner, now);
        let partner = self.find_partner(&probe, lines.as_slice(), true, since, now)?;
        let me = self.remove(entry.slot)?;
        let mut my_lines = [None; MAX_INTERESTS];
        for (slot, id) in my_lines.iter_mut().zip(me.lines.as_slice()) {
            *slot = Some(*id);
        }
        let waiter = Waiter {
            guest: me.guest,
            interests: me.interests,
            waiting_since: me.since,
        };
        Some(self.pair_with(waiter, &my_lines, entry.seq, partner))
    }

    fn find_partner(
        &mut self,
        probe: &Probe,
        interest_lines: &[u32],
        settled: bool,
        since: Timestamp,
        now: Timestamp,
    ) -> Option<Entry> {
        let mut best = None;
        let mut recent = None;
        for &id in interest_lines {
            if let Some(line) = self.lines.get_mut(id as usize) {
                let scan = line.scan(&self.slab, probe);
                best = older(best, scan.best);
                recent = older(recent, scan.recent);
            }
        }
        if best.is_none() && settled {
            for line in [&mut self.random_open, &mut self.random_settled] {
                let scan = line.scan(&self.slab, probe);
                best = older(best, scan.best);
                recent = older(recent, scan.recent);
            }
        }
        if best.is_some() {
            return best;
        }
        // Nobody else: a recent partner, once both have waited the interest wait.
        let recent = recent?;
        let other = self.slab.live(recent)?;
        let waited = |start: Timestamp| start.saturating_add(self.interest_wait) <= now;
        (waited(since) && waited(other.since)).then_some(recent)
    }

    /// Removes `partner` from the queue and pairs it with `me` (who is not, or no longer, in it).
    /// `my_lines` are the line slots of `me`'s interests, in the same order (`None` where an
    /// interest has no line), so shared interests are found by comparing numbers, not strings.
    fn pair_with(
        &mut self,
        me: Waiter,
        my_lines: &[Option<u32>; MAX_INTERESTS],
        my_seq: u64,
        partner: Entry,
    ) -> Pairing {
        let Some(other) = self.remove(partner.slot) else {
            // Unreachable: candidates are live entries; kept total rather than panicking.
            let common_interests = Vec::new();
            let initiator = me.clone();
            return Pairing {
                initiator,
                responder: me,
                common_interests,
            };
        };
        let other_lines = other.lines.as_slice();
        let shared = |id: &Option<u32>| id.is_some_and(|id| other_lines.contains(&id));
        let me_first = my_seq < partner.seq;
        // Common interests in the initiator's order, allocating only when there are some.
        let count = my_lines.iter().filter(|id| shared(id)).count();
        let mut common_interests = Vec::with_capacity(count);
        if count > 0 {
            if me_first {
                let mine = me.interests.as_slice().iter().zip(my_lines.iter());
                common_interests.extend(mine.filter(|(_, id)| shared(id)).map(|(i, _)| i.clone()));
            } else {
                let theirs = other.interests.as_slice().iter().zip(other_lines);
                let in_mine = |id: &u32| my_lines.contains(&Some(*id));
                common_interests
                    .extend(theirs.filter(|(_, id)| in_mine(id)).map(|(i, _)| i.clone()));
            }
        }
        let other = Waiter {
            guest: other.guest,
            interests: other.interests,
            waiting_since: other.since,
        };
        let (initiator, responder) = if me_first { (me, other) } else { (other, me) };
        Pairing {
            initiator,
            responder,
            common_interests,
        }
    }

    fn remove(&mut self, slot: u32) -> Option<Waiting> {
        let waiting = self.slab.take(slot)?;
        self.slot_of.remove(&waiting.guest);
        for &id in waiting.lines.as_slice() {
            if let Some(line) = self.lines.get_mut(id as usize) {
                line.bury(&self.slab);
                if line.is_all_stale() {
                    self.emptied_lines += 1;
                }
            }
        }
        // Live lines are at most MAX_INTERESTS per ticket, so past that bound at least the excess
        // is empty: pruning then frees thousands of slots, and costs O(1) per removal amortized.
        let surely_empty = self
            .line_index
            .len()
            .saturating_sub(MAX_INTERESTS * self.slot_of.len());
        if self.emptied_lines >= PRUNE_MIN_LINES && surely_empty >= PRUNE_MIN_LINES {
            self.prune_empty_lines();
        }
        if waiting.interests.is_empty() {
            self.random_open.bury(&self.slab);
        } else if waiting.phase == Phase::Settled {
            self.random_settled.bury(&self.slab);
        }
        match waiting.phase {
            Phase::Fresh => {
                self.due_stale += 1;
                if self.due_stale >= COMPACT_MIN && self.due_stale * 2 >= self.due.len() {
                    let slab = &self.slab;
                    self.due.retain(|(_, e)| slab.live(*e).is_some());
                    self.due_stale = 0;
                }
            }
            Phase::Settled => {
                self.expiry_stale += 1;
                if self.expiry_stale >= COMPACT_MIN && self.expiry_stale * 2 >= self.expiry.len() {
                    let slab = &self.slab;
                    self.expiry
                        .retain(|Reverse((_, e))| slab.live(*e).is_some());
                    self.expiry_stale = 0;
                }
            }
        }
        Some(waiting)
    }

    /// A new (or reused) line slot for `interest`, which has none.
    fn new_line(&mut self, interest: &str) -> u32 {
        let id = match self.free_lines.pop() {
            Some(id) => id,
            None => {
                self.lines.push(Line::default());
                u32::try_from(self.lines.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.line_index.insert(interest.into(), id);
        id
    }

    /// Frees the slots of lines with no live entry; amortized over the removals that emptied them.
    fn prune_empty_lines(&mut self) {
        let lines = &mut self.lines;
        let free = &mut self.free_lines;
        self.line_index.retain(|_, id| {
            let Some(line) = lines.get_mut(*id as usize) else {
                return false;
            };
            if line.is_all_stale() {
                *line = Line::default();
                free.push(*id);
                false
            } else {
                true
            }
        });
        self.emptied_lines = 0;
    }

    /// Heap and line sizes, tombstones included (for tests that check memory stays bounded).
    #[doc(hidden)]
    pub fn footprint(&self) -> usize {
        self.lines.iter().map(|l| l.entries.len()).sum::<usize>()
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
        Ticket::new(
            GuestId::random(),
            Interests::parse(interests).unwrap_or_default(),
        )
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
            assert!(
                matches!(outcome, Enqueued::Paired(_)),
                "step {i}: {outcome:?}"
            );
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
