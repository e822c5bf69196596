//! Helpers shared by the test suites of the Duet crates.
//!
//! The one rule they enforce: tests that need Redis read its address from `DUET_TEST_REDIS_URL`.
//! Without it they are skipped with a printed reason, except in CI (`CI=true`), where a missing
//! Redis is a failure, so no Redis-backed test can pass vacuously there.

/// The environment variable naming the Redis server that tests may use.
pub const REDIS_URL_VAR: &str = "DUET_TEST_REDIS_URL";

/// The Redis URL tests should use, or `None` (after printing why) when they must be skipped.
///
/// # Panics
///
/// When `CI=true` and `DUET_TEST_REDIS_URL` is unset: CI must run every Redis-backed test.
pub fn redis_url_or_skip(test_name: &str) -> Option<String> {
    match std::env::var(REDIS_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if running_in_ci() => {
            panic!(
                "{test_name}: CI=true but {REDIS_URL_VAR} is not set; Redis-backed tests must run in CI"
            )
        }
        _ => {
            eprintln!(
                "SKIPPED {test_name}: set {REDIS_URL_VAR} (e.g. redis://127.0.0.1:6379) to run it"
            );
            None
        }
    }
}

/// Whether this is a CI run (`CI=true` or `CI=1`).
pub fn running_in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1"))
}

/// A key prefix no other test uses, so Redis-backed tests can share one server in parallel.
pub fn unique_prefix(test_name: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("duet-test:{test_name}:{}:{nanos}:{n}:", std::process::id())
}
