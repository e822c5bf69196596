//! `duet-server` as operators run it: a real process configured by `DUET_*` variables, talked to
//! over real sockets.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use duet_test_support::{HttpAnswer, RedisKeysCleanup, http_request};
use serde_json::Value;

const SECRET: &str = "process-test-secret-process-test-secret";

struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(vars: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_duet-server"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DUET_HOST", "127.0.0.1")
            .env("DUET_PORT", "0")
            .env("DUET_LOG_FORMAT", "json")
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn duet-server: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (found, address) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if let Some(addr) = entry["fields"]["address"].as_str() {
                    let _ = found.send(addr.to_owned());
                }
            }
        });
        let address = address
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("duet-server did not log its address"));
        Self { child, address }
    }

    fn get(&self, path: &str) -> HttpAnswer {
        self.call("GET", path, &[], None)
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> HttpAnswer {
        http_request(&self.address, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn json(answer: &HttpAnswer) -> Value {
        serde_json::from_str(&answer.body).unwrap_or(Value::Null)
    }

    fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn refuses_to_start(vars: &[(&str, &str)]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_duet-server"))
        .env_clear()
        .env("DUET_HOST", "127.0.0.1")
        .env("DUET_PORT", "0")
        .envs(vars.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    assert!(!output.status.success(), "it started: {output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn production_refuses_to_start_without_a_strong_secret() {
    let missing = refuses_to_start(&[("DUET_ENV", "production")]);
    assert!(missing.contains("DUET_JWT_SECRET"), "{missing}");
    let short = refuses_to_start(&[("DUET_ENV", "production"), ("DUET_JWT_SECRET", "too-short")]);
    assert!(short.contains("at least 32 bytes"), "{short}");
    let last_line = short.lines().last().unwrap_or_default();
    assert!(last_line.starts_with("duet-server: "), "{short}");
}

#[test]
fn unreadable_trusted_proxies_refuse_to_start() {
    let refused = refuses_to_start(&[("DUET_TRUSTED_PROXIES", "10.0.0.0/8, the office")]);
    assert!(refused.contains("DUET_TRUSTED_PROXIES"), "{refused}");
    assert!(refused.contains("the office"), "{refused}");
}

#[test]
fn a_web_dir_that_does_not_exist_refuses_to_start() {
    let refused = refuses_to_start(&[("DUET_WEB_DIR", "/nonexistent/duet-web-dist")]);
    assert!(refused.contains("DUET_WEB_DIR"), "{refused}");
}

#[test]
fn serves_the_http_api_on_memory_and_stops_on_sigterm() {
    let mut server = Server::start(&[("DUET_ENV", "production"), ("DUET_JWT_SECRET", SECRET)]);
    let created = server.call(
        "POST",
        "/api/guest/session",
        &[("Content-Type", "application/json")],
        Some(r#"{"username":"Ada"}"#),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let token = Server::json(&created)["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let auth = format!("Bearer {token}");
    let me = server.call("GET", "/api/guest/me", &[("Authorization", &auth)], None);
    assert_eq!(Server::json(&me)["guest"]["username"], "Ada");
    let ready = server.get("/ready");
    assert_eq!(ready.status, 200);
    assert_eq!(
        Server::json(&ready),
        serde_json::json!({"status": "ready", "store": "memory", "adapter": "local"})
    );
    let stats = Server::json(&server.get("/api/stats"));
    assert_eq!(stats["totalUsers"], 1);
    assert_eq!(stats["nodes"], 1);
    assert_eq!(server.terminate(), Some(0));
}

#[test]
fn cors_answers_allowed_origins_only() {
    let server = Server::start(&[(
        "DUET_CORS_ORIGINS",
        "http://localhost:3000,https://*.vercel.app",
    )]);
    let preflight = |origin: &str| {
        server.call(
            "OPTIONS",
            "/api/guest/session",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            None,
        )
    };
    let allowed = preflight("https://duet-git-main.vercel.app");
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://duet-git-main.vercel.app")
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );
    let refused = preflight("https://evil.example");
    assert_eq!(refused.header("access-control-allow-origin"), None);
}

#[test]
fn unreachable_redis_means_memory_and_degraded_readiness() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let server = Server::start(&[("DUET_REDIS_URL", "redis://127.0.0.1:1")]);
    let ready = server.get("/ready");
    assert_eq!(ready.status, 503);
    assert_eq!(
        Server::json(&ready),
        serde_json::json!({"status": "degraded", "store": "memory", "adapter": "local"})
    );
    let created = server.call("POST", "/api/guest/session", &[], None);
    assert_eq!(created.status, 201, "the node still serves from memory");
}

#[test]
fn two_nodes_on_one_redis_share_sessions_and_counts() {
    // Declared before the servers, so it runs after they have stopped writing.
    let Some(keys) = RedisKeysCleanup::for_test("process_two_nodes_on_one_redis") else {
        return;
    };
    let vars = [
        ("DUET_REDIS_URL", keys.url()),
        ("DUET_REDIS_KEY_PREFIX", keys.prefix()),
        ("DUET_JWT_SECRET", SECRET),
    ];
    let a = Server::start(&vars);
    let b = Server::start(&vars);
    let ready = a.get("/ready");
    assert_eq!(Server::json(&ready)["store"], "redis");
    let created = a.call("POST", "/api/guest/session", &[], None);
    let token = Server::json(&created)["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let auth = format!("Bearer {token}");
    let me = b.call("GET", "/api/guest/me", &[("Authorization", &auth)], None);
    assert_eq!(me.status, 200, "node B knows node A's session: {}", me.body);
    // Both nodes heartbeat at start; the stats see both.
    let mut nodes = Value::Null;
    for _ in 0..50 {
        nodes = Server::json(&b.get("/api/stats"))["nodes"].clone();
        if nodes == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(nodes, 2);
    let deleted = b.call(
        "DELETE",
        "/api/guest/session",
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(deleted.status, 204);
    let gone = a.call("GET", "/api/guest/me", &[("Authorization", &auth)], None);
    assert_eq!(Server::json(&gone)["error"]["code"], "SESSION_NOT_FOUND");
}

#[test]
fn a_web_dir_is_served_beside_the_api_and_unknown_files_are_json_404s() {
    let dir = std::env::temp_dir().join(format!("duet-web-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("assets")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("index.html"), "<!doctype html><title>Duet</title>")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("assets/app.js"), "export const duet = 1;\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let dir_text = dir.to_string_lossy().into_owned();
    let server = Server::start(&[("DUET_JWT_SECRET", SECRET), ("DUET_WEB_DIR", &dir_text)]);

    let index = server.get("/");
    assert_eq!(index.status, 200);
    assert!(
        index
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    assert_eq!(index.body, "<!doctype html><title>Duet</title>");
    let script = server.get("/assets/app.js");
    assert_eq!(script.status, 200);
    assert!(
        script
            .header("content-type")
            .is_some_and(|t| t.contains("javascript"))
    );

    // The API is untouched, and what is neither API nor file answers as every unknown route.
    assert_eq!(server.get("/health").status, 200);
    for (method, path) in [
        ("GET", "/missing.js"),
        ("GET", "/api/nothing-here"),
        ("GET", "/../Cargo.toml"),
        ("POST", "/index.html"),
    ] {
        let answer = server.call(method, path, &[], None);
        assert_eq!(answer.status, 404, "{method} {path}");
        assert_eq!(
            Server::json(&answer)["error"]["code"],
            "NOT_FOUND",
            "{method} {path}"
        );
    }
    // A known API route keeps its 405.
    assert_eq!(server.call("PUT", "/api/stats", &[], None).status, 405);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_web_dir_the_built_in_demo_is_served_and_can_be_turned_off() {
    let server = Server::start(&[("DUET_JWT_SECRET", SECRET)]);
    let index = server.get("/");
    assert_eq!(index.status, 200);
    assert!(index.body.contains("<title>Duet"), "{}", index.body);
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../web/dist/index.html"
    ))
    .unwrap_or_else(|e| panic!("web/dist is committed: {e}"));
    assert_eq!(index.body, page, "the page is web/dist/index.html as built");
    for script in ["/main.js", "/vendor/socket.io.esm.min.js", "/pow-worker.js"] {
        let answer = server.get(script);
        assert_eq!(answer.status, 200, "{script}");
        assert!(
            answer
                .header("content-type")
                .is_some_and(|t| t.contains("javascript")),
            "{script}"
        );
    }
    assert_eq!(
        Server::json(&server.get("/missing.js"))["error"]["code"],
        "NOT_FOUND"
    );
    assert_eq!(server.call("POST", "/", &[], None).status, 404);
    assert_eq!(server.get("/health").status, 200);

    let off = Server::start(&[("DUET_JWT_SECRET", SECRET), ("DUET_WEB_DEMO", "false")]);
    assert_eq!(off.get("/").status, 404);
}

/// Speaks Engine.IO long-polling to `server` as a stock `socket.io-client` starts (its default
/// transport before the WebSocket upgrade): the open packet, the Socket.IO CONNECT with a
/// token, then the poll that carries the server's CONNECT answer. Each is its own request, so
/// the session must be found again by every one of them.
fn connects_over_long_polling(server: &Server) {
    let created = server.call("POST", "/api/guest/session", &[], None);
    assert_eq!(created.status, 201, "{}", created.body);
    let token = Server::json(&created)["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let open = server.get("/socket.io/?EIO=4&transport=polling");
    assert_eq!(open.status, 200, "{}", open.body);
    let handshake: Value = open
        .body
        .strip_prefix('0')
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_else(|| panic!("not an open packet: {}", open.body));
    let sid = handshake["sid"].as_str().unwrap_or_default();
    assert!(!sid.is_empty(), "{}", open.body);
    let session_path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");

    let connect = format!("40{}", serde_json::json!({ "token": token }));
    let sent = server.call(
        "POST",
        &session_path,
        &[("Content-Type", "text/plain;charset=UTF-8")],
        Some(&connect),
    );
    assert_eq!((sent.status, sent.body.as_str()), (200, "ok"));
    let answer = server.get(&session_path);
    assert_eq!(answer.status, 200, "{}", answer.body);
    // One payload may carry several packets (a ping, say), split by the record separator.
    assert!(
        answer
            .body
            .split('\u{1e}')
            .any(|packet| packet.starts_with("40{\"sid\":")),
        "no CONNECT answer: {:?}",
        answer.body
    );
}

#[test]
fn stock_clients_connect_over_long_polling_whatever_is_served_beside_the_api() {
    // The built-in demo, no page at all, and a directory of files: three different fallbacks
    // behind which Socket.IO's requests arrive.
    connects_over_long_polling(&Server::start(&[("DUET_JWT_SECRET", SECRET)]));
    connects_over_long_polling(&Server::start(&[
        ("DUET_JWT_SECRET", SECRET),
        ("DUET_WEB_DEMO", "false"),
    ]));
    let dir = std::env::temp_dir().join(format!("duet-polling-web-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let dir_text = dir.to_string_lossy().into_owned();
    connects_over_long_polling(&Server::start(&[
        ("DUET_JWT_SECRET", SECRET),
        ("DUET_WEB_DIR", &dir_text),
    ]));
    let _ = std::fs::remove_dir_all(&dir);
}
