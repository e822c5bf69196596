//! Interests: what two guests can be paired on.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The most interests one guest may give.
pub const MAX_INTERESTS: usize = 10;
/// The longest interest, in Unicode scalar values, after trimming.
pub const MAX_INTEREST_CHARS: usize = 32;

/// A guest's interests in normal form: trimmed, lower-cased, de-duplicated, in the order first
/// given. At most [`MAX_INTERESTS`], each 1 to [`MAX_INTEREST_CHARS`] characters.
///
/// Each interest is an `Arc<str>`, so the common interests of a pair share the guests' strings
/// instead of copying them.
///
/// ```
/// use duet_matchmaker::Interests;
///
/// let interests = Interests::parse([" Rust ", "music", "RUST"])?;
/// let normal: Vec<&str> = interests.as_slice().iter().map(|i| &**i).collect();
/// assert_eq!(normal, ["rust", "music"]);
/// assert!(Interests::parse(["  "]).is_err());
/// # Ok::<(), duet_matchmaker::InterestsError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Interests(Vec<Arc<str>>);

/// Why a list of interests was refused; its wire code is `INVALID_PAYLOAD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterestsError {
    /// More than [`MAX_INTERESTS`] interests (counted before de-duplication).
    #[error("at most {MAX_INTERESTS} interests are allowed")]
    TooMany,
    /// An interest with no visible character.
    #[error("an interest must not be empty")]
    Empty,
    /// An interest longer than [`MAX_INTEREST_CHARS`] characters.
    #[error("an interest must be at most {MAX_INTEREST_CHARS} characters")]
    TooLong,
    /// An interest containing control characters.
    #[error("an interest must not contain control characters")]
    ControlCharacter,
}

impl InterestsError {
    /// The protocol's error code for bad interests.
    pub const fn code(&self) -> duet_core::ErrorCode {
        duet_core::ErrorCode::InvalidPayload
    }
}

impl Interests {
    /// No interests: the guest is paired at random at once.
    pub const fn none() -> Self {
        Self(Vec::new())
    }

    /// Normalizes and checks `raw`.
    pub fn parse<I, S>(raw: I) -> Result<Self, InterestsError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut normal: Vec<Arc<str>> = Vec::new();
        for (count, interest) in raw.into_iter().enumerate() {
            if count >= MAX_INTERESTS {
                return Err(InterestsError::TooMany);
            }
            let trimmed = interest.as_ref().trim();
            if trimmed.is_empty() {
                return Err(InterestsError::Empty);
            }
            if trimmed.chars().count() > MAX_INTEREST_CHARS {
                return Err(InterestsError::TooLong);
            }
            if trimmed.chars().any(char::is_control) {
                return Err(InterestsError::ControlCharacter);
            }
            let lower = trimmed.to_lowercase();
            if !normal.iter().any(|seen| **seen == *lower) {
                normal.push(lower.into());
            }
        }
        Ok(Self(normal))
    }

    /// The interests, in normal form.
    pub fn as_slice(&self) -> &[Arc<str>] {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The interests both have, in `self`'s order.
    pub fn common_with(&self, other: &Interests) -> Vec<Arc<str>> {
        self.0
            .iter()
            .filter(|interest| other.0.contains(interest))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_form_is_trimmed_lowercased_and_deduplicated() {
        let parsed = Interests::parse(["Über", " über ", "Jazz"]);
        let expected: Vec<Arc<str>> = vec!["über".into(), "jazz".into()];
        assert_eq!(parsed.map(|i| i.0), Ok(expected));
    }

    #[test]
    fn limits_are_enforced() {
        assert_eq!(
            Interests::parse(vec!["a"; 11]),
            Err(InterestsError::TooMany)
        );
        assert!(Interests::parse(vec!["a"; 10]).is_ok());
        assert_eq!(
            Interests::parse(["x".repeat(33)]),
            Err(InterestsError::TooLong)
        );
        assert!(Interests::parse(["é".repeat(32)]).is_ok());
        assert_eq!(Interests::parse([""]), Err(InterestsError::Empty));
        assert_eq!(
            Interests::parse(["a\tb"]),
            Err(InterestsError::ControlCharacter)
        );
    }

    #[test]
    fn common_interests_keep_the_first_guests_order() {
        let a = Interests::parse(["x", "y", "z"]).unwrap_or_default();
        let b = Interests::parse(["z", "x"]).unwrap_or_default();
        let common = a.common_with(&b);
        let common: Vec<&str> = common.iter().map(|c| &**c).collect();
        assert_eq!(common, ["x", "z"]);
    }
}
