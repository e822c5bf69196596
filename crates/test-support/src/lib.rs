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

/// Removes every key under a prefix when dropped, so Redis-backed tests leave nothing behind in
/// a Redis that outlives them (a developer's, or the CI machine's, which serves run after run).
///
/// Hold one beside whatever uses the prefix; it cleans up when the test ends, failed or not.
#[derive(Debug)]
pub struct RedisKeysCleanup {
    url: String,
    prefix: String,
}

impl RedisKeysCleanup {
    /// Cleans up `prefix` on the Redis at `url` when dropped.
    pub fn new(url: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: prefix.into(),
        }
    }

    /// The Redis a Redis-backed test uses ([`redis_url_or_skip`]) with a fresh
    /// [`unique_prefix`] that is cleaned up when the test ends; `None` when the test is skipped.
    ///
    /// # Panics
    ///
    /// As [`redis_url_or_skip`]: when `CI=true` and no Redis is configured.
    pub fn for_test(test_name: &str) -> Option<Self> {
        let url = redis_url_or_skip(test_name)?;
        Some(Self::new(url, unique_prefix(test_name)))
    }

    /// The Redis URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The prefix it cleans up.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl Drop for RedisKeysCleanup {
    fn drop(&mut self) {
        if let Err(error) = remove_redis_keys(&self.url, &self.prefix) {
            eprintln!(
                "could not remove the test keys under {:?} at {}: {error}",
                self.prefix, self.url
            );
        }
    }
}

/// A connected fred client (Duet's settings, `duet_core::redis`) for a Redis-backed test, with
/// the fresh prefix it must use, cleaned up when the [`RedisKeysCleanup`] is dropped; `None` when
/// the test is skipped.
///
/// # Panics
///
/// As [`redis_url_or_skip`], and when the configured Redis cannot be reached.
pub async fn redis_for_test(
    test_name: &str,
) -> Option<(RedisKeysCleanup, duet_core::redis::fred::prelude::Client)> {
    let keys = RedisKeysCleanup::for_test(test_name)?;
    let client = duet_core::redis::connect(keys.url())
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at {}: {e}", keys.url()));
    Some((keys, client))
}

/// Deletes every key starting with `prefix` on the Redis at `url` and returns how many there
/// were: one fred client (Duet's own settings, `duet_core::redis`) and one script (SCAN and
/// UNLINK). It runs on a thread of its own with its own runtime, so it also works from `Drop`
/// inside an async test and from benchmarks.
pub fn remove_redis_keys(url: &str, prefix: &str) -> std::io::Result<u64> {
    const REMOVE: &str = "local cursor, removed = '0', 0 \
        repeat \
          local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000) \
          cursor = page[1] \
          for _, key in ipairs(page[2]) do removed = removed + redis.call('UNLINK', key) end \
        until cursor == '0' \
        return removed";
    let pattern = format!("{}*", glob_escape(prefix));
    let url = url.to_owned();
    let removal = move || -> Result<u64, String> {
        use duet_core::redis::fred::prelude::{ClientLike, LuaInterface};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let client = duet_core::redis::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            let removed: Result<u64, _> = client.eval(REMOVE, Vec::<String>::new(), pattern).await;
            let _ = client.quit().await;
            removed.map_err(|e| e.to_string())
        })
    };
    std::thread::spawn(removal)
        .join()
        .map_err(|_| std::io::Error::other("the key removal thread panicked"))?
        .map_err(std::io::Error::other)
}

/// `text` with Redis's glob characters escaped, so SCAN matches it literally.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// An HTTP answer, as [`http_request`] reads it.
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

/// Sends one HTTP request to `address` (`host:port`) with ureq and reads the whole answer,
/// whatever its status (error statuses are answers here, not failures).
pub fn http_request(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<HttpAnswer> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://{address}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(body.unwrap_or("").to_owned())
        .map_err(std::io::Error::other)?;
    let mut response = agent.run(request).map_err(std::io::Error::other)?;
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_ascii_lowercase(), value)
        })
        .collect();
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(std::io::Error::other)?;
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_matched_literally() {
        assert_eq!(glob_escape("a*b?c[d]e\\f:g"), "a\\*b\\?c\\[d\\]e\\\\f:g");
    }

    #[test]
    fn dropping_the_cleanup_removes_its_keys_and_only_its_keys() {
        let Some(inside) = RedisKeysCleanup::for_test("cleanup[*]") else {
            return;
        };
        let url = inside.url().to_owned();
        let outside = RedisKeysCleanup::new(url.clone(), unique_prefix("cleanup-neighbour"));
        // Keys are written through fred, as the stores do.
        let set = |key: String| {
            use duet_core::redis::fred::prelude::{ClientLike, KeysInterface};
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let client = duet_core::redis::connect(&url).await.expect("connect");
                let _: () = client.set(key, "v", None, None, false).await.expect("SET");
                let _ = client.quit().await;
            });
        };
        for n in 0..3 {
            set(format!("{}{n}", inside.prefix()));
        }
        set(format!("{}kept", outside.prefix()));
        // A key that the unescaped pattern `cleanup[*]…*` would also match.
        let lookalike = inside.prefix().replace("cleanup[*]", "cleanup*");
        set(format!("{lookalike}kept"));

        let inside_prefix = inside.prefix().to_owned();
        drop(inside);
        assert_eq!(remove_redis_keys(&url, &inside_prefix).expect("count"), 0);
        assert_eq!(remove_redis_keys(&url, &lookalike).expect("count"), 1);
        assert_eq!(remove_redis_keys(&url, outside.prefix()).expect("count"), 1);
    }
}

/// A `redis-server` of a test's own, on a free port, for tests that stop and start it again
/// (never the shared one of `DUET_TEST_REDIS_URL`). Killed when dropped.
#[derive(Debug)]
pub struct OwnRedis {
    port: u16,
    server: Option<std::process::Child>,
}

impl OwnRedis {
    /// Starts one, or `None` (after printing why) when there is no `redis-server` to run.
    ///
    /// # Panics
    ///
    /// When `CI=true` and `redis-server` cannot be started, or when it does not answer within
    /// five seconds.
    pub fn start(test_name: &str) -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap_or_else(|e| panic!("{test_name}: no free port: {e}"));
        let mut redis = Self { port, server: None };
        match redis.spawn() {
            Ok(()) => Some(redis),
            Err(error) if running_in_ci() => {
                panic!("{test_name}: CI=true but redis-server cannot be started: {error}")
            }
            Err(error) => {
                eprintln!("SKIPPED {test_name}: redis-server cannot be started: {error}");
                None
            }
        }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (everything it held is gone: it keeps nothing on disk).
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Starts it again, empty, on the same port.
    ///
    /// # Panics
    ///
    /// When it cannot be started or does not answer within five seconds.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn()
            .unwrap_or_else(|e| panic!("redis-server did not start again: {e}"));
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let server = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()?;
        self.server = Some(server);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if self.answers() {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!(
            "redis-server on port {} did not answer within 5 s",
            self.port
        );
    }

    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let mut reply = [0; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
