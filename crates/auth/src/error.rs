//! The one error type of token verification, with the protocol's wire codes.

use duet_core::ErrorCode;

/// A boxed error from a session backend, kept as the `source` of [`AuthError::Backend`].
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a request or a socket was not authenticated.
///
/// [`AuthError::code`] gives the exact code of the protocol; the `Display` text is a sentence for
/// humans that never reveals internals (a backend's own message stays in the `source`).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token at all.
    #[error("a guest token is required")]
    Required,
    /// A token that is malformed, badly signed, signed with another algorithm, missing a claim,
    /// or offered with a scheme other than `Bearer`.
    #[error("the token is not valid")]
    Invalid,
    /// The token's `exp` has passed, or its session has expired.
    #[error("the guest session has expired")]
    SessionExpired,
    /// The token's session is unknown or was deleted.
    #[error("the guest session does not exist")]
    SessionNotFound,
    /// The session backend failed; the client sees only `INTERNAL`.
    #[error("the session could not be checked")]
    Backend(#[source] BackendError),
}

impl AuthError {
    /// The protocol's error code: `AUTH_REQUIRED`, `AUTH_INVALID`, `SESSION_EXPIRED`,
    /// `SESSION_NOT_FOUND`, or `INTERNAL` for a backend failure.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::Required => ErrorCode::AuthRequired,
            Self::Invalid => ErrorCode::AuthInvalid,
            Self::SessionExpired => ErrorCode::SessionExpired,
            Self::SessionNotFound => ErrorCode::SessionNotFound,
            Self::Backend(_) => ErrorCode::Internal,
        }
    }
}

/// The signing secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Shorter than [`MIN_SECRET_BYTES`](crate::MIN_SECRET_BYTES).
    #[error("the JWT secret must be at least {minimum} bytes, got {actual}")]
    TooShort {
        /// The minimum length in bytes.
        minimum: usize,
        /// The length that was given.
        actual: usize,
    },
    /// The JWT library refused the key.
    #[error("the JWT secret cannot be used as an HMAC key")]
    Unusable,
}

/// Signing a token failed (it cannot with a valid HMAC key; kept so nothing panics if it did).
#[derive(Debug, thiserror::Error)]
#[error("the token could not be signed")]
pub struct SignError(#[source] pub(crate) jsonwebtoken::errors::Error);
