//! [`SessionStore`]: guest sessions with their expiry.

use std::fmt::Debug;

use async_trait::async_trait;
use duet_auth::{BackendError, Session, SessionLookup};
use duet_core::{SessionId, Timestamp};

use crate::error::StoreError;
use crate::model::{BackendKind, ExpiredSession};

/// Guest sessions: created, looked up, extended, revoked, and swept once expired.
///
/// Object safe: a server picks the backend at run time and keeps an `Arc<dyn SessionStore>`.
/// It implements [`SessionLookup`], so [`duet_auth::TokenService::authenticate`] checks tokens
/// against it.
#[async_trait]
pub trait SessionStore: Send + Sync + Debug + 'static {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// Checks that the backend answers (for `/ready`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Stores a new session until its expiry.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;

    /// The session, or `None` if it is unknown, revoked or expired.
    async fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;

    /// Moves a live session's expiry to `expires_at` (never earlier) and returns it; `None` if the
    /// session is unknown, revoked or expired.
    async fn extend_session(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> Result<Option<Session>, StoreError>;

    /// Deletes a session so that every token issued for it stops working; returns it if it was
    /// live.
    async fn revoke_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;

    /// Removes up to `limit` sessions whose expiry has passed and returns them. Each expired
    /// session is returned once across the whole cluster, so exactly one node ends its chat.
    async fn take_expired_sessions(&self, limit: usize) -> Result<Vec<ExpiredSession>, StoreError>;

    /// Live sessions (`totalUsers`).
    async fn count_sessions(&self) -> Result<u64, StoreError>;
}

/// Lets [`duet_auth::TokenService::authenticate`] check sessions in any session store.
impl SessionLookup for dyn SessionStore + '_ {
    async fn find_session(&self, id: &SessionId) -> Result<Option<Session>, BackendError> {
        self.session(id)
            .await
            .map_err(|error| Box::new(error) as BackendError)
    }
}
