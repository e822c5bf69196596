//! JWT issue and verification (HS256 only) and the full check with the session store.

use std::future::Future;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{AuthError, BackendError, SecretError, SignError};
use crate::guest::Session;
use duet_core::{Clock, GuestId, SessionId, SystemClock, Timestamp};

/// The shortest HS256 secret accepted, in bytes (the key should be as long as the hash output).
pub const MIN_SECRET_BYTES: usize = 32;

/// The claims of a Duet token. Every one is required; a token missing any is `AUTH_INVALID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The guest id.
    pub sub: GuestId,
    /// The session id.
    pub sid: SessionId,
    /// Issued at, in Unix seconds.
    pub iat: i64,
    /// Expires at, in Unix seconds; never later than the session's expiry.
    pub exp: i64,
    /// A unique token id.
    pub jti: String,
}

/// A freshly signed token and when it expires (the token's `exp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// The token's `exp` as a timestamp.
    pub expires_at: Timestamp,
}

/// What a successful verification yields: the token's claims and the live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The verified claims.
    pub claims: Claims,
    /// The session, as the store holds it now.
    pub session: Session,
}

/// Where [`TokenService::authenticate`] looks sessions up; the presence store implements it.
pub trait SessionLookup: Send + Sync {
    /// The session with this id, or `None` if it is unknown, deleted or already swept.
    fn find_session(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Session>, BackendError>> + Send;
}

/// Signs and verifies guest tokens with one HS256 secret.
///
/// The algorithm is pinned: a token whose header names any other algorithm, `none` included, is
/// refused. Expiry is checked against the service's [`Clock`] with **no leeway**: all nodes of a
/// cluster issue and verify, so a token lives exactly until its `exp` second; keep node clocks in
/// sync with NTP. A different leeway can be set with [`TokenService::with_leeway_seconds`].
#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    leeway_seconds: i64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys are secrets: never print them.
        f.debug_struct("TokenService")
            .field("algorithm", &"HS256")
            .field("leeway_seconds", &self.leeway_seconds)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// A service signing with `secret`, which must be at least [`MIN_SECRET_BYTES`] long.
    pub fn new(secret: &[u8]) -> Result<Self, SecretError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort {
                minimum: MIN_SECRET_BYTES,
                actual: secret.len(),
            });
        }
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked by hand against our own clock (testable, and one rule for tokens
        // and sessions); presence of the claims is still enforced here.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret).map_err(|_| SecretError::Unusable)?,
            decoding: DecodingKey::from_secret(secret).map_err(|_| SecretError::Unusable)?,
            validation,
            leeway_seconds: 0,
            clock: Arc::new(SystemClock),
        })
    }

    /// A random 64-byte secret, for development servers that were given none.
    pub fn random_secret() -> Vec<u8> {
        let mut secret = vec![0_u8; 64];
        rand::fill(secret.as_mut_slice());
        secret
    }

    /// Uses `clock` for `iat` and for expiry checks.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Accepts tokens up to `seconds` after their `exp` (default 0).
    pub fn with_leeway_seconds(mut self, seconds: u32) -> Self {
        self.leeway_seconds = i64::from(seconds);
        self
    }

    /// The clock this service reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Signs a new token for `session`, expiring with the session.
    pub fn issue(&self, session: &Session) -> Result<IssuedToken, SignError> {
        let now = self.clock.now();
        let expires_at = session.expires_at().floor_to_second();
        let claims = Claims {
            sub: session.guest.id,
            sid: session.id,
            iat: now.unix_seconds(),
            exp: expires_at.unix_seconds(),
            jti: Uuid::new_v4().simple().to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(SignError)?;
        Ok(IssuedToken { token, expires_at })
    }

    /// Checks the signature, the algorithm, the claims and `exp`, without the session check.
    ///
    /// Use [`TokenService::authenticate`] to accept a client: only it notices deleted sessions.
    pub fn decode(&self, token: &str) -> Result<Claims, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AuthError::Invalid)?;
        let claims = data.claims;
        if self.clock.now().unix_seconds() >= claims.exp.saturating_add(self.leeway_seconds) {
            return Err(AuthError::SessionExpired);
        }
        Ok(claims)
    }

    /// The complete check: [`decode`](Self::decode), then the session in `sessions` must exist,
    /// belong to the token's guest and not have expired.
    pub async fn authenticate<S>(
        &self,
        token: &str,
        sessions: &S,
    ) -> Result<Authenticated, AuthError>
    where
        S: SessionLookup + ?Sized,
    {
        let claims = self.decode(token)?;
        let session = sessions
            .find_session(&claims.sid)
            .await
            .map_err(AuthError::Backend)?
            .ok_or(AuthError::SessionNotFound)?;
        if session.guest.id != claims.sub {
            // A validly signed token whose sid and sub disagree was not made by us.
            return Err(AuthError::Invalid);
        }
        if session.is_expired_at(self.clock.now()) {
            return Err(AuthError::SessionExpired);
        }
        Ok(Authenticated { claims, session })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::guest::Username;
    use duet_core::ManualClock;

    #[derive(Default)]
    struct Sessions(Mutex<HashMap<SessionId, Session>>);

    impl SessionLookup for Sessions {
        async fn find_session(&self, id: &SessionId) -> Result<Option<Session>, BackendError> {
            Ok(self.0.lock().map_err(|_| "poisoned")?.get(id).cloned())
        }
    }

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn setup(ttl: Duration) -> (TokenService, ManualClock, Sessions, Session) {
        let clock = ManualClock::new();
        let service = TokenService::new(SECRET)
            .map(|s| s.with_clock(Arc::new(clock.clone())))
            .unwrap_or_else(|e| panic!("{e}"));
        let session = Session::start(Username::random(), clock.now(), ttl);
        let sessions = Sessions::default();
        if let Ok(mut map) = sessions.0.lock() {
            map.insert(session.id, session.clone());
        }
        (service, clock, sessions, session)
    }

    fn forge(header: &str, claims: &serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(header);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.")
    }

    #[tokio::test]
    async fn issued_token_authenticates_until_exp_then_expires() {
        let (service, clock, sessions, session) = setup(Duration::from_secs(60));
        let issued = service.issue(&session).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(issued.expires_at, session.expires_at());
        let ok = service.authenticate(&issued.token, &sessions).await;
        assert_eq!(ok.map(|a| a.session.guest.id).ok(), Some(session.guest.id));
        clock.advance(Duration::from_secs(61));
        let expired = service.authenticate(&issued.token, &sessions).await;
        assert!(matches!(expired, Err(AuthError::SessionExpired)));
    }

    #[tokio::test]
    async fn every_token_has_a_unique_jti() {
        let (service, _clock, _sessions, session) = setup(Duration::from_secs(60));
        let a = service.issue(&session).map(|t| t.token).unwrap_or_default();
        let b = service.issue(&session).map(|t| t.token).unwrap_or_default();
        let jti = |t: &str| service.decode(t).map(|c| c.jti).unwrap_or_default();
        assert_ne!(jti(&a), jti(&b));
    }

    #[tokio::test]
    async fn deleted_session_rejects_its_tokens() {
        let (service, _clock, sessions, session) = setup(Duration::from_secs(60));
        let issued = service.issue(&session).unwrap_or_else(|e| panic!("{e}"));
        if let Ok(mut map) = sessions.0.lock() {
            map.clear();
        }
        let result = service.authenticate(&issued.token, &sessions).await;
        assert!(matches!(result, Err(AuthError::SessionNotFound)));
    }

    #[tokio::test]
    async fn foreign_secret_garbage_and_alg_none_are_invalid() {
        let (service, _clock, sessions, session) = setup(Duration::from_secs(60));
        let other = TokenService::new(b"another-secret-another-secret-xx")
            .unwrap_or_else(|e| panic!("{e}"));
        let foreign = other.issue(&session).unwrap_or_else(|e| panic!("{e}"));
        for token in [foreign.token.as_str(), "garbage", "a.b.c", ""] {
            let result = service.authenticate(token, &sessions).await;
            assert!(matches!(result, Err(AuthError::Invalid)), "{token}");
        }
        let claims = serde_json::json!({
            "sub": session.guest.id, "sid": session.id, "iat": 1, "exp": i64::MAX / 2, "jti": "x"
        });
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
        ] {
            let forged = forge(header, &claims);
            let result = service.authenticate(&forged, &sessions).await;
            assert!(matches!(result, Err(AuthError::Invalid)), "{header}");
        }
    }

    #[tokio::test]
    async fn a_missing_claim_is_invalid() {
        let (service, clock, sessions, session) = setup(Duration::from_secs(60));
        let exp = clock.now().unix_seconds() + 60;
        let claims = serde_json::json!({"sub": session.guest.id, "iat": 1, "exp": exp, "jti": "x"});
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET).unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_default();
        let result = service.authenticate(&token, &sessions).await;
        assert!(matches!(result, Err(AuthError::Invalid)));
    }

    #[test]
    fn short_secrets_are_refused() {
        let error = TokenService::new(b"short").err();
        assert_eq!(
            error,
            Some(SecretError::TooShort {
                minimum: 32,
                actual: 5
            })
        );
        assert_eq!(TokenService::random_secret().len(), 64);
    }
}
