//! What a [`ChatStore`](crate::ChatStore) keeps of each direction of a chat so that nothing is
//! lost across a dropped connection: every entry sent to a guest (a message, or a marker such as
//! "cleared"), numbered in order, the recent ones kept for a replay.
//!
//! Each guest's log has two states. While the guest is connected, entries go out at once and the
//! log is a ring of the most recent ones (a client that lost some in flight asks for what came
//! after the last number it saw). From the moment its connection drops, or while it is taking
//! over a new socket, entries are *held*: they wait for its return, and none of them is trimmed,
//! so beyond the limits the sender is refused instead. The hold outlasts the return itself: it
//! ends only when a release finds nothing new since the last hand-out, so what comes while the
//! held entries are on their way is sent after them, never live ahead of them.

use std::collections::VecDeque;
use std::time::Duration;

use duet_core::{RoomId, Timestamp};

use crate::model::Pair;

/// How much a log may keep, given with each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepLimits {
    /// Entries kept for one guest.
    pub entries: usize,
    /// Bytes kept for one guest.
    pub bytes: usize,
    /// Bytes kept for every guest together in this store (one node's memory, or one Redis).
    pub total_bytes: usize,
    /// How long an entry sent to a connected guest is kept for a replay: the resume grace, since
    /// nothing older can still be in flight when a connection drops. Older ones go when the
    /// next entry comes. Held entries are kept however old.
    pub live_for: Duration,
}

/// What became of an entry given to [`ChatStore::keep`](crate::ChatStore::keep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// The guest is connected: send the entry now, with this number. It is kept for a replay
    /// too, so if it cannot be sent it still reaches the guest on its return.
    Live(u64),
    /// As [`Kept::Live`], but the store had no room to keep it: if it cannot be sent now, it is
    /// lost.
    Unkept(u64),
    /// The guest is away: the entry, with this number, waits for its return.
    Held(u64),
    /// The guest is away and what is held for it reached the limits: the entry was not kept.
    Refused,
}

/// One entry of a log with its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptEntry {
    /// Its number: 1 for the first entry of a chat, then one more for each.
    pub seq: u64,
    /// The opaque entry.
    pub entry: Vec<u8>,
}

/// The last entry a reconnecting client saw of its chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastSeen {
    /// The chat it was in.
    pub room_id: RoomId,
    /// The number of the last entry it received.
    pub seq: u64,
}

/// What a guest finds on its return ([`ChatStore::come_back`](crate::ChatStore::come_back)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Return {
    /// Its chat, if it still has one.
    pub pair: Option<Pair>,
    /// Whether it had been marked away (its partner is told it is back).
    pub was_away: bool,
    /// What it has to be sent, oldest first.
    pub entries: Vec<KeptEntry>,
}

/// One guest's log, in memory.
#[derive(Debug, Default)]
pub(crate) struct Log {
    /// The number of the last entry.
    seq: u64,
    /// Each entry with when it was kept.
    entries: VecDeque<(Timestamp, KeptEntry)>,
    bytes: usize,
    /// While held: the number of the last entry that went out before.
    held_from: Option<u64>,
    held_entries: usize,
    held_bytes: usize,
}

impl Log {
    /// The bytes it keeps (what `total` counts for it).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds what comes from now on (no-op when already held).
    pub(crate) fn hold(&mut self) {
        if self.held_from.is_none() {
            self.hold_from_last();
        }
    }

    /// Holds from entry `seq` on (it was kept, but could not be sent): as if the guest had gone
    /// away just before it. No-op when held from before it already.
    pub(crate) fn hold_since(&mut self, seq: u64) {
        let since = seq.saturating_sub(1);
        if self.held_from.is_some_and(|from| from <= since) {
            return;
        }
        self.held_from = Some(since);
        let held = self
            .entries
            .iter()
            .map(|(_, kept)| kept)
            .filter(|kept| kept.seq > since);
        self.held_entries = held.clone().count();
        self.held_bytes = held.map(|kept| kept.entry.len()).sum();
    }

    /// Adds `entry`, kept `now`, within `limits`; `total` is the store's kept bytes.
    pub(crate) fn keep(
        &mut self,
        entry: Vec<u8>,
        limits: &KeepLimits,
        now: Timestamp,
        total: &mut usize,
    ) -> Kept {
        let size = entry.len();
        let seq = self.seq + 1;
        if self.held_from.is_some() {
            if self.held_entries >= limits.entries
                || self.held_bytes + size > limits.bytes
                || *total + size > limits.total_bytes
            {
                return Kept::Refused;
            }
            self.held_entries += 1;
            self.held_bytes += size;
        } else if *total + size > limits.total_bytes || size > limits.bytes {
            // It goes out at once; there is no room to keep it for a replay.
            self.seq = seq;
            return Kept::Unkept(seq);
        }
        self.seq = seq;
        self.push(now, KeptEntry { seq, entry }, total);
        self.trim(limits, now, total);
        if self.held_from.is_some() {
            Kept::Held(seq)
        } else {
            Kept::Live(seq)
        }
    }

    /// Replaces every entry by `marker` (a clear, an end): it always fits.
    pub(crate) fn keep_marker(
        &mut self,
        marker: Vec<u8>,
        now: Timestamp,
        total: &mut usize,
    ) -> Kept {
        self.forget_entries(total);
        self.seq += 1;
        let seq = self.seq;
        if self.held_from.is_some() {
            self.held_entries = 1;
            self.held_bytes = marker.len();
        }
        self.push(now, KeptEntry { seq, entry: marker }, total);
        if self.held_from.is_some() {
            Kept::Held(seq)
        } else {
            Kept::Live(seq)
        }
    }

    /// The entries after `after`, or, without it, those held; the hold goes on, from the last
    /// entry, until [`release_hold`](Self::release_hold) finds nothing new.
    pub(crate) fn replay(&mut self, after: Option<u64>) -> Vec<KeptEntry> {
        let from = after.or(self.held_from);
        self.hold_from_last();
        let Some(from) = from else {
            return Vec::new();
        };
        self.entries_after(from)
    }

    /// What was kept since the entries handed out last ([`replay`](Self::replay) or an earlier
    /// call), still held; when there is nothing, the hold ends and what follows goes out live.
    pub(crate) fn release_hold(&mut self) -> Vec<KeptEntry> {
        let Some(from) = self.held_from else {
            return Vec::new();
        };
        if self.seq <= from {
            self.held_from = None;
            self.held_entries = 0;
            self.held_bytes = 0;
            return Vec::new();
        }
        self.hold_from_last();
        self.entries_after(from)
    }

    /// Holds what comes after the last entry, counting it afresh against the limits.
    fn hold_from_last(&mut self) {
        self.held_from = Some(self.seq);
        self.held_entries = 0;
        self.held_bytes = 0;
    }

    fn entries_after(&self, from: u64) -> Vec<KeptEntry> {
        self.entries
            .iter()
            .map(|(_, kept)| kept)
            .filter(|kept| kept.seq > from)
            .cloned()
            .collect()
    }

    /// Every entry, oldest first, leaving the log empty.
    pub(crate) fn take(mut self, total: &mut usize) -> Vec<KeptEntry> {
        *total = total.saturating_sub(self.bytes);
        self.entries.drain(..).map(|(_, kept)| kept).collect()
    }

    /// Drops every entry, giving their bytes back to `total`.
    pub(crate) fn forget_entries(&mut self, total: &mut usize) {
        *total = total.saturating_sub(self.bytes);
        self.entries.clear();
        self.bytes = 0;
    }

    fn push(&mut self, at: Timestamp, kept: KeptEntry, total: &mut usize) {
        self.bytes += kept.entry.len();
        *total += kept.entry.len();
        self.entries.push_back((at, kept));
    }

    /// Drops the oldest entries beyond the limits or older than `limits.live_for`, never one
    /// that is held.
    fn trim(&mut self, limits: &KeepLimits, now: Timestamp, total: &mut usize) {
        let oldest_live = now.saturating_sub(limits.live_for);
        while let Some((kept_at, oldest)) = self.entries.front() {
            if self.held_from.is_some_and(|from| oldest.seq > from) {
                break;
            }
            let over = self.entries.len() > limits.entries || self.bytes > limits.bytes;
            if !over && *kept_at >= oldest_live {
                break;
            }
            let size = oldest.entry.len();
            self.entries.pop_front();
            self.bytes -= size;
            *total = total.saturating_sub(size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: KeepLimits = KeepLimits {
        entries: 3,
        bytes: 10,
        total_bytes: 100,
        live_for: Duration::from_secs(15),
    };

    const NOW: Timestamp = Timestamp::from_unix_millis(1_000_000);

    fn seqs(entries: &[KeptEntry]) -> Vec<u64> {
        entries.iter().map(|kept| kept.seq).collect()
    }

    #[test]
    fn a_live_log_is_a_ring_and_a_held_one_refuses() {
        let mut total = 0;
        let mut log = Log::default();
        for _ in 0..5 {
            log.keep(vec![1, 2], &LIMITS, NOW, &mut total);
        }
        assert_eq!(seqs(&log.replay(Some(0))), [3, 4, 5]);
        assert_eq!(total, 6);
        log.hold();
        assert_eq!(
            log.keep(vec![0; 4], &LIMITS, NOW, &mut total),
            Kept::Held(6)
        );
        assert_eq!(
            log.keep(vec![0; 4], &LIMITS, NOW, &mut total),
            Kept::Held(7)
        );
        // 8 bytes held: two more do not fit in 10, and nothing held is trimmed to make room.
        assert_eq!(
            log.keep(vec![0; 3], &LIMITS, NOW, &mut total),
            Kept::Refused
        );
        assert_eq!(seqs(&log.replay(None)), [6, 7]);
        assert_eq!(total, log.bytes());
    }

    #[test]
    fn the_hold_lasts_until_a_release_finds_nothing_new() {
        let mut total = 0;
        let mut log = Log::default();
        log.hold();
        for _ in 0..3 {
            log.keep(vec![1, 2, 3], &LIMITS, NOW, &mut total);
        }
        assert_eq!(seqs(&log.replay(None)), [1, 2, 3]);
        // Kept while the replay was on its way: held, counted afresh against the limits, and
        // handed out by the release rather than sent ahead of the replay.
        assert_eq!(
            log.keep(vec![4, 5, 6], &LIMITS, NOW, &mut total),
            Kept::Held(4)
        );
        assert_eq!(seqs(&log.release_hold()), [4]);
        assert_eq!(log.keep(vec![7], &LIMITS, NOW, &mut total), Kept::Held(5));
        assert_eq!(seqs(&log.release_hold()), [5]);
        assert!(log.release_hold().is_empty(), "nothing new: the hold ends");
        assert_eq!(log.keep(vec![8], &LIMITS, NOW, &mut total), Kept::Live(6));
        assert!(
            log.release_hold().is_empty(),
            "no hold: nothing to hand out"
        );
        assert_eq!(total, log.bytes());
    }

    #[test]
    fn an_entry_that_could_not_be_sent_starts_the_hold() {
        let mut total = 0;
        let mut log = Log::default();
        for _ in 0..3 {
            log.keep(vec![1], &LIMITS, NOW, &mut total);
        }
        log.hold_since(2);
        log.hold_since(3);
        assert_eq!(
            seqs(&log.replay(None)),
            [2, 3],
            "held from before 3 already"
        );
        log.hold();
        log.hold_since(3);
        assert_eq!(
            seqs(&log.replay(None)),
            [3],
            "a hold that began later moves back"
        );
    }

    #[test]
    fn entries_sent_to_a_connected_guest_go_after_the_grace_held_ones_never() {
        let mut total = 0;
        let mut log = Log::default();
        log.keep(vec![1], &LIMITS, NOW, &mut total);
        let later = NOW.saturating_add(Duration::from_secs(10));
        log.keep(vec![2], &LIMITS, later, &mut total);
        let past_grace = NOW.saturating_add(Duration::from_secs(16));
        log.keep(vec![3], &LIMITS, past_grace, &mut total);
        assert_eq!(
            seqs(&log.replay(Some(0))),
            [2, 3],
            "the first is older than the grace"
        );
        log.hold();
        log.keep(vec![4], &LIMITS, past_grace, &mut total);
        let much_later = past_grace.saturating_add(Duration::from_secs(60));
        log.keep(vec![5], &LIMITS, much_later, &mut total);
        assert_eq!(
            seqs(&log.replay(None)),
            [4, 5],
            "held ones stay however old"
        );
        assert_eq!(total, 2, "what is kept is what is counted");
    }

    #[test]
    fn a_full_store_still_numbers_live_entries_and_refuses_held_ones() {
        let mut total = 99;
        let mut log = Log::default();
        assert_eq!(
            log.keep(vec![0; 2], &LIMITS, NOW, &mut total),
            Kept::Unkept(1)
        );
        assert_eq!(total, 99);
        log.hold();
        assert_eq!(
            log.keep(vec![0; 2], &LIMITS, NOW, &mut total),
            Kept::Refused
        );
    }

    #[test]
    fn a_marker_replaces_everything_and_keeps_counting() {
        let mut total = 0;
        let mut log = Log::default();
        log.keep(vec![1], &LIMITS, NOW, &mut total);
        log.hold();
        log.keep(vec![2], &LIMITS, NOW, &mut total);
        assert_eq!(log.keep_marker(vec![9], NOW, &mut total), Kept::Held(3));
        let replayed = log.replay(None);
        assert_eq!(seqs(&replayed), [3]);
        assert_eq!(replayed[0].entry, [9]);
        assert_eq!(log.take(&mut total).len(), 1);
        assert_eq!(total, 0);
    }
}
