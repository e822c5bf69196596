//! Guests, their usernames and their sessions.

use std::fmt;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use duet_core::{ErrorCode, GuestId, SessionId, Timestamp};

/// The longest username, in Unicode scalar values, after trimming.
pub const MAX_USERNAME_CHARS: usize = 32;

/// A guest's display name: 1 to 32 characters after trimming, no control characters.
///
/// ```
/// use duet_auth::Username;
///
/// assert_eq!(Username::parse("  Ada  ").map(|u| u.to_string()).ok(), Some("Ada".to_owned()));
/// assert!(Username::parse("   ").is_err());
/// assert!(Username::parse("tab\tname").is_err());
/// assert!(Username::random().as_str().chars().count() <= 32);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

/// Why a username was refused. Its wire code is always `INVALID_USERNAME`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Nothing but white space, or nothing at all.
    #[error("username must have at least one visible character")]
    Empty,
    /// More than [`MAX_USERNAME_CHARS`] characters after trimming.
    #[error("username must be at most {MAX_USERNAME_CHARS} characters")]
    TooLong,
    /// A control character (newline, tab, escape, …) inside the name.
    #[error("username must not contain control characters")]
    ControlCharacter,
}

impl UsernameError {
    /// The protocol's error code for every username problem.
    pub const fn code(&self) -> ErrorCode {
        ErrorCode::InvalidUsername
    }
}

impl Username {
    /// Trims `raw` and checks it.
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(UsernameError::Empty);
        }
        if trimmed.chars().count() > MAX_USERNAME_CHARS {
            return Err(UsernameError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(UsernameError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// A friendly random name such as `QuietOtter42`.
    pub fn random() -> Self {
        const ADJECTIVES: &[&str] = &[
            "Amber", "Brave", "Calm", "Clever", "Cosmic", "Curious", "Gentle", "Golden", "Happy",
            "Jolly", "Kind", "Lucky", "Mellow", "Misty", "Nimble", "Quiet", "Rapid", "Silver",
            "Sunny", "Swift", "Witty", "Velvet", "Breezy", "Cheery",
        ];
        const ANIMALS: &[&str] = &[
            "Badger", "Falcon", "Fox", "Heron", "Koala", "Lynx", "Otter", "Owl", "Panda",
            "Penguin", "Puffin", "Raven", "Seal", "Sparrow", "Tiger", "Turtle", "Whale", "Wolf",
            "Yak", "Zebra", "Dolphin", "Gecko", "Hedgehog", "Lemur",
        ];
        let mut rng = rand::rng();
        let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
        let animal = ANIMALS[rng.random_range(0..ANIMALS.len())];
        let number: u16 = rng.random_range(10..100);
        Self(format!("{adjective}{animal}{number}"))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Username {
    /// Applies the same checks as [`Username::parse`], so stored data can never smuggle in a
    /// name the API would refuse.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A guest as clients see it: `{"id", "username", "createdAt", "expiresAt"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Guest {
    /// The guest's id (the `sub` of its tokens).
    pub id: GuestId,
    /// The guest's display name.
    pub username: Username,
    /// When the session was created.
    pub created_at: Timestamp,
    /// When the session expires unless refreshed.
    pub expires_at: Timestamp,
}

/// A guest session: the guest plus the session id its tokens carry as `sid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The session's id.
    pub id: SessionId,
    /// The guest this session belongs to; `guest.expires_at` is the session's expiry.
    pub guest: Guest,
}

impl Session {
    /// A new session for a new guest, created `now` and living `ttl`.
    ///
    /// The expiry is rounded down to a whole second so that a token's `exp` (whole seconds) can
    /// equal the session's expiry exactly.
    pub fn start(username: Username, now: Timestamp, ttl: Duration) -> Self {
        Self {
            id: SessionId::random(),
            guest: Guest {
                id: GuestId::random(),
                username,
                created_at: now,
                expires_at: now.saturating_add(ttl).floor_to_second(),
            },
        }
    }

    /// When the session expires.
    pub const fn expires_at(&self) -> Timestamp {
        self.guest.expires_at
    }

    /// Whether the session has expired at `now` (expiry is exclusive: at `expires_at` it is over).
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        now >= self.guest.expires_at
    }

    /// The same session with its lifetime extended to `now + ttl` (never shortened).
    pub fn extended(&self, now: Timestamp, ttl: Duration) -> Self {
        let mut extended = self.clone();
        let new_expiry = now.saturating_add(ttl).floor_to_second();
        extended.guest.expires_at = new_expiry.max(self.guest.expires_at);
        extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(
            Username::parse(" Zoë ").map(|u| u.0).ok().as_deref(),
            Some("Zoë")
        );
        let thirty_two_emoji = "😀".repeat(32);
        assert!(Username::parse(&thirty_two_emoji).is_ok());
        assert_eq!(
            Username::parse(&"😀".repeat(33)),
            Err(UsernameError::TooLong)
        );
        assert_eq!(Username::parse(""), Err(UsernameError::Empty));
        assert_eq!(
            Username::parse("a\u{7}b"),
            Err(UsernameError::ControlCharacter)
        );
        assert_eq!(
            Username::parse("line\nbreak"),
            Err(UsernameError::ControlCharacter)
        );
    }

    #[test]
    fn random_usernames_always_pass_validation() {
        for _ in 0..500 {
            let name = Username::random();
            assert_eq!(Username::parse(name.as_str()).ok(), Some(name));
        }
    }

    #[test]
    fn guest_serializes_in_camel_case_with_rfc3339_times() {
        let now = Timestamp::from_unix_millis(1_764_340_695_123);
        let session = Session::start(Username::random(), now, Duration::from_secs(7200));
        let json = serde_json::to_value(&session.guest).unwrap_or_default();
        assert_eq!(json["createdAt"], "2025-11-28T14:38:15.123Z");
        assert_eq!(json["expiresAt"], "2025-11-28T16:38:15.000Z");
        assert!(json["id"].is_string() && json["username"].is_string());
    }

    #[test]
    fn extending_never_shortens_and_expiry_is_exclusive() {
        let now = Timestamp::from_unix_millis(10_000);
        let session = Session::start(Username::random(), now, Duration::from_secs(100));
        assert!(!session.is_expired_at(Timestamp::from_unix_millis(109_999)));
        assert!(session.is_expired_at(session.expires_at()));
        let shorter = session.extended(now, Duration::from_secs(10));
        assert_eq!(shorter.expires_at(), session.expires_at());
        let later = session.extended(
            Timestamp::from_unix_millis(50_000),
            Duration::from_secs(100),
        );
        assert_eq!(later.expires_at().unix_millis(), 150_000);
        assert_eq!(later.guest.id, session.guest.id);
    }
}
