//! Wall-clock time as the rest of Duet sees it: [`Timestamp`] and the [`Clock`] that reads it.
//!
//! Every expiry in Duet (tokens, sessions, presence) is compared against a [`Clock`] rather than
//! against the system time directly, so that tests can move time forward deterministically with a
//! [`ManualClock`] instead of sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A point in time, in whole milliseconds since the Unix epoch (UTC); the default is the epoch.
///
/// On the wire it is an RFC 3339 string in UTC (`2026-11-28T14:38:15.123Z`); in storage it is the
/// plain number, which is what Redis scores and TTLs want.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The timestamp `millis` milliseconds after the Unix epoch.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch, rounded down (what JWT `exp` and `iat` carry).
    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This timestamp moved `duration` later, saturating instead of overflowing.
    pub fn saturating_add(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// This timestamp moved `duration` earlier, saturating instead of overflowing.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(millis))
    }

    /// This timestamp rounded down to a whole second.
    pub const fn floor_to_second(self) -> Self {
        Self(self.unix_seconds() * 1000)
    }

    /// How long from `earlier` to `self`; zero when `earlier` is not earlier.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// Parses an RFC 3339 string (any offset) into a timestamp.
    pub fn parse_rfc3339(text: &str) -> Result<Self, time::error::Parse> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339)?;
        let millis = parsed.unix_timestamp_nanos() / 1_000_000;
        Ok(Self(i64::try_from(millis).unwrap_or(i64::MAX)))
    }
}

impl fmt::Display for Timestamp {
    /// Formats as RFC 3339 in UTC with millisecond precision (`2026-11-28T14:38:15.123Z`); every
    /// timestamp has the same width, which sorts and diffs well.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = i128::from(self.0) * 1_000_000;
        let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
            return write!(f, "@{}ms", self.0);
        };
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// Something that tells the current time.
///
/// Stored as `Arc<dyn Clock>` by the crates that need one, so a test can hand the same
/// [`ManualClock`] to the token service, the presence store and the match queue.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told to; clones share the same time.
///
/// It starts at the system time when created, so values stored elsewhere (Redis TTLs) stay
/// plausible.
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    /// A manual clock starting at the current system time.
    pub fn new() -> Self {
        Self::starting_at(SystemClock.now())
    }

    /// A manual clock starting at `start`.
    pub fn starting_at(start: Timestamp) -> Self {
        Self {
            millis: Arc::new(AtomicI64::new(start.0)),
        }
    }

    /// Moves the clock forward by `duration`.
    pub fn advance(&self, duration: Duration) {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        self.millis.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets the clock to `time`.
    pub fn set(&self, time: Timestamp) {
        self.millis.store(time.0, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.millis.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_rfc3339_utc_with_millis_and_parses_back() {
        let stamp = Timestamp::from_unix_millis(1_764_340_695_123);
        assert_eq!(stamp.to_string(), "2025-11-28T14:38:15.123Z");
        assert_eq!(
            Timestamp::parse_rfc3339(&stamp.to_string()).ok(),
            Some(stamp)
        );
        let json = serde_json::to_string(&stamp).unwrap_or_default();
        assert_eq!(json, "\"2025-11-28T14:38:15.123Z\"");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::starting_at(Timestamp::from_unix_millis(1_000));
        let shared = clock.clone();
        clock.advance(Duration::from_millis(2_500));
        assert_eq!(shared.now().unix_millis(), 3_500);
        assert_eq!(shared.now().unix_seconds(), 3);
        assert_eq!(shared.now().floor_to_second().unix_millis(), 3_000);
    }
}
