//! Which address a request counts against for the per-IP limit: the socket's peer, unless the
//! peer is a trusted proxy; only then `X-Forwarded-For`, read from the right, skipping trusted
//! hops. The leftmost entries are whatever the client wrote and are never believed on their own.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use flashsale_api::FORWARDED_FOR;
use flashsale_core::config::TrustedProxies;

/// The client address for rate limiting.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut current = peer.to_canonical();
    if !trusted.contains(current) {
        return current;
    }
    let mut hops: Vec<&str> = Vec::new();
    for value in headers.get_all(FORWARDED_FOR) {
        let Ok(text) = value.to_str() else {
            // Not text: nothing in it can be believed; the proxy itself is the client.
            return current;
        };
        hops.extend(text.split(',').map(str::trim).filter(|h| !h.is_empty()));
    }
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if trusted.contains(ip) => current = ip,
            Some(ip) => return ip,
            // Garbage where an address should be: stop at the last hop we could vouch for.
            None => return current,
        }
    }
    current
}

/// An address, possibly with a port (`203.0.113.5:4711`, `[2001:db8::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append(FORWARDED_FOR, v.parse().expect("header"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_forward() {
        let none = TrustedProxies::default();
        assert_eq!(
            client_ip(ip("198.51.100.7"), &headers(&["1.2.3.4"]), &none),
            ip("198.51.100.7")
        );
        let lo: TrustedProxies = "127.0.0.1".parse().expect("list");
        assert_eq!(
            client_ip(ip("198.51.100.7"), &headers(&["1.2.3.4"]), &lo),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn trusted_peers_give_the_rightmost_untrusted_hop() {
        let t: TrustedProxies = "127.0.0.1,10.0.0.0/8".parse().expect("list");
        // The client forged the first entry; our proxies appended the real one.
        let h = headers(&["6.6.6.6, 203.0.113.9", "10.1.1.1"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("203.0.113.9"));
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &headers(&["203.0.113.9:5555"]), &t),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers(&["[2001:db8::1]:80"]), &t),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn without_a_usable_header_the_trusted_peer_is_the_client() {
        let t: TrustedProxies = "127.0.0.1,10.0.0.0/8".parse().expect("list");
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers(&[]), &t),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_ip(
                ip("127.0.0.1"),
                &headers(&["1.1.1.1, garbage, 10.0.0.5"]),
                &t
            ),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers(&["10.0.0.9"]), &t),
            ip("10.0.0.9"),
            "all hops trusted: the leftmost trusted one"
        );
    }
}
