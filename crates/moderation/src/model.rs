//! The records a moderation store keeps.

use std::fmt;
use std::str::FromStr;

use duet_core::{BanId, GuestId, ReportId, RoomId, Timestamp};
use serde::{Deserialize, Serialize};

/// Why a guest reported its partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportReason {
    /// Advertising, links, repeated text.
    Spam,
    /// Insults, threats, unwanted advances.
    Harassment,
    /// Sexual content.
    Nudity,
    /// The partner appears to be a minor.
    Minor,
    /// Anything else (the note says what).
    Other,
}

impl ReportReason {
    /// Every reason, in the order of the protocol.
    pub const ALL: [Self; 5] = [
        Self::Spam,
        Self::Harassment,
        Self::Nudity,
        Self::Minor,
        Self::Other,
    ];

    /// The reason as it goes on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Spam => "spam",
            Self::Harassment => "harassment",
            Self::Nudity => "nudity",
            Self::Minor => "minor",
            Self::Other => "other",
        }
    }
}

impl FromStr for ReportReason {
    type Err = UnknownReason;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == text)
            .ok_or(UnknownReason)
    }
}

impl fmt::Display for ReportReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names no [`ReportReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the reason is not one of spam, harassment, nudity, minor, other")]
pub struct UnknownReason;

/// A client address as the store keeps it: an HMAC of the address with a server secret
/// ([`AddressKey`](crate::AddressKey)), never the address itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AddressTag(String);

impl AddressTag {
    /// A tag as stored or sent by an operator; `None` unless it is 32 lower-case hex digits
    /// (what [`AddressKey::tag`](crate::AddressKey::tag) makes).
    pub fn parse(text: &str) -> Option<Self> {
        let valid = text.len() == 32
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(text.to_owned()))
    }

    pub(crate) fn from_hex(hex: String) -> Self {
        Self(hex)
    }

    /// The tag's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AddressTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message the reported guest sent, kept with a report as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    /// Its text, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The name of its file, if it had one (the file itself is not kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// When it was sent.
    pub sent_at: Timestamp,
}

/// One report of a guest about its partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The report's id (the `reportId` of the reporter's ack).
    pub id: ReportId,
    /// When it was made.
    pub created_at: Timestamp,
    /// Who reported.
    pub reporter: GuestId,
    /// Who was reported.
    pub reported: GuestId,
    /// The chat it was about.
    pub room_id: RoomId,
    /// Why.
    pub reason: ReportReason,
    /// What the reporter wrote, at most 500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The reported guest's client address, as a tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_address: Option<AddressTag>,
    /// The last messages the reported guest sent in that chat, oldest first (empty unless the
    /// operator asked for evidence).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<SentMessage>,
}

/// What a ban shuts out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BanTarget {
    /// One guest (its session lives on; its token works again once the ban ends).
    GuestId(GuestId),
    /// Every guest connecting, and every session created, from one client address.
    Address(AddressTag),
}

impl BanTarget {
    /// The target as one key: `guest:<id>` or `address:<tag>`.
    pub fn key(&self) -> String {
        match self {
            Self::GuestId(guest) => format!("guest:{guest}"),
            Self::Address(tag) => format!("address:{tag}"),
        }
    }
}

/// Who made a ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BanSource {
    /// The server, after enough reports.
    Automatic,
    /// An operator, through the admin API.
    Operator,
}

/// A ban with its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ban {
    /// The ban's id.
    pub id: BanId,
    /// What it shuts out.
    pub target: BanTarget,
    /// Why, in words for operators.
    pub reason: String,
    /// Who made it.
    pub source: BanSource,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it ends by itself.
    pub expires_at: Timestamp,
}

impl Ban {
    /// A new ban of `target` from `now` for `length`.
    pub fn new(
        target: BanTarget,
        reason: impl Into<String>,
        source: BanSource,
        now: Timestamp,
        length: std::time::Duration,
    ) -> Self {
        Self {
            id: BanId::random(),
            target,
            reason: reason.into(),
            source,
            created_at: now,
            expires_at: now.saturating_add(length),
        }
    }

    /// Whether the ban still holds at `now`.
    pub fn holds_at(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }
}

/// Which reports to list, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportQuery {
    /// Only reports about this guest.
    pub reported: Option<GuestId>,
    /// How many of the newest to skip.
    pub offset: u64,
    /// How many to return at most.
    pub limit: u64,
}

/// One page of reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPage {
    /// The reports, newest first.
    pub reports: Vec<Report>,
    /// How many the query matches in all.
    pub total: u64,
}

/// What a store holds, for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModerationCounts {
    /// Reports still kept.
    pub reports: u64,
    /// Bans that hold now.
    pub active_bans: u64,
}
