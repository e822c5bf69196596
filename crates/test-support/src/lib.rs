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

/// Deletes every key starting with `prefix` on the Redis at `url` (`redis://[user:password@]
/// host[:port][/db]`) and returns how many there were. One blocking connection and one script
/// (SCAN and UNLINK), so it also works from `Drop` and from benchmarks.
pub fn remove_redis_keys(url: &str, prefix: &str) -> std::io::Result<u64> {
    use std::io::{Error, ErrorKind, Write};
    let target = RedisTarget::parse(url)
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, format!("unsupported URL {url}")))?;
    let mut stream = std::net::TcpStream::connect(&target.address)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = std::io::BufReader::new(stream.try_clone()?);
    let mut call = |args: &[&str]| -> std::io::Result<String> {
        stream.write_all(resp_command(args).as_bytes())?;
        read_simple_reply(&mut reader)
    };
    if let Some((user, password)) = &target.credentials {
        call(&["AUTH", user, password])?;
    }
    if let Some(db) = &target.database {
        call(&["SELECT", db])?;
    }
    const REMOVE: &str = "local cursor, removed = '0', 0 \
        repeat \
          local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000) \
          cursor = page[1] \
          for _, key in ipairs(page[2]) do removed = removed + redis.call('UNLINK', key) end \
        until cursor == '0' \
        return removed";
    let pattern = format!("{}*", glob_escape(prefix));
    let removed = call(&["EVAL", REMOVE, "0", &pattern])?;
    removed.parse().map_err(|_| {
        Error::new(
            ErrorKind::InvalidData,
            format!("Redis answered {removed:?}"),
        )
    })
}

/// Where [`remove_redis_keys`] connects, read off a `redis://` URL.
struct RedisTarget {
    address: String,
    credentials: Option<(String, String)>,
    database: Option<String>,
}

impl RedisTarget {
    fn parse(url: &str) -> Option<Self> {
        let rest = url.trim().strip_prefix("redis://")?;
        let (authority, database) = match rest.split_once('/') {
            Some((authority, db)) if !db.is_empty() => (authority, Some(db.to_owned())),
            Some((authority, _)) => (authority, None),
            None => (rest, None),
        };
        let (credentials, host) = match authority.rsplit_once('@') {
            Some((credentials, host)) => {
                let (user, password) = credentials.split_once(':').unwrap_or(("", credentials));
                let user = if user.is_empty() { "default" } else { user };
                (Some((user.to_owned(), password.to_owned())), host)
            }
            None => (None, authority),
        };
        let address = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:6379")
        };
        Some(Self {
            address,
            credentials,
            database,
        })
    }
}

/// A command in Redis's wire format (an array of bulk strings).
fn resp_command(args: &[&str]) -> String {
    let mut command = format!("*{}\r\n", args.len());
    for arg in args {
        command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    command
}

/// Reads one reply that is a status, an integer or an error (the only kinds the commands above
/// return); an error reply becomes an `io::Error`.
fn read_simple_reply(reader: &mut impl std::io::BufRead) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind};
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end();
    match line.split_at_checked(1) {
        Some(("+" | ":", value)) => Ok(value.to_owned()),
        Some(("-", message)) => Err(Error::other(message.to_owned())),
        _ => Err(Error::new(
            ErrorKind::InvalidData,
            format!("unexpected reply {line:?}"),
        )),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_are_read_with_their_parts() {
        let plain = RedisTarget::parse("redis://127.0.0.1:6380").expect("plain");
        assert_eq!(plain.address, "127.0.0.1:6380");
        assert!(plain.credentials.is_none() && plain.database.is_none());

        let full = RedisTarget::parse("redis://ada:s3cret@cache/2").expect("full");
        assert_eq!(full.address, "cache:6379");
        assert_eq!(
            full.credentials,
            Some(("ada".to_owned(), "s3cret".to_owned()))
        );
        assert_eq!(full.database.as_deref(), Some("2"));

        let password_only = RedisTarget::parse("redis://:pw@host:1/").expect("password only");
        assert_eq!(
            password_only.credentials,
            Some(("default".to_owned(), "pw".to_owned()))
        );
        assert!(password_only.database.is_none());

        assert!(RedisTarget::parse("rediss://host").is_none());
        assert!(RedisTarget::parse("http://host").is_none());
    }

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
        let target = RedisTarget::parse(&url).expect("a redis:// URL");
        let mut stream = std::net::TcpStream::connect(&target.address).expect("connect");
        let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
        let mut set = |key: String| {
            use std::io::Write;
            stream
                .write_all(resp_command(&["SET", &key, "v"]).as_bytes())
                .expect("write");
            assert_eq!(read_simple_reply(&mut reader).expect("reply"), "OK");
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
