//! The admin API (`/api/admin/...`): reports, bans and moderation counts for operators. Off
//! unless the node has an [`AdminToken`](crate::AdminToken); then every request needs it as
//! `Authorization: Bearer`. Without a token the paths do not exist (`404`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use duet_auth::AuthError;
use duet_core::{BanId, ErrorCode, GuestId};
use duet_moderation::{AddressTag, Ban, BanSource, BanTarget, ReportQuery};
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;

use crate::error::ApiError;
use crate::metrics as names;
use crate::node::Duet;

/// The most reports one page holds, and how many it holds unless asked.
const MAX_PAGE: u64 = 100;
const DEFAULT_PAGE: u64 = 50;
/// The longest ban an operator can make (a year); longer ones are meant as permanent and belong
/// at the network's edge.
const MAX_BAN: Duration = Duration::from_secs(365 * 86_400);
/// The longest reason kept with a ban, in characters.
const MAX_REASON_CHARS: usize = 500;

/// The admin routes of `duet`, or none without an admin token.
pub(crate) fn router<A: Adapter>(duet: &Arc<Duet<A>>) -> Router<Arc<Duet<A>>> {
    if duet.moderation().admin_token.is_none() {
        return Router::new();
    }
    Router::new()
        .route("/api/admin/reports", get(reports::<A>))
        .route("/api/admin/bans", get(bans::<A>).post(create_ban::<A>))
        .route("/api/admin/bans/{id}", delete(lift_ban::<A>))
        .route("/api/admin/stats", get(stats::<A>))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(duet),
            require_token::<A>,
        ))
}

/// `401 AUTH_REQUIRED` without a bearer token, `401 AUTH_INVALID` with another one.
async fn require_token<A: Adapter>(
    State(duet): State<Arc<Duet<A>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &duet.moderation().admin_token else {
        return ApiError::not_found().into_response();
    };
    let presented = match request.headers().get(header::AUTHORIZATION) {
        None => Err(AuthError::Required),
        Some(value) => value
            .to_str()
            .map_err(|_| AuthError::Invalid)
            .and_then(duet_auth::bearer_token),
    };
    let refusal = match presented {
        Ok(presented) if token.matches(presented) => return next.run(request).await,
        Ok(_) => AuthError::Invalid,
        Err(error) => error,
    };
    metrics::counter!(names::ADMIN_AUTH_FAILURES, "code" => refusal.code().as_str()).increment(1);
    ApiError::from(refusal).into_response()
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::invalid_payload(message)
}

/// `GET /api/admin/reports?guestId=&offset=&limit=`: newest first.
async fn reports<A: Adapter>(
    State(duet): State<Arc<Duet<A>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let number = |name: &str, default: u64| match query.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| bad_request(format!("{name} must be a whole number"))),
    };
    let offset = number("offset", 0)?;
    let limit = number("limit", DEFAULT_PAGE)?;
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad_request(format!("limit must be 1 to {MAX_PAGE}")));
    }
    let reported = query
        .get("guestId")
        .map(|id| id.parse::<GuestId>())
        .transpose()
        .map_err(|_| bad_request("guestId must be a guest id"))?;
    let page = duet
        .moderation()
        .store
        .reports(&ReportQuery {
            reported,
            offset,
            limit,
        })
        .await?;
    Ok(Json(json!({
        "reports": page.reports,
        "total": page.total,
        "offset": offset,
        "limit": limit,
    })))
}

/// `GET /api/admin/bans`: every ban that holds now, the latest first.
async fn bans<A: Adapter>(State(duet): State<Arc<Duet<A>>>) -> Result<Json<Value>, ApiError> {
    let bans = duet.moderation().store.bans().await?;
    Ok(Json(json!({ "bans": bans })))
}

/// `POST /api/admin/bans` `{guestId | ip | addressTag, seconds, reason?}`: `201 {"ban"}`.
async fn create_ban<A: Adapter>(
    State(duet): State<Arc<Duet<A>>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return Err(bad_request("the body must be a JSON object"));
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    let mut targets = Vec::new();
    if let Some(id) = text("guestId") {
        let guest = id
            .parse()
            .map_err(|_| bad_request("guestId must be a guest id"))?;
        targets.push(BanTarget::GuestId(guest));
    }
    if let Some(ip) = text("ip") {
        let ip = ip
            .parse()
            .map_err(|_| bad_request("ip must be an IPv4 or IPv6 address"))?;
        targets.push(BanTarget::Address(duet.moderation().address_key.tag(ip)));
    }
    if let Some(tag) = text("addressTag") {
        let tag = AddressTag::parse(tag)
            .ok_or_else(|| bad_request("addressTag must be a report's reportedAddress"))?;
        targets.push(BanTarget::Address(tag));
    }
    let [target] = <[BanTarget; 1]>::try_from(targets)
        .map_err(|_| bad_request("name exactly one of guestId, ip, addressTag"))?;
    let seconds = fields
        .get("seconds")
        .and_then(Value::as_u64)
        .filter(|s| (1..=MAX_BAN.as_secs()).contains(s))
        .ok_or_else(|| {
            bad_request(format!(
                "seconds must be a whole number from 1 to {}",
                MAX_BAN.as_secs()
            ))
        })?;
    let reason = match fields.get("reason") {
        None | Some(Value::Null) => "banned by an operator".to_owned(),
        Some(Value::String(reason))
            if !reason.trim().is_empty() && reason.chars().count() <= MAX_REASON_CHARS =>
        {
            reason.trim().to_owned()
        }
        Some(_) => {
            return Err(bad_request(format!(
                "reason must be a text of 1 to {MAX_REASON_CHARS} characters"
            )));
        }
    };
    let ban = Ban::new(
        target,
        reason,
        BanSource::Operator,
        duet.now(),
        Duration::from_secs(seconds),
    );
    duet.impose(&ban).await?;
    Ok((StatusCode::CREATED, Json(json!({ "ban": ban }))).into_response())
}

/// `DELETE /api/admin/bans/{id}`: `204`, or `404` when no ban with that id holds.
async fn lift_ban<A: Adapter>(
    State(duet): State<Arc<Duet<A>>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such ban");
    let id: BanId = id.parse().map_err(|_| not_found())?;
    if !duet.moderation().store.lift(&id).await? {
        return Err(not_found());
    }
    metrics::counter!(names::BANS_LIFTED).increment(1);
    tracing::info!(ban_id = %id, "ban lifted by an operator");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/admin/stats`: reports kept and bans holding now.
async fn stats<A: Adapter>(State(duet): State<Arc<Duet<A>>>) -> Result<Json<Value>, ApiError> {
    let counts = duet.moderation().store.counts().await?;
    Ok(Json(json!(counts)))
}
