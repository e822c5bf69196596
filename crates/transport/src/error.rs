//! HTTP errors with the protocol's body `{"error": {"code", "message"}}`.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use duet_auth::AuthError;
use duet_core::ErrorCode;
use duet_presence_store::StoreError;
use serde_json::json;

/// What failed behind an `INTERNAL` answer: logged when the answer is sent, never shown.
type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// An HTTP error answer: a status, a stable code and a sentence for humans.
///
/// A `500 INTERNAL` made from a backend error keeps that error as its cause and logs it once,
/// when the answer is sent; the client sees only the code and a generic sentence.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The protocol's code.
    pub code: ErrorCode,
    /// A sentence for humans; never internals.
    pub message: String,
    /// For `429`: how long to wait, sent as `Retry-After` in whole seconds (rounded up).
    pub retry_after: Option<Duration>,
    /// For `403 BANNED`: when the ban ends, sent as `expiresAt` beside the code.
    pub expires_at: Option<duet_core::Timestamp>,
    cause: Option<Cause>,
}

impl PartialEq for ApiError {
    fn eq(&self, other: &Self) -> bool {
        (self.status, self.code, &self.message, self.retry_after)
            == (other.status, other.code, &other.message, other.retry_after)
    }
}

impl Eq for ApiError {}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            expires_at: None,
            cause: None,
        }
    }

    /// `400 INVALID_PAYLOAD`.
    pub fn invalid_payload(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidPayload, message)
    }

    /// `429 RATE_LIMITED` with `Retry-After`.
    pub fn rate_limited(retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "too many requests; try again later",
            )
        }
    }

    /// `500 INTERNAL`: something on our side failed; the details go to the log, not the client.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "the server could not complete the request",
        )
    }

    /// `500 INTERNAL` caused by `cause`, which is logged when the answer is sent.
    pub fn internal_from(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            cause: Some(Arc::new(cause)),
            ..Self::internal()
        }
    }

    /// `403 BANNED` until `expires_at`.
    pub fn banned(expires_at: duet_core::Timestamp) -> Self {
        Self {
            expires_at: Some(expires_at),
            ..Self::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Banned,
                format!("you are banned until {expires_at}"),
            )
        }
    }

    /// `404 NOT_FOUND`.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such route")
    }

    /// `405 METHOD_NOT_ALLOWED`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "this route does not take that method",
        )
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Backend(source) => Self {
                cause: Some(Arc::from(source)),
                ..Self::internal()
            },
            other => Self::new(StatusCode::UNAUTHORIZED, other.code(), other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::internal_from(error)
    }
}

impl From<duet_moderation::ModerationError> for ApiError {
    fn from(error: duet_moderation::ModerationError) -> Self {
        Self::internal_from(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(error = %cause, source = ?cause.source(), "request failed");
        }
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(expires_at), Some(fields)) = (self.expires_at, error.as_object_mut()) {
            fields.insert("expiresAt".to_owned(), json!(expires_at));
        }
        let body = json!({ "error": error });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let seconds = wait.as_millis().div_ceil(1000).max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
