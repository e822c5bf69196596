//! Interests: what two guests can be paired on.

use serde::{Deserialize, Serialize};

/// The most interests one guest may give.
pub const MAX_INTERESTS: usize = 10;
/// The longest interest, in Unicode scalar values, after trimming.
pub const MAX_INTEREST_CHARS: usize = 32;

/// A guest's interests in normal form: trimmed, lower-cased, de-duplicated, in the order first
/// given. At most [`MAX_INTERESTS`], each 1 to [`MAX_INTEREST_CHARS`] characters.
///
/// ```
/// use duet_matchmaker::Interests;
///
/// let interests = Interests::parse([" Rust ", "music", "RUST"])?;
/// assert_eq!(interests.as_slice(), ["rust", "music"]);
/// assert!(Interests::parse(["  "]).is_err());
/// # Ok::<(), duet_matchmaker::InterestsError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Interests(Vec<String>);

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
    pub const fn code(&self) -> &'static str {
        "INVALID_PAYLOAD"
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
        let mut normal: Vec<String> = Vec::new();
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
            if !normal.contains(&lower) {
                normal.push(lower);
            }
        }
        Ok(Self(normal))
    }

    /// The interests, in normal form.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The interests both have, in `self`'s order.
    pub fn common_with(&self, other: &Interests) -> Vec<String> {
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
        let parsed = Interests::parse(["Über", " über ", "Jazz"]).map(|i| i.0);
        assert_eq!(parsed, Ok(vec!["über".to_owned(), "jazz".to_owned()]));
    }

    #[test]
    fn limits_are_enforced() {
        assert_eq!(Interests::parse(vec!["a"; 11]), Err(InterestsError::TooMany));
        assert!(Interests::parse(vec!["a"; 10]).is_ok());
        assert_eq!(Interests::parse(["x".repeat(33)]), Err(InterestsError::TooLong));
        assert!(Interests::parse(["é".repeat(32)]).is_ok());
        assert_eq!(Interests::parse([""]), Err(InterestsError::Empty));
        assert_eq!(Interests::parse(["a\tb"]), Err(InterestsError::ControlCharacter));
    }

    #[test]
    fn common_interests_keep_the_first_guests_order() {
        let a = Interests::parse(["x", "y", "z"]).unwrap_or_default();
        let b = Interests::parse(["z", "x"]).unwrap_or_default();
        assert_eq!(a.common_with(&b), vec!["x", "z"]);
    }
}
