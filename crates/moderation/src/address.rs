//! [`AddressKey`]: client addresses turned into tags that can be compared but not read back.

use std::net::IpAddr;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::model::AddressTag;
use crate::{HEX_DIGITS, hex};

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
        let mut mac = self.mac.clone();
        mac.update(CanonicalText::of(address).as_bytes());
        let digest = mac.finalize().into_bytes();
        AddressTag::from_hex(hex(&digest[..16]))
    }
}

/// What a tag's HMAC is taken of: `v4:192.0.2.1`, or `v6:2001:db8:1:2::/64` (the /64 network,
/// its four groups in lower-case hex without leading zeros). Stored tags depend on these bytes
/// never changing. Written into a fixed buffer rather than `format!`ed: every session and
/// every connection tags its address.
struct CanonicalText {
    bytes: [u8; Self::CAPACITY],
    len: usize,
}

impl CanonicalText {
    /// `v6:` + four groups of up to four digits + three colons + `::/64`.
    const CAPACITY: usize = 3 + 4 * 4 + 3 + 5;

    fn of(address: IpAddr) -> Self {
        let mut text = Self {
            bytes: [0; Self::CAPACITY],
            len: 0,
        };
        match address.to_canonical() {
            IpAddr::V4(v4) => {
                text.push(b"v4:");
                for (index, octet) in v4.octets().into_iter().enumerate() {
                    if index > 0 {
                        text.push(b".");
                    }
                    text.push_digits(u16::from(octet), 10);
                }
            }
            IpAddr::V6(v6) => {
                text.push(b"v6:");
                for (index, group) in v6.segments().into_iter().take(4).enumerate() {
                    if index > 0 {
                        text.push(b":");
                    }
                    text.push_digits(group, 16);
                }
                text.push(b"::/64");
            }
        }
        text
    }

    fn push(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// `value` in `radix` (10 or 16), lower case, no leading zeros.
    fn push_digits(&mut self, value: u16, radix: u16) {
        let mut digits = [0u8; 5];
        let mut start = digits.len();
        let mut rest = value;
        loop {
            start -= 1;
            digits[start] = HEX_DIGITS[usize::from(rest % radix)];
            rest /= radix;
            if rest == 0 {
                break;
            }
        }
        self.push(&digits[start..]);
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
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
    fn the_canonical_text_is_what_stored_tags_were_made_of() {
        for (address, expected) in [
            ("192.0.2.1", "v4:192.0.2.1"),
            ("0.0.0.0", "v4:0.0.0.0"),
            ("255.255.255.255", "v4:255.255.255.255"),
            ("::ffff:10.20.3.4", "v4:10.20.3.4"),
            ("2001:db8:1:2::1", "v6:2001:db8:1:2::/64"),
            ("::", "v6:0:0:0:0::/64"),
            ("ffff:abcd:0:10::", "v6:ffff:abcd:0:10::/64"),
            ("fe80::1:2", "v6:fe80:0:0:0::/64"),
        ] {
            let text = CanonicalText::of(address.parse().expect("ip"));
            assert_eq!(std::str::from_utf8(text.as_bytes()), Ok(expected));
        }
    }

    #[test]
    fn tags_of_a_key_stay_what_they_were() {
        // Bans and reports in a store name addresses by these: they must survive upgrades.
        let key = AddressKey::new(b"pinned key");
        for (address, tag) in [
            ("192.0.2.1", "c8c1d485278d81ebc7cf64bb83b44e30"),
            ("0.0.0.0", "6203fd2a85ea42c741f231869796bde0"),
            ("255.255.255.255", "f51df12c7db46aa3c01244483ced7ddd"),
            ("10.20.3.4", "ef42e986838ecea7988e8ff5324d83f5"),
            ("2001:db8:1:2::1", "3e54b149c411d97301051fd9c655f204"),
            ("::", "8863a95aebc1d4e503bccae2a18582ad"),
            ("ffff:abcd:0:10::", "7cbb0994dbf12560e00a37f8b2d49da9"),
            ("fe80::1:2", "1856c398af6d34092c7d8259f48cdcc9"),
        ] {
            assert_eq!(key.tag(address.parse().expect("ip")).as_str(), tag);
        }
        assert_eq!(
            key.device_tag("device-1"),
            "8eb3a28754e62ac5357c3abf855cb54c"
        );
    }

    #[test]
    fn ipv6_addresses_of_one_64_network_share_a_tag() {
        let key = AddressKey::new(b"secret");
        let one = key.tag("2001:db8:1:2::1".parse().expect("ip"));
        assert_eq!(one, key.tag("2001:db8:1:2:ffff::9".parse().expect("ip")));
        assert_ne!(one, key.tag("2001:db8:1:3::1".parse().expect("ip")));
    }
}
