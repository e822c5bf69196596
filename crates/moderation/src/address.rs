//! [`AddressKey`]: client addresses turned into tags that can be compared but not read back.

use std::net::IpAddr;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::hex;
use crate::model::AddressTag;

/// The secret that turns client addresses into [`AddressTag`]s: an HMAC-SHA-256 of the address,
/// so reports and bans can name an address without the store (or its backups, or logs) ever
/// holding one. Every node of a cluster needs the same key.
///
/// IPv6 addresses are tagged by their /64 network, the block one subscriber normally holds
/// (a ban of one IPv6 address is escaped by taking the next one); IPv4-mapped IPv6 addresses
/// count as the IPv4 address.
#[derive(Clone)]
pub struct AddressKey {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for AddressKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressKey(..)")
    }
}

impl AddressKey {
    /// A key from a secret of any length (HMAC accepts all).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            mac: Hmac::new_from_slice(secret)
                .unwrap_or_else(|_| unreachable!("HMAC takes any key")),
        }
    }

    /// The tag of a client's own device id (the web demo keeps one per browser), so a store
    /// can group a device's guests without holding the id: 32 hex digits, never equal to an
    /// address's tag.
    pub fn device_tag(&self, device_id: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(b"device:");
        mac.update(device_id.as_bytes());
        hex(&mac.finalize().into_bytes()[..16])
    }

    /// The tag of `address`: 32 hex digits (128 bits of the HMAC).
    pub fn tag(&self, address: IpAddr) -> AddressTag {
        let canonical = match address.to_canonical() {
            IpAddr::V4(v4) => format!("v4:{v4}"),
            IpAddr::V6(v6) => {
                let [a, b, c, d, ..] = v6.segments();
                format!("v6:{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        };
        let mut mac = self.mac.clone();
        mac.update(canonical.as_bytes());
        let digest = mac.finalize().into_bytes();
        AddressTag::from_hex(hex(&digest[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_depend_on_the_key_and_the_address_and_hide_both() {
        let key = AddressKey::new(b"secret");
        let a = key.tag("192.0.2.1".parse().expect("ip"));
        assert_eq!(a, key.tag("192.0.2.1".parse().expect("ip")));
        assert_ne!(a, key.tag("192.0.2.2".parse().expect("ip")));
        assert_ne!(
            a,
            AddressKey::new(b"other").tag("192.0.2.1".parse().expect("ip"))
        );
        assert!(!a.as_str().contains("192"));
        assert_eq!(AddressTag::parse(a.as_str()), Some(a.clone()));
        // The IPv4-mapped form is the same client.
        assert_eq!(a, key.tag("::ffff:192.0.2.1".parse().expect("ip")));
    }

    #[test]
    fn ipv6_addresses_of_one_64_network_share_a_tag() {
        let key = AddressKey::new(b"secret");
        let one = key.tag("2001:db8:1:2::1".parse().expect("ip"));
        assert_eq!(one, key.tag("2001:db8:1:2:ffff::9".parse().expect("ip")));
        assert_ne!(one, key.tag("2001:db8:1:3::1".parse().expect("ip")));
    }
}
