//! [`MemoryQueue`]: the single-node match queue.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use duet_core::{Clock, GuestId, SystemClock, Timestamp};

use crate::error::QueueError;
use crate::model::{DueWork, Enqueued, MatchConfig, Ticket};
use crate::queue::MatchQueue;
use crate::waitlist::Waitlist;

/// A [`Waitlist`] behind a mutex: the match queue of a single node.
///
/// A `std::sync::Mutex`, not a Tokio one: no operation awaits while holding it, and each is a
/// few hash-map and deque updates, so blocking briefly beats the cost of an async lock.
#[derive(Debug, Clone)]
pub struct MemoryQueue {
    waitlist: Arc<Mutex<Waitlist>>,
    config: Arc<MatchConfig>,
    clock: Arc<dyn Clock>,
}

impl MemoryQueue {
    /// A queue with `config` and the system clock.
    pub fn new(config: MatchConfig) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A queue with `config`, measuring waits with `clock`.
    pub fn with_clock(config: MatchConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            waitlist: Arc::new(Mutex::new(Waitlist::new(&config))),
            config: Arc::new(config),
            clock,
        }
    }

    fn waitlist(&self) -> Result<MutexGuard<'_, Waitlist>, QueueError> {
        self.waitlist
            .lock()
            .map_err(|_| QueueError::Corrupt("match queue lock poisoned".to_owned()))
    }
}

#[async_trait]
impl MatchQueue for MemoryQueue {
    fn config(&self) -> &MatchConfig {
        &self.config
    }

    fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    async fn enqueue(&self, ticket: Ticket) -> Result<Enqueued, QueueError> {
        let now = self.clock.now();
        Ok(self.waitlist()?.enqueue(ticket, now))
    }

    async fn cancel(&self, guest: &GuestId) -> Result<bool, QueueError> {
        Ok(self.waitlist()?.cancel(guest))
    }

    async fn is_waiting(&self, guest: &GuestId) -> Result<bool, QueueError> {
        Ok(self.waitlist()?.contains(guest))
    }

    async fn refresh(&self, guests: &[GuestId]) -> Result<(), QueueError> {
        let now = self.clock.now();
        self.waitlist()?.refresh(guests, now);
        Ok(())
    }

    async fn waiting_count(&self) -> Result<u64, QueueError> {
        Ok(self.waitlist()?.len() as u64)
    }

    async fn keep_apart(
        &self,
        a: &GuestId,
        b: &GuestId,
        until: Timestamp,
    ) -> Result<(), QueueError> {
        self.waitlist()?.keep_apart(*a, *b, until);
        Ok(())
    }

    async fn extend_apart(&self, guest: &GuestId, until: Timestamp) -> Result<(), QueueError> {
        let now = self.clock.now();
        self.waitlist()?.extend_apart(*guest, until, now);
        Ok(())
    }

    async fn run_due(&self, limit: usize) -> Result<DueWork, QueueError> {
        let now = self.clock.now();
        Ok(self.waitlist()?.run_due(limit, now))
    }
}
