//! Who the client is: the TCP peer, or, behind reverse proxies the operator
//! said to trust (`trusted_proxies`), the right-most `X-Forwarded-For` hop that
//! no trusted proxy added.
//!
//! Each proxy appends the address it received the request from, so the list
//! reads left to right from the client towards us, and only its right end is
//! written by proxies we trust. The left-most entry is whatever the client
//! sent: never trusted. Without `trusted_proxies` the header is ignored.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Which reverse proxies in front of the service are trusted.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub enum TrustedProxies {
    /// None: the peer is the client; `X-Forwarded-For` is ignored.
    #[default]
    None,
    /// This many proxy hops: the client is the entry this many places from
    /// the right of the header (the peer being the last proxy).
    Hops(u32),
    /// Proxies on these networks: walking from the peer leftwards through the
    /// header, the first address on none of them is the client.
    Networks(Vec<IpNet>),
}

impl TrustedProxies {
    /// The client address of a request from `peer` carrying `headers`.
    pub(crate) fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let hops = || forwarded_for(headers);
        match self {
            Self::None => peer,
            Self::Hops(0) => peer,
            Self::Hops(n) => {
                let hops = hops();
                // Fewer entries than proxies: someone reached us past a proxy,
                // or a proxy did not append; fall back to the peer (safe: it
                // can only group clients together, never split one).
                let from_right = usize::try_from(*n).unwrap_or(usize::MAX);
                match hops.len().checked_sub(from_right) {
                    Some(index) => hops.get(index).copied().flatten().unwrap_or(peer),
                    None => peer,
                }
            }
            Self::Networks(networks) => {
                let trusted = |ip: &IpAddr| networks.iter().any(|net| net.contains(ip));
                if !trusted(&peer) {
                    return peer;
                }
                let mut client = peer;
                for hop in hops().into_iter().rev() {
                    match hop {
                        Some(ip) if trusted(&ip) => client = ip,
                        Some(ip) => return ip,
                        // An entry that is not an address ends the trusted part.
                        None => return client,
                    }
                }
                client
            }
        }
    }
}

/// The entries of every `X-Forwarded-For` header, in order; `None` for an
/// entry that is not an IP address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("").split(','))
        .map(|entry| parse_hop(entry.trim()))
        .collect()
}

/// An address as proxies write it: `1.2.3.4`, `2001:db8::1`, `[2001:db8::1]`,
/// optionally with a port (`1.2.3.4:5678`, `[2001:db8::1]:5678`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = entry.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    const PEER: &str = "10.0.0.5";

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let h = headers(&["203.0.113.9"]);
        assert_eq!(TrustedProxies::None.client_ip(ip(PEER), &h), ip(PEER));
        assert_eq!(TrustedProxies::Hops(0).client_ip(ip(PEER), &h), ip(PEER));
    }

    #[test]
    fn hops_take_the_rightmost_untrusted_entry_never_the_leftmost() {
        // The client wrote "6.6.6.6" itself; one proxy appended the real address.
        let h = headers(&["6.6.6.6, 198.51.100.7"]);
        assert_eq!(
            TrustedProxies::Hops(1).client_ip(ip(PEER), &h),
            ip("198.51.100.7")
        );
        // Two proxies: the outer one appended the client, the inner one the outer proxy.
        let h = headers(&["6.6.6.6, 198.51.100.7", "10.0.0.9"]);
        assert_eq!(
            TrustedProxies::Hops(2).client_ip(ip(PEER), &h),
            ip("198.51.100.7")
        );
        // Fewer entries than hops: the peer.
        assert_eq!(
            TrustedProxies::Hops(3).client_ip(ip(PEER), &headers(&["198.51.100.7"])),
            ip(PEER)
        );
        assert_eq!(
            TrustedProxies::Hops(1).client_ip(ip(PEER), &HeaderMap::new()),
            ip(PEER)
        );
        // A garbage entry where the client should be: the peer.
        assert_eq!(
            TrustedProxies::Hops(1).client_ip(ip(PEER), &headers(&["1.2.3.4, nonsense"])),
            ip(PEER)
        );
    }

    #[test]
    fn networks_walk_leftwards_past_trusted_proxies() {
        let trusted = TrustedProxies::Networks(vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8:ffff::/48".parse().unwrap(),
        ]);
        let h = headers(&["6.6.6.6, 198.51.100.7, 10.1.1.1"]);
        assert_eq!(trusted.client_ip(ip(PEER), &h), ip("198.51.100.7"));
        // A peer that is not a trusted proxy is the client, whatever it says.
        assert_eq!(trusted.client_ip(ip("192.0.2.1"), &h), ip("192.0.2.1"));
        // Every hop trusted: the left-most one.
        let h = headers(&["10.2.2.2, 10.1.1.1"]);
        assert_eq!(trusted.client_ip(ip(PEER), &h), ip("10.2.2.2"));
        // IPv6, bracketed with a port.
        let h = headers(&["[2001:db8::42]:5555, 2001:db8:ffff::1"]);
        assert_eq!(
            trusted.client_ip(ip("2001:db8:ffff::2"), &h),
            ip("2001:db8::42")
        );
    }

    #[test]
    fn hops_are_read_with_or_without_ports() {
        assert_eq!(parse_hop("1.2.3.4"), Some(ip("1.2.3.4")));
        assert_eq!(parse_hop("1.2.3.4:80"), Some(ip("1.2.3.4")));
        assert_eq!(parse_hop("[::1]:80"), Some(ip("::1")));
        assert_eq!(parse_hop("::1"), Some(ip("::1")));
        assert_eq!(parse_hop("unknown"), None);
        assert_eq!(parse_hop("1.2.3.4:port"), None);
    }
}
