//! The HTTP API of protocol.md §1 as an axum [`Router`] over a [`Duet`] node.

use std::net::{IpAddr, SocketAddr};
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
use duet_core::ErrorCode;
use serde::Serialize;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;

use crate::error::ApiError;
use crate::metrics as names;
use crate::moderate::client_ip;
use crate::node::Duet;

/// The largest body `POST /api/guest/session` accepts; a username needs far less.
const MAX_SESSION_BODY_BYTES: usize = 4 * 1024;

/// How long `/ready` waits for the store before calling it unreachable.
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The routes of the HTTP API for `duet`, with the 404 and 405 answers of the protocol
/// ([`Duet::router`]).
pub(crate) fn router<A: Adapter>(duet: Arc<Duet<A>>) -> Router {
    Router::new()
        .route(
            "/api/guest/session",
            post(create_session::<A>)
                .delete(delete_session::<A>)
                .layer(DefaultBodyLimit::max(MAX_SESSION_BODY_BYTES)),
        )
        .route("/api/guest/me", get(me))
        .route("/api/guest/session/refresh", post(refresh_session::<A>))
        .route("/api/guest/challenge", get(challenge::<A>))
        .route("/api/stats", get(stats::<A>))
        .route("/api/config", get(client_config::<A>))
        .route("/health", get(health))
        .route("/ready", get(ready::<A>))
        .route("/metrics", get(metrics::<A>))
        .merge(crate::admin::router(&duet))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(duet)
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

/// What a session creation asked for: a name (or one to pick), and a proof of work.
struct SessionRequest {
    username: Username,
    /// The ALTCHA payload of field `altcha`, if one was sent.
    altcha: Option<String>,
    /// The client's device id (field `deviceId`): guests of one device are never paired.
    device_id: Option<String>,
}

/// The bounds of a `deviceId`, in characters.
const DEVICE_ID_CHARS: std::ops::RangeInclusive<usize> = 8..=128;

/// Reads the optional `{"username": ..., "altcha": ...}` body: empty means "pick a name".
fn session_request(body: &[u8]) -> Result<SessionRequest, ApiError> {
    let mut request = SessionRequest {
        username: Username::random(),
        altcha: None,
        device_id: None,
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(request);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::invalid_payload("the body must be a JSON object"))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::invalid_payload("the body must be a JSON object"));
    };
    match fields.get("username") {
        None | Some(Value::Null) => {}
        Some(Value::String(raw)) => {
            request.username = Username::parse(raw).map_err(|error| {
                ApiError::new(StatusCode::BAD_REQUEST, error.code(), error.to_string())
            })?;
        }
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidUsername,
                "username must be a string",
            ));
        }
    }
    // A proof that is not a string is no proof: POW_INVALID when one is required.
    request.altcha = match fields.get("altcha") {
        None | Some(Value::Null) => None,
        Some(Value::String(payload)) => Some(payload.clone()),
        Some(_) => Some(String::new()),
    };
    request.device_id = match fields.get("deviceId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id))
            if DEVICE_ID_CHARS.contains(&id.chars().count())
                && !id.chars().any(char::is_control) =>
        {
            Some(id.clone())
        }
        Some(_) => {
            return Err(ApiError::invalid_payload(
                "deviceId must be a text of 8 to 128 characters",
            ));
        }
    };
    Ok(request)
}

/// With proof of work on, the request's solution must verify and be new.
async fn check_proof_of_work<A: Adapter>(
    duet: &Duet<A>,
    altcha: Option<&str>,
) -> Result<(), ApiError> {
    let Some(pow) = &duet.moderation().proof_of_work else {
        return Ok(());
    };
    let refuse = |code: ErrorCode, message: &str| {
        metrics::counter!(names::POW_REFUSALS, "code" => code.as_str()).increment(1);
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    };
    let Some(payload) = altcha else {
        return Err(refuse(
            ErrorCode::PowRequired,
            "solve the challenge of GET /api/guest/challenge and send it as `altcha`",
        ));
    };
    let solved = pow
        .verify(payload, duet.now())
        .map_err(|error| refuse(ErrorCode::PowInvalid, &error.to_string()))?;
    let store = &duet.moderation().store;
    if !store
        .claim_once(&solved.challenge, solved.expires_at)
        .await?
    {
        return Err(refuse(
            ErrorCode::PowInvalid,
            "this proof of work was already used; solve a new challenge",
        ));
    }
    Ok(())
}

/// Keeps a new guest from ever meeting the other live guests of its device (two tabs of one
/// browser). A failure costs only that: the session is made anyway.
async fn keep_device_apart<A: Adapter>(duet: &Duet<A>, device: &str, session: &Session) {
    let moderation = duet.moderation();
    let tag = moderation.address_key.device_tag(device);
    let guest = session.guest.id;
    let until = session.expires_at();
    let kept = async {
        let others = moderation.store.note_device(&tag, &guest, until).await?;
        for other in others {
            duet.queue.keep_apart(&guest, &other, until).await?;
        }
        Ok::<(), crate::reply::Failure>(())
    };
    if let Err(failure) = kept.await {
        failure.log("keeping a device's guests apart", &guest);
    }
}

/// `403 BANNED` when `guest` or the client's address is banned.
async fn refuse_if_banned<A: Adapter>(
    duet: &Duet<A>,
    guest: Option<&duet_core::GuestId>,
    ip: IpAddr,
    at: &'static str,
) -> Result<(), ApiError> {
    let address = duet.moderation().address_key.tag(ip);
    match duet.ban_of(guest, Some(&address)).await? {
        Some(ban) => {
            metrics::counter!(names::BANNED_REFUSALS, "at" => at).increment(1);
            Err(ApiError::banned(ban.expires_at))
        }
        None => Ok(()),
    }
}

/// The address of a request.
fn request_ip<A: Adapter>(
    duet: &Duet<A>,
    headers: &HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> IpAddr {
    client_ip(duet, headers, peer.map(|Extension(ConnectInfo(addr))| addr))
}

async fn create_session<A: Adapter>(
    State(duet): State<Arc<Duet<A>>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ip = request_ip(&duet, &headers, peer);
    if let Err(wait) = duet.session_budget.check(&ip) {
        metrics::counter!(names::SESSION_RATE_LIMITED).increment(1);
        return Err(ApiError::rate_limited(wait));
    }
    // Checked after the budget: an oversized request still counts against it.
    let body = body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            ErrorCode::PayloadTooLarge,
            format!("the body must be at most {MAX_SESSION_BODY_BYTES} bytes"),
        )
    })?;
    let request = session_request(&body)?;
    refuse_if_banned(&duet, None, ip, "session").await?;
    check_proof_of_work(&duet, request.altcha.as_deref()).await?;
    let now = duet.now();
    let session = Session::start(request.username, now, duet.settings.session_ttl);
    duet.stores.sessions.create_session(&session).await?;
    let issued = duet
        .tokens
        .issue(&session)
        .map_err(ApiError::internal_from)?;
    if let Some(device) = &request.device_id {
        keep_device_apart(&duet, device, &session).await;
    }
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

impl<A: Adapter> FromRequestParts<Arc<Duet<A>>> for BearerGuest {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        duet: &Arc<Duet<A>>,
    ) -> Result<Self, Self::Rejection> {
        let result = async {
            let header = parts
                .headers
                .get(header::AUTHORIZATION)
                .ok_or(AuthError::Required)?;
            let value = header.to_str().map_err(|_| AuthError::Invalid)?;
            let token = bearer_token(value)?;
            duet.tokens
                .authenticate(token, &*duet.stores.sessions)
                .await
        }
        .await;
        result.map(BearerGuest).map_err(|error| {
            metrics::counter!(names::HTTP_AUTH_FAILURES, "code" => error.code().as_str())
                .increment(1);
            ApiError::from(error)
        })
    }
}

/// [`BearerGuest`], refused with `403 BANNED` while the guest or the client's address is banned.
struct UnbannedGuest(Authenticated);

impl<A: Adapter> FromRequestParts<Arc<Duet<A>>> for UnbannedGuest {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        duet: &Arc<Duet<A>>,
    ) -> Result<Self, Self::Rejection> {
        let BearerGuest(auth) = BearerGuest::from_request_parts(parts, duet).await?;
        let ip = crate::moderate::address_of_parts(duet, parts);
        refuse_if_banned(duet, Some(&auth.session.guest.id), ip, "http").await?;
        Ok(Self(auth))
    }
}

async fn me(UnbannedGuest(auth): UnbannedGuest) -> Json<Value> {
    Json(json!({ "guest": auth.session.guest }))
}

/// `GET /api/guest/challenge`: a fresh ALTCHA challenge, when proof of work is on (`404`
/// otherwise: nothing to solve).
async fn challenge<A: Adapter>(State(duet): State<Arc<Duet<A>>>) -> Result<Response, ApiError> {
    let pow = duet
        .moderation()
        .proof_of_work
        .as_ref()
        .ok_or_else(ApiError::not_found)?;
    let challenge = pow.challenge(duet.now());
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(challenge)).into_response())
}

async fn refresh_session<A: Adapter>(
    State(duet): State<Arc<Duet<A>>>,
    UnbannedGuest(auth): UnbannedGuest,
) -> Result<Json<SessionResponse>, ApiError> {
    let wanted = auth.session.extended(duet.now(), duet.settings.session_ttl);
    let session = duet
        .stores
        .sessions
        .extend_session(&auth.session.id, wanted.expires_at())
        .await?
        .ok_or_else(|| ApiError::from(AuthError::SessionNotFound))?;
    // Whom it blocked or reported stays apart from it while the session lives.
    duet.queue
        .extend_apart(&session.guest.id, session.expires_at())
        .await
        .map_err(ApiError::internal_from)?;
    let issued = duet
        .tokens
        .issue(&session)
        .map_err(ApiError::internal_from)?;
    metrics::counter!(names::SESSIONS_REFRESHED).increment(1);
    Ok(Json(SessionResponse::new(issued, session)))
}

async fn delete_session<A: Adapter>(
    State(duet): State<Arc<Duet<A>>>,
    BearerGuest(auth): BearerGuest,
) -> Result<StatusCode, ApiError> {
    if let Some(session) = duet
        .stores
        .sessions
        .revoke_session(&auth.session.id)
        .await?
    {
        metrics::counter!(names::SESSIONS_DELETED).increment(1);
        tracing::info!(guest_id = %session.guest.id, "guest session deleted");
        // Its chat ends and its sockets go before the answer, wherever they are.
        duet.session_ended(&session.guest.id).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn stats<A: Adapter>(State(duet): State<Arc<Duet<A>>>) -> Result<Json<Value>, ApiError> {
    let stats = duet.stats().await?;
    Ok(Json(json!({
        "totalUsers": stats.presence.total_sessions,
        "onlineUsers": stats.presence.online_guests,
        "availableUsers": stats.available_users,
        "activeRooms": stats.presence.active_rooms,
        "connectedSockets": stats.presence.connected_sockets,
        "nodes": stats.presence.live_nodes,
    })))
}

/// `GET /api/config`: what a client should know of this server's limits before it sends.
async fn client_config<A: Adapter>(State(duet): State<Arc<Duet<A>>>) -> Json<Value> {
    let settings = &duet.settings;
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Json(json!({
        "maxFileBytes": settings.max_file_bytes,
        "maxTextChars": crate::event::MAX_TEXT_CHARS,
        "maxReportNoteChars": crate::event::MAX_REPORT_NOTE_CHARS,
        "reportWindowMs": millis(duet.moderation().report_window),
        "resumeGraceMs": millis(settings.resume_grace),
        "reloadGraceMs": millis(settings.reload_grace.min(settings.resume_grace)),
        "proofOfWork": duet.moderation().proof_of_work.is_some(),
        "notice": settings.notice,
    }))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn ready<A: Adapter>(State(duet): State<Arc<Duet<A>>>) -> Response {
    let store_answers = tokio::time::timeout(READY_PROBE_TIMEOUT, duet.stores.sessions.ping())
        .await
        .is_ok_and(|ping| ping.is_ok());
    let adapter_hears = duet
        .adapter_link
        .as_ref()
        .is_none_or(|link| link.receiving());
    let healthy = store_answers && adapter_hears && !duet.readiness.redis_fallback;
    let body = json!({
        "status": if healthy { "ready" } else { "degraded" },
        "store": duet.stores.kind().as_str(),
        "adapter": duet.readiness.adapter.as_str(),
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics<A: Adapter>(State(duet): State<Arc<Duet<A>>>) -> Response {
    // Refresh the cluster gauges so a scrape sees current counts; a store failure leaves the
    // previous values rather than failing the scrape.
    if let Err(error) = duet.stats().await {
        tracing::warn!(%error, "cluster counts unavailable for /metrics");
    }
    let text = duet.prometheus.render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
