//! Bookkeeping of one direction of a chat: what the sender numbered and was told, what the
//! receiver got, and from both, what was lost, repeated or reordered.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

/// The sender's side: each message carries its number as `clientId`.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    next: u64,
    /// Ack id → message number, for messages whose ack has not come.
    pending: HashMap<u64, u64>,
    confirmed: BTreeSet<u64>,
    refused: u64,
    /// Messages whose ack was lost with their connection: the sender cannot know their fate.
    unconfirmed: BTreeSet<u64>,
}

impl Sent {
    /// The number of the next message, recorded as waiting for ack `ack_id`.
    pub(crate) fn number(&mut self) -> u64 {
        let number = self.next;
        self.next += 1;
        number
    }

    pub(crate) fn sent(&mut self, ack_id: u64, number: u64) {
        self.pending.insert(ack_id, number);
    }

    /// An ack came; returns whether it was for a message.
    pub(crate) fn acked(&mut self, ack_id: u64, answer: &Value) -> bool {
        let Some(number) = self.pending.remove(&ack_id) else {
            return false;
        };
        if answer["ok"] == true {
            self.confirmed.insert(number);
        } else {
            self.refused += 1;
        }
        true
    }

    /// The connection went: its pending acks will never come.
    pub(crate) fn connection_lost(&mut self) {
        self.unconfirmed
            .extend(self.pending.drain().map(|(_, number)| number));
    }

    pub(crate) fn waiting(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn count(&self) -> u64 {
        self.next
    }
}

/// The receiver's side.
#[derive(Debug, Default)]
pub(crate) struct Received {
    seen: BTreeSet<u64>,
    duplicates: u64,
    out_of_order: u64,
    highest: Option<u64>,
}

impl Received {
    /// A `chat:message` arrived with `clientId` `number`.
    pub(crate) fn got(&mut self, number: u64) {
        if !self.seen.insert(number) {
            self.duplicates += 1;
            return;
        }
        if self.highest.is_some_and(|highest| number < highest) {
            self.out_of_order += 1;
        }
        self.highest = self.highest.max(Some(number));
    }

    pub(crate) fn count(&self) -> usize {
        self.seen.len()
    }
}

/// What became of the messages of many directions.
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct Tally {
    pub(crate) sent: u64,
    /// Acked `ok`.
    pub(crate) confirmed: u64,
    /// Acked with an error (the sender was told).
    pub(crate) refused: u64,
    /// No ack: the sender's connection was cut first.
    pub(crate) unconfirmed: u64,
    /// Confirmed and received: what "delivered" means.
    pub(crate) delivered: u64,
    /// Confirmed but never received: silent loss.
    pub(crate) lost: u64,
    /// Unconfirmed messages that arrived anyway.
    pub(crate) unconfirmed_delivered: u64,
    pub(crate) duplicates: u64,
    pub(crate) out_of_order: u64,
}

impl Tally {
    pub(crate) fn add(&mut self, sent: &Sent, received: &Received) {
        let delivered = sent.confirmed.intersection(&received.seen).count() as u64;
        self.sent += sent.next;
        self.confirmed += sent.confirmed.len() as u64;
        self.refused += sent.refused;
        self.unconfirmed += (sent.unconfirmed.len() + sent.pending.len()) as u64;
        self.delivered += delivered;
        self.lost += sent.confirmed.len() as u64 - delivered;
        self.unconfirmed_delivered += sent.unconfirmed.intersection(&received.seen).count() as u64;
        self.duplicates += received.duplicates;
        self.out_of_order += received.out_of_order;
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        self.sent += other.sent;
        self.confirmed += other.confirmed;
        self.refused += other.refused;
        self.unconfirmed += other.unconfirmed;
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.unconfirmed_delivered += other.unconfirmed_delivered;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
    }

    /// Delivered share of what was confirmed, in percent.
    pub(crate) fn delivered_percent(&self) -> f64 {
        if self.confirmed == 0 {
            return 100.0;
        }
        self.delivered as f64 * 100.0 / self.confirmed as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loss_duplicates_and_order_are_told_apart() {
        let mut sent = Sent::default();
        for ack in 0..4 {
            let number = sent.number();
            sent.sent(ack, number);
        }
        for ack in 0..3 {
            assert!(sent.acked(ack, &json!({"ok": true})));
        }
        assert!(!sent.acked(9, &json!({"ok": true})));
        sent.connection_lost();
        let mut received = Received::default();
        for number in [0, 2, 1, 2, 3] {
            received.got(number);
        }
        let mut tally = Tally::default();
        tally.add(&sent, &received);
        assert_eq!(
            (
                tally.confirmed,
                tally.delivered,
                tally.lost,
                tally.unconfirmed
            ),
            (3, 3, 0, 1)
        );
        assert_eq!(
            (
                tally.unconfirmed_delivered,
                tally.duplicates,
                tally.out_of_order
            ),
            (1, 1, 1)
        );
    }
}
