//! The windows as Redis holds them, for an operator looking one customer up (`flashsale
//! limits`): the keys `limit.lua` writes, read without counting anything, and deleted to lift
//! a customer's limits at once.

use std::net::IpAddr;
use std::time::Duration;

use super::{LimiterError, RedisLimiter, ip_bucket, ip_key, user_key};
use crate::config::LimitSettings;

/// One window as Redis holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowState {
    /// The key, prefix included.
    pub key: String,
    /// Attempts counted in the open window; 0 when none is open.
    pub count: u32,
    /// The window's limit, from the settings.
    pub limit: u32,
    /// Whether the key exists (a window is open).
    pub open: bool,
    /// Until the window ends and the count starts again; `None` when no window is open, or
    /// when the key has no expiry (another writer left it; the next check gives it one).
    pub resets_in: Option<Duration>,
}

impl WindowState {
    /// Attempts left in the window (none once the count is at or past the limit).
    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.count)
    }

    /// `user alice: 3 of 5 used, 2 left, resets in 54.2 s (rate_limit:user:alice)`: the
    /// window in one line, as `flashsale limits` and the dashboard's prompt print it.
    pub fn line(&self, label: &str) -> String {
        let when = match (self.open, self.resets_in) {
            (false, _) => "no window open: the next purchase starts one".to_string(),
            (true, Some(d)) => format!("resets in {:.1} s", d.as_secs_f64()),
            (true, None) => "no expiry set: the next purchase check gives it one".to_string(),
        };
        format!(
            "{label}: {} of {} used, {} left, {when} ({})",
            self.count,
            self.limit,
            self.remaining(),
            self.key
        )
    }
}

/// A user's window and, when an address was named, its IP window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    pub user: WindowState,
    /// The address's window and what it counts as ([`ip_bucket`]: an IPv6 address's network).
    pub ip: Option<(String, WindowState)>,
}

impl Windows {
    /// The keys that hold an open window.
    pub fn open_keys(&self) -> Vec<String> {
        std::iter::once(&self.user)
            .chain(self.ip.as_ref().map(|(_, w)| w))
            .filter(|w| w.open)
            .map(|w| w.key.clone())
            .collect()
    }
}

/// `ip 10.0.0.1`, or `ip 2001:db8::1 (counted as 2001:db8::/64)` when the window is the
/// address's network's.
pub fn ip_label(ip: IpAddr, bucket: &str) -> String {
    if ip.to_string() == bucket {
        format!("ip {ip}")
    } else {
        format!("ip {ip} (counted as {bucket})")
    }
}

impl RedisLimiter {
    /// Reads `user`'s window and `ip`'s (`GET` and `PTTL` of each, one round trip): counts
    /// nothing, changes nothing. Bounded by the Redis timeout; not behind the breaker (an
    /// operator asking wants Redis's answer, or why there is none).
    pub async fn windows(
        &self,
        user: &str,
        ip: Option<IpAddr>,
        s: &LimitSettings,
    ) -> Result<Windows, LimiterError> {
        let mut keys = vec![(user_key(&s.key_prefix, user), s.user_max)];
        if let Some(ip) = ip {
            keys.push((ip_key(&s.key_prefix, ip, s.ipv6_prefix), s.ip_max));
        }
        // One pipeline per key: on a Redis Cluster the two keys live on different masters,
        // and a pipeline (like a script) may only touch one slot.
        let mut reply: Vec<(Option<String>, i64)> = Vec::new();
        for (key, _) in &keys {
            let mut pipe = redis::pipe();
            pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
            let mut conn = self.connection();
            reply.push(self.bounded(pipe.query_async(&mut conn)).await?);
        }
        let mut states = keys
            .into_iter()
            .zip(reply)
            .map(|((key, limit), (value, pttl))| state(key, limit, value, pttl));
        let user_state = states.next().ok_or_else(unexpected)??;
        let ip_state = match ip {
            Some(ip) => Some((
                ip_bucket(ip, s.ipv6_prefix),
                states.next().ok_or_else(unexpected)??,
            )),
            None => None,
        };
        Ok(Windows {
            user: user_state,
            ip: ip_state,
        })
    }

    /// Deletes `keys` (a customer's windows: their next purchase starts new ones); how many
    /// existed.
    pub async fn delete_windows(&self, keys: &[String]) -> Result<u64, LimiterError> {
        if keys.is_empty() {
            return Ok(0);
        }
        // One DEL per key, for the same reason (a DEL of keys on two slots is refused).
        let mut deleted = 0;
        for key in keys {
            let mut conn = self.connection();
            deleted += self
                .bounded(redis::cmd("DEL").arg(key).query_async::<u64>(&mut conn))
                .await?;
        }
        Ok(deleted)
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, LimiterError> {
        let timeout = self.timeout();
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| LimiterError::Timeout(timeout))?
            .map_err(|e| LimiterError::Unreachable(super::redis::describe(&e)))
    }
}

fn unexpected() -> LimiterError {
    LimiterError::Unreachable("Redis: unexpected reply to GET and PTTL".into())
}

/// A window from its key's value and `PTTL` (-2: no key; -1: no expiry).
fn state(
    key: String,
    limit: u32,
    value: Option<String>,
    pttl: i64,
) -> Result<WindowState, LimiterError> {
    let count = match &value {
        None => 0,
        Some(v) => v.parse::<u32>().map_err(|_| {
            LimiterError::Unreachable(format!(
                "Redis: {key} holds {v:?}, not a count (written by something other than flashsale?)"
            ))
        })?,
    };
    Ok(WindowState {
        key,
        count,
        limit,
        open: value.is_some(),
        resets_in: u64::try_from(pttl)
            .ok()
            .filter(|_| value.is_some())
            .map(Duration::from_millis),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reads_from_its_value_and_pttl() {
        let w = state("k".into(), 5, Some("3".into()), 54_000).expect("state");
        assert_eq!((w.count, w.remaining(), w.open), (3, 2, true));
        assert_eq!(w.resets_in, Some(Duration::from_millis(54_000)));
        let none = state("k".into(), 5, None, -2).expect("absent");
        assert_eq!((none.count, none.remaining(), none.open), (0, 5, false));
        assert_eq!(none.resets_in, None);
        let forever = state("k".into(), 5, Some("7".into()), -1).expect("no expiry");
        assert_eq!((forever.remaining(), forever.resets_in), (0, None));
        let err = state("k".into(), 5, Some("x".into()), 10).expect_err("not a count");
        assert!(
            err.to_string().contains("k holds \"x\", not a count"),
            "{err}"
        );
    }

    #[test]
    fn a_window_reads_as_one_line_for_the_cli_and_the_dashboard() {
        let w = WindowState {
            key: "rate_limit:user:alice".into(),
            count: 3,
            limit: 5,
            open: true,
            resets_in: Some(Duration::from_millis(54_250)),
        };
        assert_eq!(
            w.line("user alice"),
            "user alice: 3 of 5 used, 2 left, resets in 54.2 s (rate_limit:user:alice)"
        );
        let closed = WindowState {
            count: 0,
            open: false,
            resets_in: None,
            ..w
        };
        assert_eq!(
            closed.line("user alice"),
            "user alice: 0 of 5 used, 5 left, no window open: the next purchase starts one \
             (rate_limit:user:alice)"
        );
    }
}
