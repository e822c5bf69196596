//! The HTTP API of protocol.md §1, driven through the real axum router, on both stores.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use duet_auth::{ManualClock, TokenService};
use duet_matchmaker::{MatchConfig, MemoryQueue};
use duet_presence_store::{MemoryStore, Stores};
use duet_transport::{Duet, Settings};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

struct Api {
    router: Router,
    clock: ManualClock,
    /// Removes the Redis store's keys when the test ends.
    _redis_keys: Option<duet_test_support::RedisKeysCleanup>,
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }
}

impl Api {
    fn new(stores: Stores, clock: ManualClock, settings: Settings) -> Self {
        let tokens = TokenService::new(SECRET)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_clock(Arc::new(clock.clone()));
        let queue = Arc::new(MemoryQueue::new(MatchConfig::default()));
        let (_layer, io) = settings.socket_io_builder().build_layer();
        let (duet, ()) = Duet::builder(tokens, stores, queue)
            .settings(settings)
            .build(&io);
        Self {
            router: duet.router(),
            clock,
            _redis_keys: None,
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        self.call_from(method, path, token, body, "10.0.0.1:5000")
            .await
    }

    async fn call_from(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        peer: &str,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let mut request = request
            .body(
                body.map(|b| Body::from(b.to_owned()))
                    .unwrap_or_else(Body::empty),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let peer: SocketAddr = peer.parse().unwrap_or_else(|e| panic!("{e}"));
        request.extensions_mut().insert(ConnectInfo(peer));
        self.send(request).await
    }

    /// `POST /api/guest/session` from `peer` carrying `X-Forwarded-For: forwarded`.
    async fn create_forwarded(&self, peer: &str, forwarded: &str) -> Answer {
        let mut request = Request::builder()
            .method("POST")
            .uri("/api/guest/session")
            .header("x-forwarded-for", forwarded)
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        let peer: SocketAddr = peer.parse().unwrap_or_else(|e| panic!("{e}"));
        request.extensions_mut().insert(ConnectInfo(peer));
        self.send(request).await
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|e| match e {});
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn new_guest(&self) -> (String, Value) {
        let answer = self.call("POST", "/api/guest/session", None, None).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        let token = answer.body["token"].as_str().unwrap_or_default().to_owned();
        (token, answer.body["guest"].clone())
    }
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn forge(header_json: &str, claims: &Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.",
        b64.encode(header_json),
        b64.encode(claims.to_string())
    )
}

async fn creating_a_session_returns_token_and_guest(api: Api) {
    let answer = api
        .call(
            "POST",
            "/api/guest/session",
            None,
            Some(r#"{"username": "  Ada Lovelace  "}"#),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let body = &answer.body;
    assert_eq!(body["guest"]["username"], "Ada Lovelace");
    let token = body["token"].as_str().unwrap_or_default();
    let claims = claims_of(token);
    assert_eq!(claims["sub"], body["guest"]["id"]);
    assert!(claims["sid"].is_string() && claims["jti"].is_string() && claims["iat"].is_i64());
    let exp = duet_auth::Timestamp::parse_rfc3339(body["expiresAt"].as_str().unwrap_or_default());
    assert_eq!(exp.map(|t| t.unix_seconds()).ok(), claims["exp"].as_i64());
    assert_eq!(body["expiresAt"], body["guest"]["expiresAt"]);
    let created = duet_auth::Timestamp::parse_rfc3339(
        body["guest"]["createdAt"].as_str().unwrap_or_default(),
    );
    let lifetime = exp.ok().zip(created.ok()).map(|(e, c)| e.duration_since(c));
    assert!(
        lifetime.is_some_and(|l| l <= Duration::from_secs(7200) && l > Duration::from_secs(7198))
    );
    let header = token.split('.').next().unwrap_or_default();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap_or_default();
    assert_eq!(
        serde_json::from_slice::<Value>(&header)
            .ok()
            .map(|h| h["alg"].clone()),
        Some(json!("HS256"))
    );
}

async fn a_username_is_picked_when_none_is_given(api: Api) {
    for body in [
        None,
        Some(""),
        Some("{}"),
        Some(r#"{"username": null}"#),
        Some(r#"{"other": 1}"#),
    ] {
        let answer = api.call("POST", "/api/guest/session", None, body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{body:?}");
        let name = answer.body["guest"]["username"]
            .as_str()
            .unwrap_or_default();
        assert!(!name.is_empty() && name.chars().count() <= 32, "{name}");
    }
}

async fn bad_usernames_and_payloads_are_refused(api: Api) {
    let long = format!(r#"{{"username": "{}"}}"#, "x".repeat(33));
    for body in [
        r#"{"username": ""}"#,
        r#"{"username": "   "}"#,
        r#"{"username": "a\nb"}"#,
        r#"{"username": "bell\u0007"}"#,
        r#"{"username": 42}"#,
        r#"{"username": ["a"]}"#,
        long.as_str(),
    ] {
        let answer = api
            .call("POST", "/api/guest/session", None, Some(body))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.code(), "INVALID_USERNAME", "{body}");
        assert!(answer.body["error"]["message"].is_string());
    }
    for body in ["not json", "[1, 2]", "\"Ada\"", "{\"username\": "] {
        let answer = api
            .call("POST", "/api/guest/session", None, Some(body))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.code(), "INVALID_PAYLOAD", "{body}");
    }
    let huge = format!(r#"{{"username": "{}"}}"#, "x".repeat(5000));
    let answer = api
        .call("POST", "/api/guest/session", None, Some(&huge))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:?}",
        answer.body
    );
    assert_eq!(answer.code(), "PAYLOAD_TOO_LARGE", "{:?}", answer.body);
    let exactly_32 = format!(r#"{{"username": "{}"}}"#, "é".repeat(32));
    let answer = api
        .call("POST", "/api/guest/session", None, Some(&exactly_32))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
}

async fn me_returns_the_guest_of_a_valid_token(api: Api) {
    let (token, guest) = api.new_guest().await;
    let answer = api.call("GET", "/api/guest/me", Some(&token), None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["guest"], guest);
}

async fn bad_tokens_are_refused_with_the_right_code(api: Api) {
    let (token, guest) = api.new_guest().await;
    let missing = api.call("GET", "/api/guest/me", None, None).await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::UNAUTHORIZED, "AUTH_REQUIRED")
    );

    let other = TokenService::new(b"a-completely-different-secret-value!")
        .unwrap_or_else(|e| panic!("{e}"));
    let claims = claims_of(&token);
    let session = duet_auth::Session {
        id: claims["sid"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(duet_auth::SessionId::random),
        guest: serde_json::from_value(guest).unwrap_or_else(|e| panic!("{e}")),
    };
    let foreign = other.issue(&session).map(|t| t.token).unwrap_or_default();
    let none = forge(r#"{"alg":"none","typ":"JWT"}"#, &claims);
    let hs512 = forge(r#"{"alg":"HS512","typ":"JWT"}"#, &claims);
    let tampered = {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut changed = claims.clone();
        changed["exp"] = json!(claims["exp"].as_i64().unwrap_or(0) + 3600);
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(changed.to_string());
        parts.join(".")
    };
    for bad in [
        "garbage",
        "a.b.c",
        foreign.as_str(),
        none.as_str(),
        hs512.as_str(),
        tampered.as_str(),
    ] {
        let answer = api.call("GET", "/api/guest/me", Some(bad), None).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNAUTHORIZED, "AUTH_INVALID"),
            "{bad}"
        );
    }
    for scheme in [format!("Basic {token}"), "Bearer".to_owned(), token.clone()] {
        let request = Request::builder()
            .uri("/api/guest/me")
            .header(header::AUTHORIZATION, scheme.as_str())
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        let answer = api.send(request).await;
        assert_eq!(answer.code(), "AUTH_INVALID", "{scheme}");
    }
}

async fn expired_sessions_are_refused(api: Api) {
    let (token, _) = api.new_guest().await;
    api.clock.advance(Duration::from_secs(7199));
    let still = api.call("GET", "/api/guest/me", Some(&token), None).await;
    assert_eq!(still.status, StatusCode::OK);
    api.clock.advance(Duration::from_secs(2));
    let answer = api.call("GET", "/api/guest/me", Some(&token), None).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::UNAUTHORIZED, "SESSION_EXPIRED")
    );
    let refresh = api
        .call("POST", "/api/guest/session/refresh", Some(&token), None)
        .await;
    assert_eq!(refresh.code(), "SESSION_EXPIRED");
}

async fn refresh_keeps_the_guest_and_extends_the_session(api: Api) {
    let (token, guest) = api.new_guest().await;
    api.clock.advance(Duration::from_secs(3600));
    let answer = api
        .call("POST", "/api/guest/session/refresh", Some(&token), None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["guest"]["id"], guest["id"]);
    assert_eq!(answer.body["guest"]["username"], guest["username"]);
    let fresh = answer.body["token"].as_str().unwrap_or_default().to_owned();
    assert_ne!(fresh, token);
    assert_eq!(claims_of(&fresh)["sid"], claims_of(&token)["sid"]);
    assert_ne!(claims_of(&fresh)["jti"], claims_of(&token)["jti"]);
    assert_eq!(answer.body["expiresAt"], answer.body["guest"]["expiresAt"]);
    assert!(answer.body["guest"]["expiresAt"].as_str() > guest["expiresAt"].as_str());
    // The old token lives until its own exp; the new one beyond it.
    api.clock.advance(Duration::from_secs(3599));
    assert_eq!(
        api.call("GET", "/api/guest/me", Some(&token), None)
            .await
            .status,
        StatusCode::OK
    );
    api.clock.advance(Duration::from_secs(2));
    assert_eq!(
        api.call("GET", "/api/guest/me", Some(&token), None)
            .await
            .code(),
        "SESSION_EXPIRED"
    );
    let me = api.call("GET", "/api/guest/me", Some(&fresh), None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["guest"]["id"], guest["id"]);
}

async fn deleting_a_session_revokes_every_token(api: Api) {
    let (token, _) = api.new_guest().await;
    let refreshed = api
        .call("POST", "/api/guest/session/refresh", Some(&token), None)
        .await;
    let second = refreshed.body["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let answer = api
        .call("DELETE", "/api/guest/session", Some(&token), None)
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    for t in [&token, &second] {
        let me = api.call("GET", "/api/guest/me", Some(t), None).await;
        assert_eq!(
            (me.status, me.code()),
            (StatusCode::UNAUTHORIZED, "SESSION_NOT_FOUND")
        );
    }
    let again = api
        .call("DELETE", "/api/guest/session", Some(&token), None)
        .await;
    assert_eq!(again.code(), "SESSION_NOT_FOUND");
    let refresh = api
        .call("POST", "/api/guest/session/refresh", Some(&second), None)
        .await;
    assert_eq!(refresh.code(), "SESSION_NOT_FOUND");
}

async fn session_creation_is_limited_per_ip(api: Api) {
    for i in 0..30 {
        // Refused requests count too: mix in some bad ones.
        let body = if i % 5 == 0 {
            Some(r#"{"username": 1}"#)
        } else {
            None
        };
        let answer = api
            .call_from("POST", "/api/guest/session", None, body, "10.9.9.9:1")
            .await;
        assert_ne!(answer.status, StatusCode::TOO_MANY_REQUESTS, "request {i}");
    }
    let limited = api
        .call_from("POST", "/api/guest/session", None, None, "10.9.9.9:2")
        .await;
    assert_eq!(
        (limited.status, limited.code()),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
    );
    let retry = limited
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok());
    let seconds: Option<u64> = retry.and_then(|v| v.parse().ok());
    assert!(
        seconds.is_some_and(|s| (1..=2).contains(&s)),
        "Retry-After {retry:?}"
    );
    let other_ip = api
        .call_from("POST", "/api/guest/session", None, None, "10.9.9.10:1")
        .await;
    assert_eq!(other_ip.status, StatusCode::CREATED);
}

async fn stats_health_ready_and_metrics_answer(api: Api) {
    api.new_guest().await;
    api.new_guest().await;
    let stats = api.call("GET", "/api/stats", None, None).await;
    assert_eq!(stats.status, StatusCode::OK);
    for field in [
        "totalUsers",
        "onlineUsers",
        "availableUsers",
        "activeRooms",
        "connectedSockets",
        "nodes",
    ] {
        assert!(stats.body[field].is_u64(), "{field}: {:?}", stats.body);
    }
    assert_eq!(stats.body["totalUsers"], 2);
    let health = api.call("GET", "/health", None, None).await;
    assert_eq!(
        (health.status, health.body.clone()),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    let ready = api.call("GET", "/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["adapter"], "local");
    assert!(ready.body["store"] == "memory" || ready.body["store"] == "redis");
    let request = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"));
    let response = api
        .router
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|e| match e {});
    assert_eq!(response.status(), StatusCode::OK);
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(kind.starts_with("text/plain"), "{kind}");
    let text = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("duet_guest_sessions_created_total"), "{text}");
    assert!(text.contains("duet_sessions_live"), "{text}");
}

async fn unknown_routes_and_methods_use_the_error_body(api: Api) {
    let missing = api.call("GET", "/api/nope", None, None).await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    let wrong = api.call("PUT", "/api/guest/session", None, None).await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED")
    );
    let wrong = api.call("POST", "/api/stats", None, None).await;
    assert_eq!(wrong.code(), "METHOD_NOT_ALLOWED");
}

async fn memory_api() -> Api {
    let clock = ManualClock::new();
    let store = MemoryStore::with_config(Default::default(), Arc::new(clock.clone()));
    Api::new(Stores::shared(store), clock, Settings::default())
}

#[cfg(feature = "redis")]
async fn redis_api(test: &str) -> Option<Api> {
    use duet_presence_store::{RedisStore, RedisStoreConfig};
    let (keys, client) = duet_test_support::redis_for_test(test).await?;
    let clock = ManualClock::new();
    let config = RedisStoreConfig::default().with_key_prefix(keys.prefix());
    let store = RedisStore::with_clock(client, config, Arc::new(clock.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut api = Api::new(Stores::shared(store), clock, Settings::default());
    api._redis_keys = Some(keys);
    Some(api)
}

duet_test_support::backend_suite!(
    memory: memory_api,
    redis: redis_api,
    scenarios: [
    creating_a_session_returns_token_and_guest,
    a_username_is_picked_when_none_is_given,
    bad_usernames_and_payloads_are_refused,
    me_returns_the_guest_of_a_valid_token,
    bad_tokens_are_refused_with_the_right_code,
    expired_sessions_are_refused,
    refresh_keeps_the_guest_and_extends_the_session,
    deleting_a_session_revokes_every_token,
    session_creation_is_limited_per_ip,
    stats_health_ready_and_metrics_answer,
    unknown_routes_and_methods_use_the_error_body,
    ]
);

/// Behind a trusted proxy, the client is the rightmost `X-Forwarded-For` entry that is not a
/// proxy: a client that writes its own leftmost entries still spends one budget.
#[tokio::test]
async fn spoofed_forwarded_for_entries_do_not_escape_the_per_ip_budget() {
    let clock = ManualClock::new();
    let store = MemoryStore::with_config(Default::default(), Arc::new(clock.clone()));
    let settings = Settings {
        trust_forwarded_for: true,
        ..Settings::default()
    };
    let api = Api::new(Stores::shared(store), clock, settings);
    let load_balancer = "10.0.0.5:40000";
    for i in 0..30 {
        let spoofed = format!("6.6.{}.{}, 203.0.113.9", i / 250, i % 250);
        let answer = api.create_forwarded(load_balancer, &spoofed).await;
        assert_eq!(answer.status, StatusCode::CREATED, "request {i}");
    }
    let limited = api
        .create_forwarded(load_balancer, "7.7.7.7, 203.0.113.9")
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy has its own budget.
    let other = api.create_forwarded(load_balancer, "203.0.113.10").await;
    assert_eq!(other.status, StatusCode::CREATED);
    // A peer that is not a proxy is the client, whatever it forwards.
    let direct = "198.51.100.7:5000";
    for i in 0..30 {
        let answer = api.create_forwarded(direct, &format!("8.8.8.{i}")).await;
        assert_eq!(answer.status, StatusCode::CREATED, "direct request {i}");
    }
    let limited = api.create_forwarded(direct, "8.8.8.200").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
}

/// A link that hears when its flag says so.
#[derive(Debug)]
struct Hears(Arc<std::sync::atomic::AtomicBool>);

impl duet_transport::AdapterLink for Hears {
    fn receiving(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn interruptions(&self) -> u64 {
        0
    }
}

/// A node whose adapter does not hear the other nodes (its Redis subscriber reconnecting, its
/// channels not yet subscribed again) is not ready, even while its store answers.
#[tokio::test]
async fn ready_is_degraded_while_the_adapter_does_not_hear_the_other_nodes() {
    let hears = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tokens = TokenService::new(SECRET).unwrap_or_else(|e| panic!("{e}"));
    let queue = Arc::new(MemoryQueue::new(MatchConfig::default()));
    let (_layer, io) = Settings::default().socket_io_builder().build_layer();
    let adapter_hears = Arc::clone(&hears);
    let (duet, ()) = Duet::builder(tokens, Stores::memory(), queue)
        .adapter_link(Hears(adapter_hears))
        .build(&io);
    let api = Api {
        router: duet.router(),
        clock: ManualClock::new(),
        _redis_keys: None,
    };
    let deaf = api.call("GET", "/ready", None, None).await;
    assert_eq!(deaf.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(deaf.body["status"], "degraded");
    hears.store(true, std::sync::atomic::Ordering::SeqCst);
    let ready = api.call("GET", "/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
}
