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

/// A node of a Duet cluster (one `duet-server` process), named by `DUET_NODE_ID` or at random.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(String);

impl NodeId {
    /// The longest node name, in bytes.
    pub const MAX_BYTES: usize = 128;

    /// A node id from an operator-chosen name. Returns `None` for an empty name, one over
    /// [`NodeId::MAX_BYTES`], or one with white space, control characters or `|` (a separator
    /// in stored values).
    pub fn new(name: &str) -> Option<Self> {
        let valid = !name.is_empty()
            && name.len() <= Self::MAX_BYTES
            && !name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '|');
        valid.then(|| Self(name.to_owned()))
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
    }
}
