//! IP networks for the `TRUSTED_PROXIES` list: single addresses and CIDR blocks, IPv4 and IPv6,
//! compared after unmapping IPv4-mapped IPv6 addresses (a dual-stack socket reports a v4 peer
//! as `::ffff:a.b.c.d`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address block: `10.0.0.0/8`, `::1/128`, or a single address (a full-length prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` lies in this block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = addr
            .parse::<IpAddr>()
            .map_err(|_| format!("'{s}' is not an IP address or CIDR block"))?
            .to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}': prefix length must be 0 to {max}"))?,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The reverse proxies whose `X-Forwarded-For` we believe. Empty: none, so the socket's peer
/// address is always the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }
}

impl FromStr for TrustedProxies {
    type Err = String;
    /// A comma- or space-separated list.
    fn from_str(s: &str) -> Result<Self, String> {
        s.split([',', ' '])
            .filter(|p| !p.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let parts: Vec<String> = self.0.iter().map(IpNet::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn cidr_blocks_contain_their_addresses_only() {
        let net: IpNet = "10.1.0.0/16".parse().expect("net");
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(!net.contains(ip("::1")));
        let all: IpNet = "0.0.0.0/0".parse().expect("net");
        assert!(all.contains(ip("203.0.113.9")));
        let v6: IpNet = "fd00::/8".parse().expect("net");
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
    }

    #[test]
    fn single_addresses_match_exactly_even_when_mapped() {
        let net: IpNet = "127.0.0.1".parse().expect("net");
        assert!(net.contains(ip("127.0.0.1")));
        assert!(net.contains(ip("::ffff:127.0.0.1")));
        assert!(!net.contains(ip("127.0.0.2")));
    }

    #[test]
    fn lists_parse_and_bad_entries_are_named() {
        let list: TrustedProxies = "127.0.0.1, 10.0.0.0/8,::1".parse().expect("list");
        assert!(list.contains(ip("10.9.9.9")));
        assert!(list.contains(ip("::1")));
        assert!(!list.contains(ip("192.0.2.1")));
        assert_eq!(list.to_string(), "127.0.0.1/32,10.0.0.0/8,::1/128");
        let err = "10.0.0.0/33".parse::<TrustedProxies>().expect_err("prefix");
        assert!(err.contains("0 to 32"), "{err}");
        let err = "proxy.local".parse::<TrustedProxies>().expect_err("name");
        assert!(err.contains("proxy.local"), "{err}");
        assert!("".parse::<TrustedProxies>().expect("empty").is_empty());
    }
}
