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

/// A minimal HTTP/1.1 answer, as [`http_request`] reads it.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// Header names (lower-cased) and values.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl HttpAnswer {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request with `Connection: close` to `address` and reads the whole answer.
///
/// Deliberately tiny (no chunked encoding beyond what the server needs, no TLS): it lets process
/// tests talk to a real server over a real socket without pulling an HTTP client into the build.
pub fn http_request(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<HttpAnswer> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

/// Runs each scenario once per backend: in a module `memory`, and in a module `redis` (only with
/// the caller's `redis` feature) where the Redis fixture may return `None` to skip.
///
/// The scenarios are `async fn(Fixture)`; `memory` names an `async fn() -> Fixture`, `redis` an
/// `async fn(&str) -> Option<Fixture>` taking a unique test name. The CI log then shows the same
/// test names under `memory::` and `redis::`.
#[macro_export]
macro_rules! backend_suite {
    (memory: $memory:ident, redis: $redis:ident, scenarios: [$($scenario:ident),* $(,)?]) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::$memory().await).await;
                }
            )*
        }

        #[cfg(feature = "redis")]
        mod redis {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let name = concat!(module_path!(), "::", stringify!($scenario));
                    if let Some(fixture) = super::$redis(name).await {
                        super::$scenario(fixture).await;
                    }
                }
            )*
        }
    };
}
