//! [`TrustedProxies`]: which client address a request is counted against.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` entries are believed (`DUET_TRUSTED_PROXIES`).
///
/// A proxy appends the address it received a request from to `X-Forwarded-For`, so the entries
/// to the left of the last proxy are whatever the client wrote itself. The client is therefore
/// the rightmost entry that is not a trusted proxy, and only when the request came from a
/// trusted proxy at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

impl Default for TrustedProxies {
    /// Loopback and private networks (`127.0.0.0/8`, `10.0.0.0/8`, `172.16.0.0/12`,
    /// `192.168.0.0/16`, `::1/128`, `fc00::/7`): where a load balancer in front of Duet usually
    /// is.
    fn default() -> Self {
        Self::parse(DEFAULT_TRUSTED_PROXIES).unwrap_or(Self {
            networks: Vec::new(),
        })
    }
}

/// [`TrustedProxies::default`], as a list.
pub const DEFAULT_TRUSTED_PROXIES: &str =
    "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,::1/128,fc00::/7";

impl TrustedProxies {
    /// Reads a comma-separated list of networks (`10.0.0.0/8`) or single addresses
    /// (`192.0.2.7`); an empty list trusts nobody. Names the first entry it cannot read.
    pub fn parse(list: &str) -> Result<Self, String> {
        let networks = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not a network (10.0.0.0/8) or an address"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { networks })
    }

    /// Whether `address` is one of these proxies.
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.networks
            .iter()
            .any(|network| network.contains(&address))
    }

    /// The client's address: the TCP `peer`, unless the peer is a trusted proxy, in which case
    /// the rightmost `X-Forwarded-For` entry that is not a trusted proxy (the leftmost entry
    /// when all are). An entry that is not an address ends the walk: what stands left of it
    /// cannot be told apart from what the client wrote.
    pub fn client_ip(&self, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
        let peer = peer.ip();
        if !self.trusts(peer) {
            return peer;
        }
        let entries = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for entry in entries.iter().rev() {
            let Some(address) = parse_entry(entry) else {
                break;
            };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, maybe with a port (`192.0.2.1:443`, `[2001:db8::1]:443`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = value.parse() {
            headers.insert("x-forwarded-for", value);
        }
        headers
    }

    fn peer(text: &str) -> SocketAddr {
        SocketAddr::new(text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])), 1)
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let proxies = TrustedProxies::default();
        let lb = peer("10.0.0.5");
        // The client wrote the first entry itself; the load balancer appended the real one.
        let spoofed = forwarded("6.6.6.6, 203.0.113.9");
        assert_eq!(
            proxies.client_ip(&spoofed, lb),
            "203.0.113.9".parse::<IpAddr>().unwrap_or(lb.ip())
        );
        // Two proxies in a row: both skipped.
        let chain = forwarded("6.6.6.6, 203.0.113.9, 10.0.0.7");
        assert_eq!(proxies.client_ip(&chain, lb).to_string(), "203.0.113.9");
        // Ports and bracketed IPv6 are read.
        let ported = forwarded("[2001:db8::1]:443");
        assert_eq!(proxies.client_ip(&ported, lb).to_string(), "2001:db8::1");
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = TrustedProxies::default();
        let direct = peer("198.51.100.2");
        assert_eq!(
            proxies.client_ip(&forwarded("1.2.3.4"), direct),
            direct.ip()
        );
        let nobody = TrustedProxies::parse("").unwrap_or_default();
        let lb = peer("10.0.0.5");
        assert_eq!(nobody.client_ip(&forwarded("1.2.3.4"), lb), lb.ip());
    }

    #[test]
    fn junk_stops_the_walk_and_lists_are_checked() {
        let proxies = TrustedProxies::default();
        let lb = peer("127.0.0.1");
        assert_eq!(proxies.client_ip(&forwarded("1.2.3.4, junk"), lb), lb.ip());
        assert_eq!(proxies.client_ip(&HeaderMap::new(), lb), lb.ip());
        assert!(TrustedProxies::parse("10.0.0.0/8, 192.0.2.7").is_ok());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("a proxy").is_err());
        // IPv4 peers seen as IPv6-mapped addresses are matched as IPv4.
        let mapped = peer("::ffff:10.0.0.5");
        assert_eq!(
            proxies
                .client_ip(&forwarded("203.0.113.9"), mapped)
                .to_string(),
            "203.0.113.9"
        );
    }
}
