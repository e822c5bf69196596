//! The match queue's error type.

/// A match queue operation failed. Clients only ever see the code `INTERNAL`.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backend (Redis) failed or could not be reached.
    #[error("the match queue backend is unavailable")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The backend returned data this version cannot read.
    #[error("the match queue returned unreadable data: {0}")]
    Corrupt(String),
    /// The queue was configured wrongly (a key prefix without a hash tag on Redis Cluster).
    #[error("the match queue is misconfigured: {0}")]
    Config(String),
}

impl QueueError {
    /// The wire code for any queue failure: `INTERNAL`.
    pub const fn code(&self) -> duet_core::ErrorCode {
        duet_core::ErrorCode::Internal
    }
}
