//! [`SessionStore`] on Redis.

use async_trait::async_trait;
use duet_auth::Session;
use duet_core::{SessionId, Timestamp};
use fred::prelude::{ClientLike, SortedSetsInterface, Value};

use super::scripts::{CreateSession, ExtendSession, RevokeSession, TakeExpired};
use super::{RedisStore, backend, parse};
use crate::error::StoreError;
use crate::model::{BackendKind, ExpiredSession};
use crate::sessions::SessionStore;

#[async_trait]
impl SessionStore for RedisStore {
    fn kind(&self) -> BackendKind {
        BackendKind::Redis
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .ping::<Value>(None)
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let ttl =
            session.expires_at().duration_since(self.now()) + self.config.expired_session_grace;
        let call = CreateSession {
            id: session.id,
            json: serde_json::to_string(session)?,
            expires_at: session.expires_at(),
            ttl,
        };
        self.call::<_, Value>(call).await.map(drop)
    }

    async fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let json = self.get(self.keys.session(id)).await?;
        let session: Option<Session> = parse(json)?;
        let now = self.now();
        Ok(session.filter(|s| !s.is_expired_at(now)))
    }

    async fn extend_session(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let now = self.now();
        let call = ExtendSession {
            id: *id,
            now,
            expires_at,
            ttl: expires_at.duration_since(now) + self.config.expired_session_grace,
        };
        let json: Option<String> = self.call(call).await?;
        parse(json)
    }

    async fn revoke_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let json: Option<String> = self.call(RevokeSession { id: *id }).await?;
        let now = self.now();
        Ok(parse::<Session>(json)?.filter(|s| !s.is_expired_at(now)))
    }

    async fn take_expired_sessions(&self, limit: usize) -> Result<Vec<ExpiredSession>, StoreError> {
        let now = self.now();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let due: Vec<String> = self
            .client
            .zrangebyscore(
                self.keys.sessions(),
                "-inf",
                now.unix_millis(),
                false,
                Some((0, limit)),
            )
            .await
            .map_err(backend)?;
        let candidates: Vec<SessionId> = due.iter().filter_map(|sid| sid.parse().ok()).collect();
        if candidates.len() < due.len() {
            tracing::warn!("unreadable session ids in the expiry index");
        }
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let taken: Vec<String> = self.call(TakeExpired { now, candidates }).await?;
        // The script returns sid, then the session json or "" when the record was already gone.
        let mut expired = Vec::with_capacity(taken.len() / 2);
        for chunk in taken.chunks(2) {
            let [sid, json] = chunk else { continue };
            let Ok(session_id) = sid.parse::<SessionId>() else {
                continue;
            };
            match serde_json::from_str::<Session>(json) {
                Ok(session) => expired.push(ExpiredSession {
                    session_id,
                    guest_id: session.guest.id,
                }),
                Err(_) => tracing::debug!(%session_id, "expired session record already gone"),
            }
        }
        Ok(expired)
    }

    async fn count_sessions(&self) -> Result<u64, StoreError> {
        self.count_live(self.keys.sessions()).await
    }
}
