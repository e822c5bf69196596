//! [`Inbox`]: one socket's events, run one at a time in the order they were read.
//!
//! socketioxide runs every handler call as a task of its own, so two events of one socket can
//! start in either order. Duet therefore admits each event while socketioxide reads it (in the
//! handler's extractor, which runs in the socket's read path, before any task is spawned) into
//! the socket's inbox, and whoever finds the inbox idle drains it. No task exists for an idle
//! socket, and the inbox ends with its socket: once the disconnection has been queued, nothing
//! more is accepted, and draining stops when the queue is empty.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// What [`Inbox::push`] did with an item.
#[derive(Debug)]
pub(crate) enum Pushed<T> {
    /// Queued, and no drain was under way: the caller must drain.
    Drain,
    /// Queued behind a drain under way, which will run it.
    Queued,
    /// Refused: the inbox is full or closed. The item comes back to be answered.
    Refused(T),
}

#[derive(Debug)]
struct State<T> {
    /// Each item with the payload bytes its pusher counted.
    queue: VecDeque<(T, usize)>,
    /// Bytes of payload queued.
    bytes: usize,
    /// Someone is draining (or will: a new inbox is held until its socket's connect work is
    /// done, so that early events wait for it).
    draining: bool,
    /// The last item was queued: nothing more is accepted.
    closed: bool,
}

/// A bounded queue of one socket's work with "whoever finds it idle drains it" hand-off.
#[derive(Debug)]
pub(crate) struct Inbox<T> {
    state: Mutex<State<T>>,
    max_items: usize,
    max_bytes: usize,
}

impl<T> Inbox<T> {
    /// An inbox holding at most `max_items` items and `max_bytes` bytes of payload, held for
    /// the caller: items queue up until the caller drains it.
    pub(crate) fn held(max_items: usize, max_bytes: usize) -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                draining: true,
                closed: false,
            }),
            max_items,
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // No code panics while holding this lock; if one did, the queue is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether an item of `bytes` would be accepted now. Only the read path pushes events and
    /// drains only take, so the answer holds until the push (unless the socket ends meanwhile,
    /// and then the push is refused).
    pub(crate) fn has_room(&self, bytes: usize) -> bool {
        let state = self.lock();
        !state.closed && !self.is_full(&state, bytes)
    }

    /// Whether `bytes` more would go over a bound; one item always fits in an empty inbox.
    fn is_full(&self, state: &State<T>, bytes: usize) -> bool {
        let over = state.queue.len() >= self.max_items
            || state.bytes.saturating_add(bytes) > self.max_bytes;
        over && !state.queue.is_empty()
    }

    /// Queues `item`, whose payload is `bytes` long.
    pub(crate) fn push(&self, item: T, bytes: usize) -> Pushed<T> {
        let mut state = self.lock();
        if state.closed || self.is_full(&state, bytes) {
            return Pushed::Refused(item);
        }
        state.queue.push_back((item, bytes));
        state.bytes = state.bytes.saturating_add(bytes);
        self.hand_off(&mut state)
    }

    /// Queues `item`, work of the node's own rather than an event of the client's: the bounds,
    /// which keep a client's backlog in check, do not apply. A closed inbox still refuses it.
    pub(crate) fn push_unbounded(&self, item: T) -> Pushed<T> {
        let mut state = self.lock();
        if state.closed {
            return Pushed::Refused(item);
        }
        state.queue.push_back((item, 0));
        self.hand_off(&mut state)
    }

    /// Queues `item` as the last one (the socket's end): everything pushed after it is refused,
    /// another last item included (a socket ends once).
    pub(crate) fn push_last(&self, item: T) -> Pushed<T> {
        let mut state = self.lock();
        if state.closed {
            return Pushed::Refused(item);
        }
        state.queue.push_back((item, 0));
        state.closed = true;
        self.hand_off(&mut state)
    }

    fn hand_off(&self, state: &mut State<T>) -> Pushed<T> {
        if state.draining {
            Pushed::Queued
        } else {
            state.draining = true;
            Pushed::Drain
        }
    }

    /// The next item for the drainer. `None` when the queue is empty: the drain is then over,
    /// and the next push hands it to its pusher.
    pub(crate) fn next(&self) -> Option<T> {
        let mut state = self.lock();
        match state.queue.pop_front() {
            Some((item, bytes)) => {
                state.bytes = state.bytes.saturating_sub(bytes);
                Some(item)
            }
            None => {
                state.draining = false;
                None
            }
        }
    }

    /// Items waiting.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(inbox: &Inbox<u32>) -> Vec<u32> {
        std::iter::from_fn(|| inbox.next()).collect()
    }

    #[test]
    fn a_held_inbox_queues_until_its_holder_drains_it() {
        let inbox = Inbox::held(10, 100);
        assert!(matches!(inbox.push(1, 1), Pushed::Queued));
        assert!(matches!(inbox.push(2, 1), Pushed::Queued));
        assert_eq!(drain(&inbox), [1, 2]);
        // Idle now: the next pusher drains.
        assert!(matches!(inbox.push(3, 1), Pushed::Drain));
        assert!(matches!(inbox.push(4, 1), Pushed::Queued));
        assert_eq!(drain(&inbox), [3, 4]);
    }

    #[test]
    fn bounds_refuse_by_count_and_bytes_but_one_item_always_fits() {
        let inbox = Inbox::held(2, 10);
        assert!(
            matches!(inbox.push(1, 50), Pushed::Queued),
            "alone, a large item fits"
        );
        assert!(
            matches!(inbox.push(2, 1), Pushed::Refused(2)),
            "over the byte bound"
        );
        assert_eq!(drain(&inbox), [1]);
        assert!(matches!(inbox.push(3, 1), Pushed::Drain));
        assert!(matches!(inbox.push(4, 1), Pushed::Queued));
        assert!(
            !inbox.has_room(1) && matches!(inbox.push(5, 1), Pushed::Refused(5)),
            "over the count bound"
        );
        assert_eq!(inbox.len(), 2);
    }

    #[test]
    fn the_nodes_own_work_is_queued_past_the_bounds_but_not_past_the_end() {
        let inbox = Inbox::held(1, 10);
        assert!(matches!(inbox.push(1, 5), Pushed::Queued));
        assert!(matches!(inbox.push(2, 5), Pushed::Refused(2)), "full");
        assert!(matches!(inbox.push_unbounded(3), Pushed::Queued));
        assert!(matches!(inbox.push_last(9), Pushed::Queued));
        assert!(matches!(inbox.push_unbounded(4), Pushed::Refused(4)));
        assert_eq!(drain(&inbox), [1, 3, 9]);
    }

    #[test]
    fn nothing_is_accepted_after_the_last_item() {
        let inbox = Inbox::held(10, 100);
        assert!(matches!(inbox.push(1, 1), Pushed::Queued));
        assert!(matches!(inbox.push_last(9), Pushed::Queued));
        assert!(!inbox.has_room(0), "an ending socket takes nothing more");
        assert!(matches!(inbox.push(2, 1), Pushed::Refused(2)));
        assert!(
            matches!(inbox.push_last(8), Pushed::Refused(8)),
            "a socket ends once"
        );
        assert_eq!(drain(&inbox), [1, 9]);
        assert!(matches!(inbox.push(3, 1), Pushed::Refused(3)));
    }
}
