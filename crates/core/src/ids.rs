//! Opaque identifiers. The server makes them from random UUIDs; clients must not parse them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            /// The id's UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Who a guest is: the `sub` of its tokens and the `id` of a guest (`duet_auth::Guest`).
    GuestId
);
uuid_id!(
    /// One guest session: the `sid` of its tokens. Deleting the session revokes every token
    /// issued for it.
    SessionId
);
uuid_id!(
    /// One chat between two guests: the `roomId` of the protocol.
    RoomId
);
uuid_id!(
    /// One report a guest made about its partner.
    ReportId
);
uuid_id!(
    /// One ban of a guest or of a client address.
    BanId
);

/// Separates a node's name from its incarnation.
const INCARNATION_SEPARATOR: char = '@';

/// A node of a Duet cluster (one `duet-server` process), named by `DUET_NODE_ID` or at random.
///
/// A running process uses its name with an incarnation of its own
/// ([`NodeId::new_incarnation`], `name@3f2a9c1e`), so a process started again under the same
/// name never mistakes the records of the one before it for its own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(String);

impl NodeId {
    /// The longest node name, in bytes.
    pub const MAX_BYTES: usize = 128;

    /// A node id from an operator-chosen name, or from a stored id (`name@incarnation`).
    /// Returns `None` for an empty name, one over [`NodeId::MAX_BYTES`], one with white space,
    /// control characters or `|` (a separator in stored values), or more than one `@`.
    pub fn new(name: &str) -> Option<Self> {
        let valid = !name.is_empty()
            && name.len() <= Self::MAX_BYTES
            && name.matches(INCARNATION_SEPARATOR).count() <= 1
            && !name.starts_with(INCARNATION_SEPARATOR)
            && !name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '|');
        valid.then(|| Self(name.to_owned()))
    }

    /// This node's name with a fresh random incarnation: what one process uses while it runs.
    pub fn new_incarnation(&self) -> Self {
        let uuid = Uuid::new_v4().simple().to_string();
        Self(format!(
            "{}{INCARNATION_SEPARATOR}{}",
            self.name(),
            &uuid[..8]
        ))
    }

    /// The name without its incarnation.
    pub fn name(&self) -> &str {
        self.0
            .split_once(INCARNATION_SEPARATOR)
            .map_or(&self.0, |(name, _)| name)
    }

    /// Whether `other` is another incarnation of the same name.
    pub fn is_earlier_incarnation_of(&self, other: &NodeId) -> bool {
        self != other && self.name() == other.name()
    }

    /// A random node id such as `node-3f2a9c1e`.
    pub fn random() -> Self {
        let uuid = Uuid::new_v4().simple().to_string();
        Self(format!("node-{}", &uuid[..8]))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_json() {
        let id = GuestId::random();
        assert_eq!(id.to_string().parse::<GuestId>().ok(), Some(id));
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, format!("\"{id}\""));
        assert!("not-a-uuid".parse::<SessionId>().is_err());
    }

    #[test]
    fn node_names_are_checked() {
        assert_eq!(
            NodeId::new("one").map(|n| n.to_string()),
            Some("one".into())
        );
        for bad in ["", "a b", "a|b", "tab\t", &"x".repeat(129)] {
            assert_eq!(NodeId::new(bad), None, "{bad:?}");
        }
        assert!(NodeId::random().as_str().starts_with("node-"));
        for bad in ["a@b@c", "@x"] {
            assert_eq!(NodeId::new(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn incarnations_share_the_name_and_differ() {
        let name = NodeId::new("one").unwrap_or_else(NodeId::random);
        let (first, second) = (name.new_incarnation(), name.new_incarnation());
        assert_ne!(first, second);
        assert_eq!((first.name(), second.name()), ("one", "one"));
        assert_eq!(
            NodeId::new(first.as_str()),
            Some(first.clone()),
            "stored ids read back"
        );
        assert!(first.is_earlier_incarnation_of(&second));
        assert!(!first.is_earlier_incarnation_of(&first));
        let other = NodeId::new("two")
            .unwrap_or_else(NodeId::random)
            .new_incarnation();
        assert!(!first.is_earlier_incarnation_of(&other));
        assert_eq!(first.new_incarnation().name(), "one");
    }
}
