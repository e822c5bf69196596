//! Catching guests up after the node's link to the other nodes was interrupted.
//!
//! What the other nodes publish to this node's sockets goes through the adapter's pub/sub,
//! which keeps nothing: while the link is down (a Redis restart, a network cut between this
//! node and Redis), a `user:matched` or a relayed `chat:message` published elsewhere is lost
//! on the way, though it is in the store. The node watches its [`AdapterLink`]; once it
//! receives again after an interruption, every socket of the node is caught up from the store,
//! behind its own events (`SocketContext`'s inbox).

use std::sync::Arc;
use std::time::Duration;

use duet_core::Timestamp;
use socketioxide::adapter::Adapter;

use crate::node::{AdapterLink, Duet};

/// How often the link is looked at: an interruption is noticed by its count however short it
/// was, so this only bounds how late the catch-up starts.
const LINK_CHECK: Duration = Duration::from_millis(200);

/// How much earlier than the last moment the link was seen receiving a catch-up starts: an
/// event is numbered (its time taken) a little before it is published, the nodes' clocks
/// differ a little, and the connection's end is reported a little after it happened.
const CATCH_UP_MARGIN: Duration = Duration::from_secs(2);

/// What the watcher knows of the link between two looks.
#[derive(Debug)]
struct LinkWatch {
    /// The interruption count at the last look.
    interruptions: u64,
    /// The last look that found the link receiving with no new interruption.
    heard_at: Timestamp,
    /// The `heard_at` before the interruptions not yet caught up on.
    missed_since: Option<Timestamp>,
}

impl LinkWatch {
    fn new(interruptions: u64, now: Timestamp) -> Self {
        Self {
            interruptions,
            heard_at: now,
            missed_since: None,
        }
    }

    /// One look, taken at `now`, then `receiving` read, then `interruptions`, in that order.
    /// Returns since when to catch up, once the link receives again after interruptions.
    ///
    /// A look that finds a new interruption does not trust its `receiving` (read before the
    /// count, it may predate the interruption): the next look decides.
    fn look(&mut self, now: Timestamp, receiving: bool, interruptions: u64) -> Option<Timestamp> {
        if interruptions != self.interruptions {
            self.interruptions = interruptions;
            self.missed_since.get_or_insert(self.heard_at);
            return None;
        }
        if !receiving {
            return None;
        }
        self.heard_at = now;
        self.missed_since
            .take()
            .map(|heard| heard.saturating_sub(CATCH_UP_MARGIN))
    }
}

impl<A: Adapter> Duet<A> {
    /// Watches `link` for as long as the node runs (a task of [`Duet::spawn_tasks`]), and
    /// catches the node's sockets up after each interruption.
    pub(crate) async fn watch_adapter_link(self: Arc<Self>, link: Arc<dyn AdapterLink>) {
        let mut ticker = tokio::time::interval(LINK_CHECK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watch = LinkWatch::new(link.interruptions(), self.now());
        loop {
            ticker.tick().await;
            let now = self.now();
            let receiving = link.receiving();
            if let Some(since) = watch.look(now, receiving, link.interruptions()) {
                self.catch_up_sockets(since);
            }
        }
    }

    fn catch_up_sockets(&self, since: Timestamp) {
        let sockets = self.io.local().sockets();
        tracing::info!(
            sockets = sockets.len(),
            %since,
            "the link to the other nodes is back; catching this node's guests up"
        );
        for socket in sockets {
            crate::session::queue_catch_up(socket, since);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms)
    }

    fn margin_before(ms: i64) -> Option<Timestamp> {
        Some(at(ms).saturating_sub(CATCH_UP_MARGIN))
    }

    #[test]
    fn a_link_that_keeps_receiving_needs_no_catch_up() {
        let mut watch = LinkWatch::new(3, at(0));
        for ms in [200, 400, 600] {
            assert_eq!(watch.look(at(ms), true, 3), None);
        }
    }

    #[test]
    fn an_interruption_is_caught_up_from_before_it_once_the_link_receives_again() {
        let mut watch = LinkWatch::new(0, at(0));
        assert_eq!(watch.look(at(200), true, 0), None);
        assert_eq!(watch.look(at(400), false, 1), None, "interrupted");
        assert_eq!(watch.look(at(600), false, 1), None, "still down");
        assert_eq!(watch.look(at(800), false, 2), None, "a failed reconnection");
        assert_eq!(
            watch.look(at(1_000), true, 2),
            margin_before(200),
            "from the last look that heard, less the margin"
        );
        assert_eq!(watch.look(at(1_200), true, 2), None, "once");
    }

    #[test]
    fn an_interruption_too_short_to_be_seen_down_is_caught_up_all_the_same() {
        let mut watch = LinkWatch::new(5, at(0));
        assert_eq!(watch.look(at(200), true, 5), None);
        // Down and up again between two looks: only the count tells.
        assert_eq!(
            watch.look(at(400), true, 6),
            None,
            "receiving was read before the count: the next look decides"
        );
        assert_eq!(watch.look(at(600), true, 6), margin_before(200));
    }

    #[test]
    fn a_second_interruption_before_the_link_is_back_keeps_the_start_of_the_first() {
        let mut watch = LinkWatch::new(0, at(0));
        assert_eq!(watch.look(at(200), false, 1), None);
        assert_eq!(watch.look(at(400), true, 2), None);
        assert_eq!(watch.look(at(600), true, 2), margin_before(0));
    }
}
