//! The presence store's error type.

/// A presence store operation failed. Clients only ever see the code `INTERNAL`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend (Redis) failed or could not be reached.
    #[error("the presence backend is unavailable")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The backend returned data this version cannot read.
    #[error("the presence backend returned unreadable data: {0}")]
    Corrupt(String),
    /// The store was configured wrongly (for example a bad Redis URL).
    #[error("the presence store is misconfigured: {0}")]
    Config(String),
}

impl StoreError {
    /// The wire code for any store failure: `INTERNAL`.
    pub const fn code(&self) -> duet_core::ErrorCode {
        duet_core::ErrorCode::Internal
    }

    /// Whether the same call may succeed later: the backend could not be reached. Unreadable
    /// data and a wrong configuration stay what they are, however often the call is repeated.
    pub const fn is_unavailable(&self) -> bool {
        matches!(self, Self::Backend(_))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        Self::Corrupt(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unreachable_backend_is_worth_trying_again() {
        assert!(StoreError::Backend("down".into()).is_unavailable());
        assert!(!StoreError::Corrupt("garbage".into()).is_unavailable());
        assert!(!StoreError::Config("bad url".into()).is_unavailable());
    }
}
