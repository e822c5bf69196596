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
        match self.rfc3339_text() {
            Some(text) => f.write_str(text.as_str()),
            None => self.fmt_outside_four_digit_years(f),
        }
    }
}

impl Timestamp {
    /// The RFC 3339 text, for years 0000 to 9999 (every timestamp a clock gives). Built from
    /// integer arithmetic into a fixed buffer: each relayed message carries two timestamps (the
    /// message and its ack) and one more in its log entry, and going through `time` and
    /// `write!` cost about 5 700 instructions each (callgrind), a third of the relay's own work.
    fn rfc3339_text(self) -> Option<Rfc3339Text> {
        const MILLIS_PER_DAY: i64 = 86_400_000;
        let (year, month, day) = civil_from_days(self.0.div_euclid(MILLIS_PER_DAY));
        if !(0..=9999).contains(&year) {
            return None;
        }
        // In 0..86_400_000, so every part below fits its width.
        let in_day = self.0.rem_euclid(MILLIS_PER_DAY);
        let mut text = *b"0000-00-00T00:00:00.000Z";
        put_digits(&mut text[0..4], year);
        put_digits(&mut text[5..7], month);
        put_digits(&mut text[8..10], day);
        put_digits(&mut text[11..13], in_day / 3_600_000);
        put_digits(&mut text[14..16], in_day / 60_000 % 60);
        put_digits(&mut text[17..19], in_day / 1000 % 60);
        put_digits(&mut text[20..23], in_day % 1000);
        Some(Rfc3339Text(text))
    }

    /// What years beyond four digits look like: through `time`, which takes years down to
    /// -9999, and as the raw number past that.
    fn fmt_outside_four_digit_years(self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, ASCII only.
struct Rfc3339Text([u8; 24]);

impl Rfc3339Text {
    fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written into it.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Writes `value` as decimal digits filling `slot`, zero-padded on the left.
fn put_digits(slot: &mut [u8], mut value: i64) {
    for digit in slot.iter_mut().rev() {
        // `value % 10` is in 0..10 for the non-negative values given here.
        *digit = b'0' + u8::try_from(value % 10).unwrap_or(0);
        value /= 10;
    }
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01, by Howard
/// Hinnant's `civil_from_days` (eras of 400 years, years starting in March).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days.saturating_add(719_468);
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.rfc3339_text() {
            Some(text) => serializer.serialize_str(text.as_str()),
            None => serializer.collect_str(self),
        }
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

    /// The same text as `time` gives, across the four-digit years: leap days, the turn of
    /// centuries, the epoch, before it, and the last millisecond of 9999.
    #[test]
    fn the_fast_text_matches_time_across_four_digit_years() {
        let format = time::format_description::parse_borrowed::<2>(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z",
        )
        .unwrap_or_default();
        let mut samples = vec![
            0,
            -1,
            1,
            951_782_400_000,     // 2000-02-29
            4_107_542_399_999,   // 2100-02-28T23:59:59.999
            -62_167_219_200_000, // 0000-01-01
            253_402_300_799_999, // 9999-12-31T23:59:59.999
        ];
        // Spread over the whole range by a fixed linear congruential sequence.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let span = 253_402_300_799_999 + 62_167_219_200_000;
            let offset = i64::try_from(state % span).unwrap_or(0);
            samples.push(offset - 62_167_219_200_000);
        }
        for millis in samples {
            let expected =
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
                    .ok()
                    .and_then(|t| t.format(&format).ok());
            let stamp = Timestamp::from_unix_millis(millis);
            let fast = stamp.rfc3339_text();
            assert_eq!(
                fast.as_ref().map(Rfc3339Text::as_str),
                expected.as_deref(),
                "{millis} ms"
            );
            assert_eq!(Some(stamp.to_string()), expected, "{millis} ms");
            assert_eq!(
                Timestamp::parse_rfc3339(&stamp.to_string()).ok(),
                Some(stamp)
            );
        }
    }

    #[test]
    fn years_past_four_digits_keep_their_earlier_text() {
        let before_year_zero = Timestamp::from_unix_millis(-62_167_219_200_001);
        assert_eq!(before_year_zero.to_string(), "-001-12-31T23:59:59.999Z");
        assert!(before_year_zero.rfc3339_text().is_none());
        let past_9999 = Timestamp::from_unix_millis(253_402_300_800_000);
        assert_eq!(past_9999.to_string(), "@253402300800000ms");
        assert_eq!(
            serde_json::to_string(&past_9999).unwrap_or_default(),
            "\"@253402300800000ms\""
        );
        assert_eq!(
            Timestamp::from_unix_millis(i64::MIN).to_string(),
            format!("@{}ms", i64::MIN)
        );
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
