//! Per-key token buckets (governor), with the wait a refused caller must observe.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// A token bucket per key: `capacity` tokens, refilled at `capacity` per `period`.
///
/// This is governor's GCRA, which behaves exactly as a token bucket: a full bucket allows a burst
/// of `capacity`, after which one token returns every `period / capacity`. It is not a fixed
/// window: a client that spent everything may send again after `period / capacity`, not after a
/// whole `period`.
#[derive(Debug)]
pub struct KeyedBudget<K: Hash + Eq + Clone> {
    limiter: RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> KeyedBudget<K> {
    /// `capacity` events per `period` per key. A zero capacity or period is raised to the
    /// smallest valid value (1 event, 1 ms) rather than panicking.
    pub fn new(capacity: u32, period: Duration) -> Self {
        let capacity = NonZeroU32::new(capacity).unwrap_or(NonZeroU32::MIN);
        let period = period.max(Duration::from_millis(1));
        let replenish_one = period / capacity.get();
        let quota = Quota::with_period(replenish_one.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(capacity);
        Self {
            limiter: RateLimiter::dashmap(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one token for `key`, or says how long until one is available. A refused call takes
    /// nothing.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets keys whose buckets are full again (they behave exactly as unknown keys), so the
    /// map does not grow with every client ever seen.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_of_capacity_then_refuses_with_a_wait() {
        let budget = KeyedBudget::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(budget.check(&"a").is_ok());
        }
        let wait = budget.check(&"a").err().unwrap_or_default();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(budget.check(&"b").is_ok(), "keys are independent");
        assert_eq!(budget.len(), 2);
    }
}
