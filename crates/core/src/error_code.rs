//! [`ErrorCode`]: every machine code a Duet client can see, written once.

use std::fmt;

use serde::{Serialize, Serializer};

/// A wire error code of protocol.md: the `code` of every HTTP error body, socket ack error,
/// `app:error` and `connect_error`. [`ErrorCode::as_str`] is the only place each string is
/// written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// No token at all.
    AuthRequired,
    /// A malformed or badly signed token, another algorithm, a missing claim, another scheme.
    AuthInvalid,
    /// The token's `exp` passed, or its session expired.
    SessionExpired,
    /// The token's session is unknown or was deleted.
    SessionNotFound,
    /// A username that is empty, too long or has control characters.
    InvalidUsername,
    /// A payload that is not of the documented shape.
    InvalidPayload,
    /// Text, an SDP or a file over its limit.
    PayloadTooLarge,
    /// Over a budget (per guest, per IP); comes with a wait.
    RateLimited,
    /// The event needs a chat and there is none.
    NotInChat,
    /// The event needs no chat and there is one.
    AlreadyInChat,
    /// The partner is away and nothing more can be held for it.
    PartnerAway,
    /// Something on the server's side failed; details are in its log, never on the wire.
    Internal,
    /// No such HTTP route.
    NotFound,
    /// The route does not take that method.
    MethodNotAllowed,
    /// The guest or its address is banned; comes with `expiresAt`.
    Banned,
    /// Session creation needs a solved proof of work and none was sent.
    PowRequired,
    /// The proof of work sent is wrong, expired or already used.
    PowInvalid,
    /// The content filter refused the text.
    ContentRefused,
}

impl ErrorCode {
    /// Every code, in the order of protocol.md.
    pub const ALL: [Self; 18] = [
        Self::AuthRequired,
        Self::AuthInvalid,
        Self::SessionExpired,
        Self::SessionNotFound,
        Self::InvalidUsername,
        Self::InvalidPayload,
        Self::PayloadTooLarge,
        Self::RateLimited,
        Self::NotInChat,
        Self::AlreadyInChat,
        Self::PartnerAway,
        Self::Internal,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Banned,
        Self::PowRequired,
        Self::PowInvalid,
        Self::ContentRefused,
    ];

    /// The code as it goes on the wire (`UPPER_SNAKE_CASE`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthRequired => "AUTH_REQUIRED",
            Self::AuthInvalid => "AUTH_INVALID",
            Self::SessionExpired => "SESSION_EXPIRED",
            Self::SessionNotFound => "SESSION_NOT_FOUND",
            Self::InvalidUsername => "INVALID_USERNAME",
            Self::InvalidPayload => "INVALID_PAYLOAD",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::RateLimited => "RATE_LIMITED",
            Self::NotInChat => "NOT_IN_CHAT",
            Self::AlreadyInChat => "ALREADY_IN_CHAT",
            Self::PartnerAway => "PARTNER_AWAY",
            Self::Internal => "INTERNAL",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::Banned => "BANNED",
            Self::PowRequired => "POW_REQUIRED",
            Self::PowInvalid => "POW_INVALID",
            Self::ContentRefused => "CONTENT_REFUSED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_upper_snake_case_and_serialize_as_text() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                text.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{text}"
            );
            assert_eq!(
                serde_json::to_string(&code).ok(),
                Some(format!("\"{text}\""))
            );
        }
    }
}
