//! The Redis limiter: one Lua script checks and counts both windows atomically, in one round
//! trip; every call is bounded by the configured timeout.

use std::net::IpAddr;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::breaker::Breaker;
use super::{LimiterError, Scope, Verdict, ip_key, user_key};
use crate::config::LimitSettings;
use crate::redact::SecretUrl;

const SCRIPT: &str = include_str!("limit.lua");

/// A rate limiter backed by Redis.
pub struct RedisLimiter {
    manager: ConnectionManager,
    script: redis::Script,
    url: SecretUrl,
    timeout: Duration,
    breaker: Breaker,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("url", &self.url)
            .finish()
    }
}

/// A connection manager that connects lazily, reconnects by itself, and never waits on the
/// network longer than `timeout`. Shared by the limiter and the dashboard's Redis sampler.
pub fn manager(url: &SecretUrl, timeout: Duration) -> Result<ConnectionManager, LimiterError> {
    let client = redis::Client::open(url.expose())
        .map_err(|e| LimiterError::Unreachable(format!("invalid Redis URL ({:?})", e.kind())))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        // Few, quick reconnect attempts: callers time out anyway and the next call retries.
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config)
        .map_err(|e| LimiterError::Unreachable(describe(&e)))
}

/// A Redis error in words that cannot carry a password ([`crate::failure::redis_sentence`]).
pub fn describe(e: &redis::RedisError) -> String {
    crate::failure::redis_sentence(e)
}

impl RedisLimiter {
    pub fn new(url: &SecretUrl, settings: &LimitSettings) -> Result<Self, LimiterError> {
        Ok(Self {
            manager: manager(url, settings.redis_timeout)?,
            script: redis::Script::new(SCRIPT),
            url: url.clone(),
            timeout: settings.redis_timeout,
            breaker: Breaker::default(),
        })
    }

    /// The (masked) URL.
    pub fn url(&self) -> &SecretUrl {
        &self.url
    }

    /// The bound on each call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A handle on the shared connection.
    pub fn connection(&self) -> ConnectionManager {
        self.manager.clone()
    }

    /// Whether checks are skipping Redis until a probe answers.
    pub fn circuit_open(&self) -> bool {
        self.breaker.is_open()
    }

    /// One check: at once [`LimiterError::CircuitOpen`] while the breaker is open; otherwise
    /// the script, and a failure opens the breaker.
    pub(super) async fn check(
        &self,
        user: &str,
        ip: IpAddr,
        s: &LimitSettings,
    ) -> Result<Verdict, LimiterError> {
        self.breaker.admit()?;
        let verdict = self.check_redis(user, ip, s).await;
        if let Err(e) = &verdict {
            self.breaker.trip(e, self.manager.clone(), self.timeout);
        }
        verdict
    }

    async fn check_redis(
        &self,
        user: &str,
        ip: IpAddr,
        s: &LimitSettings,
    ) -> Result<Verdict, LimiterError> {
        let mut conn = self.manager.clone();
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(user_key(&s.key_prefix, user))
            .key(ip_key(&s.key_prefix, ip, s.ipv6_prefix))
            .arg(s.user_max)
            .arg(s.ip_max)
            .arg(u64::try_from(s.window.as_millis()).unwrap_or(u64::MAX));
        let reply: Vec<i64> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut conn))
                .await
                .map_err(|_| LimiterError::Timeout(self.timeout))?
                .map_err(|e| LimiterError::Unreachable(describe(&e)))?;
        parse_reply(&reply, s)
    }
}

fn parse_reply(reply: &[i64], s: &LimitSettings) -> Result<Verdict, LimiterError> {
    let bad =
        || LimiterError::Unreachable("Redis: unexpected reply from the rate-limit script".into());
    let code = *reply.first().ok_or_else(bad)?;
    let at = |i: usize| reply.get(i).copied().ok_or_else(bad);
    let remaining = |count: i64, max: u32| u32::try_from(i64::from(max) - count).unwrap_or(0);
    match code {
        0 => Ok(Verdict::Allowed {
            user_remaining: remaining(at(1)?, s.user_max),
            ip_remaining: remaining(at(2)?, s.ip_max),
        }),
        1 | 2 => Ok(Verdict::Limited {
            scope: if code == 1 { Scope::User } else { Scope::Ip },
            limit: u32::try_from(at(2)?).unwrap_or(u32::MAX),
            retry_after: Duration::from_millis(u64::try_from(at(3)?).unwrap_or(0)),
        }),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse() {
        let s = LimitSettings::default();
        assert_eq!(
            parse_reply(&[0, 2, 7, 59_000, 59_000], &s),
            Ok(Verdict::Allowed {
                user_remaining: 3,
                ip_remaining: 3
            })
        );
        assert_eq!(
            parse_reply(&[2, 10, 10, 1_500, 0], &s),
            Ok(Verdict::Limited {
                scope: Scope::Ip,
                limit: 10,
                retry_after: Duration::from_millis(1_500)
            })
        );
        assert!(parse_reply(&[], &s).is_err());
        assert!(parse_reply(&[7, 0, 0, 0, 0], &s).is_err());
    }
}
