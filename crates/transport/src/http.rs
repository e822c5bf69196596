//! The HTTP API of protocol.md §1 as an axum [`Router`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use duet_auth::{AuthError, Authenticated, Guest, IssuedToken, Session, Username, bearer_token};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::metrics as names;
use crate::services::Services;

/// The largest body `POST /api/guest/session` accepts; a username needs far less.
const MAX_SESSION_BODY_BYTES: usize = 4 * 1024;

/// How long `/ready` waits for the store before calling it unreachable.
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The routes of the HTTP API, with the 404 and 405 answers of the protocol.
pub fn router(services: Arc<Services>) -> Router {
    Router::new()
        .route(
            "/api/guest/session",
            post(create_session)
                .delete(delete_session)
                .layer(DefaultBodyLimit::max(MAX_SESSION_BODY_BYTES)),
        )
        .route("/api/guest/me", get(me))
        .route("/api/guest/session/refresh", post(refresh_session))
        .route("/api/stats", get(stats))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(services)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionResponse {
    token: String,
    expires_at: duet_auth::Timestamp,
    guest: Guest,
}

impl SessionResponse {
    fn new(issued: IssuedToken, session: Session) -> Self {
        Self {
            token: issued.token,
            expires_at: issued.expires_at,
            guest: session.guest,
        }
    }
}

/// The client's address: the TCP peer, or the first `X-Forwarded-For` entry when the server is
/// configured to trust its proxy.
fn client_ip(services: &Services, headers: &HeaderMap, peer: Option<SocketAddr>) -> IpAddr {
    if services.settings.trust_forwarded_for
        && let Some(forwarded) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    {
        return forwarded;
    }
    peer.map(|p| p.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Reads the optional `{"username": ...}` body: empty means "pick a name".
fn requested_username(body: &[u8]) -> Result<Username, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Username::random());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::invalid_payload("the body must be a JSON object"))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::invalid_payload("the body must be a JSON object"));
    };
    match fields.get("username") {
        None | Some(Value::Null) => Ok(Username::random()),
        Some(Value::String(raw)) => Username::parse(raw).map_err(|error| {
            ApiError::new(StatusCode::BAD_REQUEST, error.code(), error.to_string())
        }),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_USERNAME",
            "username must be a string",
        )),
    }
}

async fn create_session(
    State(services): State<Arc<Services>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ip = client_ip(
        &services,
        &headers,
        peer.map(|Extension(ConnectInfo(addr))| addr),
    );
    if let Err(wait) = services.session_budget.check(&ip) {
        metrics::counter!(names::SESSION_RATE_LIMITED).increment(1);
        return Err(ApiError::rate_limited(wait));
    }
    // Checked after the budget: an oversized request still counts against it.
    let body = body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            "PAYLOAD_TOO_LARGE",
            format!("the body must be at most {MAX_SESSION_BODY_BYTES} bytes"),
        )
    })?;
    let username = requested_username(&body)?;
    let now = services.tokens.clock().now();
    let session = Session::start(username, now, services.settings.session_ttl);
    services.store.create_session(&session).await?;
    let issued = services.tokens.issue(&session).map_err(|error| {
        tracing::error!(%error, "token signing failed");
        ApiError::internal()
    })?;
    metrics::counter!(names::SESSIONS_CREATED).increment(1);
    tracing::info!(guest_id = %session.guest.id, "guest session created");
    Ok((
        StatusCode::CREATED,
        Json(SessionResponse::new(issued, session)),
    )
        .into_response())
}

/// A request authenticated by its `Authorization: Bearer` token and its live session.
pub struct BearerGuest(pub Authenticated);

impl FromRequestParts<Arc<Services>> for BearerGuest {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        services: &Arc<Services>,
    ) -> Result<Self, Self::Rejection> {
        let result = async {
            let header = parts
                .headers
                .get(header::AUTHORIZATION)
                .ok_or(AuthError::Required)?;
            let value = header.to_str().map_err(|_| AuthError::Invalid)?;
            let token = bearer_token(value)?;
            services.tokens.authenticate(token, &*services.store).await
        }
        .await;
        result.map(BearerGuest).map_err(|error| {
            metrics::counter!(names::HTTP_AUTH_FAILURES, "code" => error.code()).increment(1);
            ApiError::from(error)
        })
    }
}

async fn me(BearerGuest(auth): BearerGuest) -> Json<Value> {
    Json(json!({ "guest": auth.session.guest }))
}

async fn refresh_session(
    State(services): State<Arc<Services>>,
    BearerGuest(auth): BearerGuest,
) -> Result<Json<SessionResponse>, ApiError> {
    let now = services.tokens.clock().now();
    let wanted = auth.session.extended(now, services.settings.session_ttl);
    let session = services
        .store
        .extend_session(&auth.session.id, wanted.expires_at())
        .await?
        .ok_or_else(|| ApiError::from(AuthError::SessionNotFound))?;
    let issued = services.tokens.issue(&session).map_err(|error| {
        tracing::error!(%error, "token signing failed");
        ApiError::internal()
    })?;
    metrics::counter!(names::SESSIONS_REFRESHED).increment(1);
    Ok(Json(SessionResponse::new(issued, session)))
}

async fn delete_session(
    State(services): State<Arc<Services>>,
    BearerGuest(auth): BearerGuest,
) -> Result<StatusCode, ApiError> {
    if let Some(session) = services.store.revoke_session(&auth.session.id).await? {
        metrics::counter!(names::SESSIONS_DELETED).increment(1);
        tracing::info!(guest_id = %session.guest.id, "guest session deleted");
        services.session_ended(&session).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn stats(State(services): State<Arc<Services>>) -> Result<Json<Value>, ApiError> {
    let stats = services.stats().await?;
    Ok(Json(json!({
        "totalUsers": stats.presence.total_sessions,
        "onlineUsers": stats.presence.online_guests,
        "availableUsers": stats.available_users,
        "activeRooms": stats.presence.active_rooms,
        "connectedSockets": stats.presence.connected_sockets,
        "nodes": stats.presence.live_nodes,
    })))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn ready(State(services): State<Arc<Services>>) -> Response {
    let store_answers = tokio::time::timeout(READY_PROBE_TIMEOUT, services.store.ping())
        .await
        .is_ok_and(|ping| ping.is_ok());
    let healthy = store_answers && !services.readiness.redis_fallback;
    let body = json!({
        "status": if healthy { "ready" } else { "degraded" },
        "store": services.store.kind().as_str(),
        "adapter": services.readiness.adapter.as_str(),
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(services): State<Arc<Services>>) -> Response {
    // Refresh the cluster gauges so a scrape sees current counts; a store failure leaves the
    // previous values rather than failing the scrape.
    if let Err(error) = services.stats().await {
        tracing::warn!(%error, "cluster counts unavailable for /metrics");
    }
    let text = services.prometheus.render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
