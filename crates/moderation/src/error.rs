//! The moderation store's error type.

/// A moderation store operation failed. Clients only ever see the code `INTERNAL`.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    /// The backend (Redis) failed or could not be reached.
    #[error("the moderation backend is unavailable")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The backend returned data this version cannot read.
    #[error("the moderation backend returned unreadable data: {0}")]
    Corrupt(String),
    /// The store was configured wrongly.
    #[error("the moderation store is misconfigured: {0}")]
    Config(String),
}

impl From<serde_json::Error> for ModerationError {
    fn from(error: serde_json::Error) -> Self {
        Self::Corrupt(error.to_string())
    }
}
