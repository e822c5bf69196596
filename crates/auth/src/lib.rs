//! Guest sessions and their tokens for [Duet](https://github.com/duet-chat/duet), the anonymous
//! one-to-one chat server.
//!
//! - [`Username`]: validation (1 to 32 characters after trimming, no control characters) and a
//!   friendly random name generator.
//! - [`Guest`] and [`Session`]: what a guest session is, with [`GuestId`] and [`SessionId`].
//! - [`TokenService`]: HS256 JWTs with `sub` (guest id), `sid` (session id), `iat`, `exp` and a
//!   unique `jti`; any other algorithm, `none` included, is refused.
//! - [`extract_token`]: the token from a Socket.IO `auth` payload or an `Authorization` header.
//! - [`AuthError::code`]: exactly the protocol's codes `AUTH_REQUIRED`, `AUTH_INVALID`,
//!   `SESSION_EXPIRED`, `SESSION_NOT_FOUND`.
//!
//! A token is only as good as its session: [`TokenService::authenticate`] checks the token *and*
//! looks the session up through [`SessionLookup`], which the presence store implements, so a
//! deleted session rejects every token issued for it.
//!
//! # Example
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::Duration;
//! use duet_auth::{
//!     AuthError, BackendError, Clock, Session, SessionId, SessionLookup, SystemClock,
//!     TokenService, Username,
//! };
//!
//! struct OneSession(Session);
//!
//! impl SessionLookup for OneSession {
//!     async fn find_session(&self, id: &SessionId) -> Result<Option<Session>, BackendError> {
//!         Ok((self.0.id == *id).then(|| self.0.clone()))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let tokens = TokenService::new(b"a secret of at least thirty-two bytes!")?;
//! let username = Username::parse("  Ada ")?;
//! let session = Session::start(username, SystemClock.now(), Duration::from_secs(7200));
//! let issued = tokens.issue(&session)?;
//!
//! let store = OneSession(session.clone());
//! let guest = tokens.authenticate(&issued.token, &store).await?;
//! assert_eq!(guest.session.guest.username.as_str(), "Ada");
//!
//! let refused = tokens.authenticate("not a token", &store).await;
//! assert_eq!(refused.map_err(|e| e.code()).err(), Some(duet_core::ErrorCode::AuthInvalid));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Feature flags
//!
//! None: the crate always signs with HS256 through `jsonwebtoken`'s pure-Rust backend.

mod error;
mod extract;
mod guest;
mod token;

/// The shared vocabulary, re-exported so this crate can be used on its own.
pub use duet_core::{Clock, ErrorCode, GuestId, ManualClock, SessionId, SystemClock, Timestamp};
pub use error::{AuthError, BackendError, SecretError, SignError};
pub use extract::{auth_payload_token, bearer_token, extract_token};
pub use guest::{Guest, MAX_USERNAME_CHARS, Session, Username, UsernameError};
pub use token::{
    Authenticated, Claims, IssuedToken, MIN_SECRET_BYTES, SessionLookup, TokenService,
};
