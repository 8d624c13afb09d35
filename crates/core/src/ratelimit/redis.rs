//! The Redis limiter: one Lua script checks and counts both windows atomically, in one round
//! trip; every call is bounded by the configured timeout. On a Redis Cluster the two keys live
//! on different nodes, so each window is checked and counted by its own script, both sent at
//! once (still one round trip of waiting); when one refuses, the other's count is given back.
//! No more than the limits is ever admitted; for the moment between a count and its release a
//! concurrent request can be refused that the single-node script would have admitted.

use std::net::IpAddr;
use std::time::Duration;

use super::breaker::Breaker;
use super::connection::{self, RedisConn};
use super::{LimiterError, Scope, Verdict, ip_key, user_key};
use crate::config::LimitSettings;
use crate::redact::SecretUrl;

const SCRIPT: &str = concat!(include_str!("ttl_of.lua"), include_str!("limit.lua"));
const ONE_WINDOW: &str = concat!(include_str!("ttl_of.lua"), include_str!("limit_one.lua"));
/// Gives back one count of a window (never below zero; `DECR` keeps the expiry).
const RELEASE: &str = "local c = tonumber(redis.call('GET', KEYS[1]) or '0') \
    if c > 0 then return redis.call('DECR', KEYS[1]) end return 0";

/// A rate limiter backed by Redis. Clones share the connection and the breaker.
#[derive(Clone)]
pub struct RedisLimiter {
    conn: RedisConn,
    script: redis::Script,
    one_window: redis::Script,
    release: redis::Script,
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

/// A lazy, self-reconnecting handle on the Redis server or cluster `url` names, never waiting
/// on the network longer than `timeout`. Shared by the limiter and the dashboard's sampler.
pub fn manager(url: &SecretUrl, timeout: Duration) -> Result<RedisConn, LimiterError> {
    connection::connect(url, timeout)
}

/// A Redis error in words that cannot carry a password ([`crate::failure::redis_sentence`]).
pub fn describe(e: &redis::RedisError) -> String {
    crate::failure::redis_sentence(e)
}

/// One window's answer on a cluster: counted or not, its count and its remaining time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    counted: bool,
    count: i64,
    ttl_ms: i64,
}

impl RedisLimiter {
    pub fn new(url: &SecretUrl, settings: &LimitSettings) -> Result<Self, LimiterError> {
        Ok(Self {
            conn: manager(url, settings.redis_timeout)?,
            script: redis::Script::new(SCRIPT),
            one_window: redis::Script::new(ONE_WINDOW),
            release: redis::Script::new(RELEASE),
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
    pub fn connection(&self) -> RedisConn {
        self.conn.clone()
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
            self.breaker.trip(e, self.conn.clone(), self.timeout);
        }
        verdict
    }

    /// Gives back one count of `user`'s window and `ip`'s (see [`super::RateLimiter::give_back`]):
    /// each key by its own call, both at once (on a cluster they live on different nodes),
    /// bounded by the timeout. Best effort: a count not given back expires with its window.
    pub(super) async fn give_back(&self, user: &str, ip: IpAddr, s: &LimitSettings) {
        if self.breaker.is_open() {
            return;
        }
        let release = |key: String| {
            let mut conn = self.conn.clone();
            let script = &self.release;
            async move {
                let invocation = script.key(key);
                let call = invocation.invoke_async::<i64>(&mut conn);
                let failure = match tokio::time::timeout(self.timeout, call).await {
                    Ok(Ok(_)) => return,
                    Ok(Err(e)) => describe(&e),
                    Err(_) => format!("no answer within {:?}", self.timeout),
                };
                tracing::debug!(error = %failure, "rate-limit count not given back");
            }
        };
        tokio::join!(
            release(user_key(&s.key_prefix, user)),
            release(ip_key(&s.key_prefix, ip, s.ipv6_prefix)),
        );
    }

    async fn check_redis(
        &self,
        user: &str,
        ip: IpAddr,
        s: &LimitSettings,
    ) -> Result<Verdict, LimiterError> {
        if self.conn.is_cluster() {
            return tokio::time::timeout(self.timeout, self.cluster_check(user, ip, s))
                .await
                .map_err(|_| LimiterError::Timeout(self.timeout))?;
        }
        let mut conn = self.conn.clone();
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

impl RedisLimiter {
    /// Both windows at once on a cluster (see the module).
    async fn cluster_check(
        &self,
        user: &str,
        ip: IpAddr,
        s: &LimitSettings,
    ) -> Result<Verdict, LimiterError> {
        let window_ms = u64::try_from(s.window.as_millis()).unwrap_or(u64::MAX);
        let user_key = user_key(&s.key_prefix, user);
        let ip_key = ip_key(&s.key_prefix, ip, s.ipv6_prefix);
        let (by_user, by_ip) = tokio::join!(
            self.window(&user_key, s.user_max, window_ms),
            self.window(&ip_key, s.ip_max, window_ms),
        );
        // A count taken where the other window refused, or could not answer, is given back.
        let give_back = |w: &Result<Window, LimiterError>, key: &str| {
            matches!(w, Ok(Window { counted: true, .. })).then(|| key.to_string())
        };
        let verdict = match (&by_user, &by_ip) {
            (Ok(u), Ok(i)) if u.counted && i.counted => Ok(Verdict::Allowed {
                user_remaining: remaining(u.count, s.user_max),
                ip_remaining: remaining(i.count, s.ip_max),
            }),
            (Ok(u), _) if !u.counted => Ok(limited(Scope::User, s.user_max, u.ttl_ms)),
            (_, Ok(i)) if !i.counted => Ok(limited(Scope::Ip, s.ip_max, i.ttl_ms)),
            (Err(e), _) | (_, Err(e)) => Err(e.clone()),
            // Both counted is the first arm; the compiler cannot see through its guard.
            _ => Err(LimiterError::Unreachable(
                "Redis: the rate-limit windows disagree".into(),
            )),
        };
        let mut to_release = Vec::new();
        if !matches!(verdict, Ok(Verdict::Allowed { .. })) {
            to_release.extend(give_back(&by_user, &user_key));
            to_release.extend(give_back(&by_ip, &ip_key));
        }
        for key in to_release {
            let mut conn = self.conn.clone();
            // Best effort: a count not given back expires with its window.
            let _ = self.release.key(key).invoke_async::<i64>(&mut conn).await;
        }
        verdict
    }

    async fn window(&self, key: &str, max: u32, window_ms: u64) -> Result<Window, LimiterError> {
        let mut conn = self.conn.clone();
        let reply: Vec<i64> = self
            .one_window
            .key(key)
            .arg(max)
            .arg(window_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| LimiterError::Unreachable(describe(&e)))?;
        match reply[..] {
            [counted @ (0 | 1), count, ttl_ms] => Ok(Window {
                counted: counted == 1,
                count,
                ttl_ms,
            }),
            _ => Err(LimiterError::Unreachable(
                "Redis: unexpected reply from the rate-limit script".into(),
            )),
        }
    }
}

fn remaining(count: i64, max: u32) -> u32 {
    u32::try_from(i64::from(max) - count).unwrap_or(0)
}

fn limited(scope: Scope, limit: u32, ttl_ms: i64) -> Verdict {
    Verdict::Limited {
        scope,
        limit,
        retry_after: Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0)),
    }
}

fn parse_reply(reply: &[i64], s: &LimitSettings) -> Result<Verdict, LimiterError> {
    let bad =
        || LimiterError::Unreachable("Redis: unexpected reply from the rate-limit script".into());
    let code = *reply.first().ok_or_else(bad)?;
    let at = |i: usize| reply.get(i).copied().ok_or_else(bad);
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
