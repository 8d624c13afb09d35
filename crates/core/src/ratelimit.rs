//! Per-user and per-IP fixed-window rate limiting, checked before any purchase touches the
//! database: in Redis (one atomic script, shared by every process) or in process (the zero-setup
//! default, same semantics).

pub mod breaker;
pub mod connection;
pub mod memory;
pub mod redis;
pub mod windows;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::config::{LimitSettings, UnavailablePolicy};
use crate::redact::SecretUrl;

pub use memory::MemoryLimiter;
pub use redis::RedisLimiter;
pub use windows::{WindowState, Windows};

/// Which limit refused a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    User,
    Ip,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::User => "user",
            Scope::Ip => "ip",
        })
    }
}

/// The answer of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted and counted in both windows.
    Allowed {
        user_remaining: u32,
        ip_remaining: u32,
    },
    /// Refused; nothing was counted.
    Limited {
        scope: Scope,
        limit: u32,
        retry_after: Duration,
    },
}

/// Why a check could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimiterError {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Worded by [`crate::failure::redis_sentence`]: refused, no answer, the server's reply.
    #[error("{0}")]
    Unreachable(String),
    /// A recent check failed; Redis is not asked again until a background probe answers.
    #[error("redis unreachable (circuit open, probing)")]
    CircuitOpen,
}

/// What the limiter did for one purchase, for the purchase's receipt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(
    rename_all = "kebab-case",
    rename_all_fields = "camelCase",
    tag = "status"
)]
pub enum LimitNote {
    /// Limits checked and passed.
    Checked {
        user_remaining: u32,
        ip_remaining: u32,
    },
    /// Redis could not be asked and the policy is fail-open: sold without limiting.
    FailedOpen { reason: String },
    /// Redis could not be asked and the policy is fail-closed: refused (`Busy`) unchecked.
    FailedClosed { reason: String },
    /// Limiting is switched off (bursts with `--no-rate-limit`).
    Off,
}

#[derive(Clone)]
enum Backend {
    Off,
    Memory(MemoryLimiter),
    Redis(RedisLimiter),
}

/// The limiter every purchase goes through. Clones share the windows (and Redis's breaker).
#[derive(Clone)]
pub struct RateLimiter {
    backend: Backend,
    settings: LimitSettings,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("policy", &self.describe())
            .finish()
    }
}

impl RateLimiter {
    /// Redis when a URL is given (connecting lazily, so a Redis that is down does not stop us
    /// from starting), otherwise the in-process limiter.
    pub fn new(
        settings: LimitSettings,
        redis_url: Option<&SecretUrl>,
    ) -> Result<Self, LimiterError> {
        let backend = match redis_url {
            Some(url) => Backend::Redis(RedisLimiter::new(url, &settings)?),
            None => Backend::Memory(MemoryLimiter::new()),
        };
        Ok(Self { backend, settings })
    }

    /// A limiter that admits everything.
    pub fn off() -> Self {
        Self {
            backend: Backend::Off,
            settings: LimitSettings::default(),
        }
    }

    pub fn settings(&self) -> &LimitSettings {
        &self.settings
    }

    pub fn is_off(&self) -> bool {
        matches!(self.backend, Backend::Off)
    }

    /// The Redis limiter, when that is the backend (for health checks and samplers).
    /// Whether limits are counted in this process only (no Redis): another process, or the
    /// next `flashsale buy`, starts with full limits.
    pub fn is_in_process(&self) -> bool {
        matches!(self.backend, Backend::Memory(_))
    }

    pub fn redis(&self) -> Option<&RedisLimiter> {
        match &self.backend {
            Backend::Redis(r) => Some(r),
            _ => None,
        }
    }

    /// `user`'s window and `ip`'s as the limiter holds them (Redis, or this process's map),
    /// counting nothing; `None` when limiting is off.
    pub async fn windows(
        &self,
        user: &str,
        ip: Option<IpAddr>,
    ) -> Result<Option<Windows>, LimiterError> {
        match &self.backend {
            Backend::Off => Ok(None),
            Backend::Memory(m) => Ok(Some(m.windows(user, ip, &self.settings))),
            Backend::Redis(r) => r.windows(user, ip, &self.settings).await.map(Some),
        }
    }

    /// Deletes the windows `keys` name ([`Windows::open_keys`]); how many were open.
    pub async fn delete_windows(&self, keys: &[String]) -> Result<u64, LimiterError> {
        match &self.backend {
            Backend::Off => Ok(0),
            Backend::Memory(m) => Ok(m.delete_windows(keys)),
            Backend::Redis(r) => r.delete_windows(keys).await,
        }
    }

    /// Checks and counts one purchase attempt.
    pub async fn check(&self, user: &str, ip: IpAddr) -> Result<Verdict, LimiterError> {
        match &self.backend {
            Backend::Off => Ok(Verdict::Allowed {
                user_remaining: u32::MAX,
                ip_remaining: u32::MAX,
            }),
            Backend::Memory(m) => Ok(m.check(user, ip, &self.settings)),
            Backend::Redis(r) => r.check(user, ip, &self.settings).await,
        }
    }

    /// Gives back the attempt a check counted for `user` and `ip` (the check admitted a
    /// request later found to be the replay of an earlier one, which costs no budget). Best
    /// effort, never below zero; nothing to do when limiting is off.
    pub async fn give_back(&self, user: &str, ip: IpAddr) {
        match &self.backend {
            Backend::Off => {}
            Backend::Memory(m) => m.give_back(user, ip, &self.settings),
            Backend::Redis(r) => r.give_back(user, ip, &self.settings).await,
        }
    }

    /// What to do when a check could not be made.
    pub fn on_unavailable(&self) -> UnavailablePolicy {
        self.settings.on_unavailable
    }

    /// One line for the dashboard and `--help`-style output.
    pub fn describe(&self) -> String {
        let s = &self.settings;
        let window = format_window(s.window);
        match &self.backend {
            Backend::Off => "off".to_string(),
            Backend::Memory(_) => format!(
                "{} per user, {} per IP per {window} (in-process limiter)",
                s.user_max, s.ip_max
            ),
            Backend::Redis(_) => format!(
                "{} per user, {} per IP per {window} (redis, {} when down, timeout {} ms)",
                s.user_max,
                s.ip_max,
                s.on_unavailable,
                s.redis_timeout.as_millis()
            ),
        }
    }
}

fn format_window(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) {
        format!("{} min", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// The key of a user's window, as the reference system names it.
pub fn user_key(prefix: &str, user: &str) -> String {
    format!("{prefix}rate_limit:user:{user}")
}

/// The key of an IP's window, as the reference system names it; an IPv6 client's window is
/// its network's ([`ip_bucket`]).
pub fn ip_key(prefix: &str, ip: IpAddr, ipv6_prefix: u8) -> String {
    format!("{prefix}rate_limit:ip:{}", ip_bucket(ip, ipv6_prefix))
}

/// What one per-IP window counts: an IPv4 address as it is; an IPv6 address as its network of
/// `ipv6_prefix` bits (`2001:db8:1:2::/64`), since whoever is given a /64 can send every
/// request from an address of its own. An IPv4-mapped IPv6 address is its IPv4 address.
pub fn ip_bucket(ip: IpAddr, ipv6_prefix: u8) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) if ipv6_prefix >= 128 => v6.to_string(),
        IpAddr::V6(v6) => {
            let bits = u32::from(ipv6_prefix.max(1));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            let net = std::net::Ipv6Addr::from(u128::from(v6) & mask);
            format!("{net}/{bits}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_reference_names() {
        let ip: IpAddr = "10.0.0.7".parse().expect("ip");
        assert_eq!(user_key("", "alice"), "rate_limit:user:alice");
        assert_eq!(ip_key("", ip, 64), "rate_limit:ip:10.0.0.7");
        assert_eq!(user_key("t1:", "bob"), "t1:rate_limit:user:bob");
    }

    #[test]
    fn ipv6_addresses_count_per_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(ip_bucket(a, 64), "2001:db8:1:2::/64");
        assert_eq!(ip_bucket(a, 64), ip_bucket(b, 64));
        assert_ne!(ip_bucket(a, 64), ip_bucket(c, 64));
        assert_eq!(ip_bucket(a, 48), ip_bucket(c, 48));
        assert_eq!(ip_bucket(a, 128), "2001:db8:1:2:aaaa::1");
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().expect("ip");
        assert_eq!(ip_bucket(mapped, 64), "10.0.0.7");
    }

    #[test]
    fn policy_is_described_in_words() {
        let l = RateLimiter::new(LimitSettings::default(), None).expect("memory");
        assert_eq!(
            l.describe(),
            "5 per user, 10 per IP per 1 min (in-process limiter)"
        );
    }
}
