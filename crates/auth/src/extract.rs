//! Finding the token in what a client sent: an `Authorization` header or the Socket.IO `auth`
//! payload.

use serde_json::Value;

use crate::error::AuthError;

/// The token of an `Authorization: Bearer <token>` header value.
///
/// The scheme is matched case-insensitively, as RFC 9110 asks; another scheme, or `Bearer`
/// without a token, is [`AuthError::Invalid`].
///
/// ```
/// use duet_auth::{bearer_token, AuthError};
///
/// assert_eq!(bearer_token("Bearer abc.def.ghi").ok(), Some("abc.def.ghi"));
/// assert!(matches!(bearer_token("Basic dXNlcg=="), Err(AuthError::Invalid)));
/// ```
pub fn bearer_token(header_value: &str) -> Result<&str, AuthError> {
    let value = header_value.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Invalid);
    }
    let token = token.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(AuthError::Invalid);
    }
    Ok(token)
}

/// The token of a Socket.IO `auth` payload `{"token": "..."}`.
///
/// `Ok(None)` when the payload carries no token (absent, `null`, empty string, or no payload
/// object at all); [`AuthError::Invalid`] when `token` is there but is not a string.
pub fn auth_payload_token(payload: &Value) -> Result<Option<&str>, AuthError> {
    let Value::Object(fields) = payload else {
        return Ok(None);
    };
    match fields.get("token") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(token)) if token.trim().is_empty() => Ok(None),
        Some(Value::String(token)) => Ok(Some(token.trim())),
        Some(_) => Err(AuthError::Invalid),
    }
}

/// The token of a connection attempt: `auth.token` when present (it wins), otherwise the
/// `Authorization` header, otherwise [`AuthError::Required`].
///
/// ```
/// use duet_auth::{extract_token, AuthError};
/// use serde_json::json;
///
/// let auth = json!({"token": "from-auth"});
/// assert_eq!(extract_token(Some(&auth), Some("Bearer from-header")).ok(), Some("from-auth"));
/// assert_eq!(extract_token(None, Some("Bearer from-header")).ok(), Some("from-header"));
/// assert!(matches!(extract_token(None, None), Err(AuthError::Required)));
/// ```
pub fn extract_token<'a>(
    auth_payload: Option<&'a Value>,
    authorization: Option<&'a str>,
) -> Result<&'a str, AuthError> {
    if let Some(payload) = auth_payload
        && let Some(token) = auth_payload_token(payload)?
    {
        return Ok(token);
    }
    match authorization {
        Some(header) => bearer_token(header),
        None => Err(AuthError::Required),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_strict() {
        assert_eq!(bearer_token("bearer t").ok(), Some("t"));
        assert_eq!(bearer_token("BEARER   t  ").ok(), Some("t"));
        assert!(matches!(bearer_token("Bearer"), Err(AuthError::Invalid)));
        assert!(matches!(bearer_token("Bearer "), Err(AuthError::Invalid)));
        assert!(matches!(bearer_token("Token t"), Err(AuthError::Invalid)));
        assert!(matches!(
            bearer_token("Bearer a b"),
            Err(AuthError::Invalid)
        ));
        assert!(matches!(bearer_token(""), Err(AuthError::Invalid)));
    }

    #[test]
    fn auth_payload_token_wins_and_bad_types_are_invalid() {
        let header = Some("Bearer h");
        assert_eq!(
            extract_token(Some(&json!({"token": "a"})), header).ok(),
            Some("a")
        );
        assert_eq!(
            extract_token(Some(&json!({"token": null})), header).ok(),
            Some("h")
        );
        assert_eq!(
            extract_token(Some(&json!({"token": ""})), header).ok(),
            Some("h")
        );
        assert_eq!(extract_token(Some(&json!({})), header).ok(), Some("h"));
        assert_eq!(
            extract_token(Some(&json!("string")), header).ok(),
            Some("h")
        );
        assert!(matches!(
            extract_token(Some(&json!({"token": 5})), header),
            Err(AuthError::Invalid)
        ));
        assert!(matches!(
            extract_token(Some(&json!({})), None),
            Err(AuthError::Required)
        ));
        assert!(matches!(
            extract_token(None, Some("Basic x")),
            Err(AuthError::Invalid)
        ));
    }
}
