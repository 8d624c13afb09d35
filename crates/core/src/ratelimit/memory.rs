//! The in-process limiter: the same fixed windows as the Redis script, for one process.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use super::{Scope, Verdict};
use crate::config::LimitSettings;

#[derive(Debug, Clone, Copy)]
struct Window {
    count: u32,
    ends: Instant,
}

#[derive(Default)]
struct Windows {
    map: HashMap<String, Window>,
    prune_at: usize,
}

/// Fixed windows in a map, pruned as it grows.
#[derive(Default)]
pub struct MemoryLimiter {
    windows: Mutex<Windows>,
}

const MIN_PRUNE_AT: usize = 4096;

impl MemoryLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks both windows and, only when both admit, counts the attempt in both.
    pub fn check(&self, user: &str, ip: IpAddr, s: &LimitSettings) -> Verdict {
        self.check_at(user, ip, s, Instant::now())
    }

    fn check_at(&self, user: &str, ip: IpAddr, s: &LimitSettings, now: Instant) -> Verdict {
        let user_key = format!("u:{user}");
        let ip_key = format!("i:{}", super::ip_bucket(ip, s.ipv6_prefix));
        // A poisoned lock only means another check panicked; the map itself is still sound.
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if w.map.len() >= w.prune_at.max(MIN_PRUNE_AT) {
            w.map.retain(|_, win| win.ends > now);
            w.prune_at = (w.map.len() * 2).max(MIN_PRUNE_AT);
        }
        for (key, max, scope) in [
            (&user_key, s.user_max, Scope::User),
            (&ip_key, s.ip_max, Scope::Ip),
        ] {
            if let Some(win) = w.map.get(key.as_str()).filter(|win| win.ends > now)
                && win.count >= max
            {
                return Verdict::Limited {
                    scope,
                    limit: max,
                    retry_after: win.ends.saturating_duration_since(now),
                };
            }
        }
        let mut remaining = [0u32; 2];
        for (i, (key, max)) in [(user_key, s.user_max), (ip_key, s.ip_max)]
            .into_iter()
            .enumerate()
        {
            let win = w.map.entry(key).or_insert(Window {
                count: 0,
                ends: now + s.window,
            });
            if win.ends <= now {
                *win = Window {
                    count: 0,
                    ends: now + s.window,
                };
            }
            win.count += 1;
            remaining[i] = max.saturating_sub(win.count);
        }
        Verdict::Allowed {
            user_remaining: remaining[0],
            ip_remaining: remaining[1],
        }
    }

    /// Live windows, for tests and the dashboard.
    pub fn len(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for MemoryLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLimiter")
            .field("windows", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings(user: u32, ip: u32, window_ms: u64) -> LimitSettings {
        LimitSettings {
            user_max: user,
            ip_max: ip,
            window: Duration::from_millis(window_ms),
            ..Default::default()
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn sixth_purchase_of_a_user_is_refused_with_retry_after() {
        let l = MemoryLimiter::new();
        let s = settings(5, 100, 60_000);
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(
                matches!(l.check_at("alice", ip(i), &s, t0), Verdict::Allowed { .. }),
                "attempt {i}"
            );
        }
        match l.check_at("alice", ip(9), &s, t0 + Duration::from_secs(10)) {
            Verdict::Limited {
                scope: Scope::User,
                limit: 5,
                retry_after,
            } => {
                assert_eq!(retry_after, Duration::from_secs(50));
            }
            other => panic!("expected user limit, got {other:?}"),
        }
    }

    #[test]
    fn eleventh_from_one_ip_is_refused() {
        let l = MemoryLimiter::new();
        let s = settings(5, 10, 60_000);
        let t0 = Instant::now();
        for i in 0..10 {
            let user = format!("u{i}");
            assert!(matches!(
                l.check_at(&user, ip(1), &s, t0),
                Verdict::Allowed { .. }
            ));
        }
        assert!(matches!(
            l.check_at("u99", ip(1), &s, t0),
            Verdict::Limited {
                scope: Scope::Ip,
                limit: 10,
                ..
            }
        ));
        assert!(matches!(
            l.check_at("u99", ip(2), &s, t0),
            Verdict::Allowed { .. }
        ));
    }

    #[test]
    fn refused_attempts_do_not_count() {
        let l = MemoryLimiter::new();
        let s = settings(1, 100, 60_000);
        let t0 = Instant::now();
        assert!(matches!(
            l.check_at("a", ip(1), &s, t0),
            Verdict::Allowed { .. }
        ));
        for _ in 0..5 {
            assert!(matches!(
                l.check_at("a", ip(1), &s, t0),
                Verdict::Limited { .. }
            ));
        }
        // The IP window counted only the one admitted attempt.
        match l.check_at("b", ip(1), &s, t0) {
            Verdict::Allowed { ip_remaining, .. } => assert_eq!(ip_remaining, 98),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn window_resets() {
        let l = MemoryLimiter::new();
        let s = settings(1, 100, 1_000);
        let t0 = Instant::now();
        assert!(matches!(
            l.check_at("a", ip(1), &s, t0),
            Verdict::Allowed { .. }
        ));
        assert!(matches!(
            l.check_at("a", ip(1), &s, t0),
            Verdict::Limited { .. }
        ));
        assert!(matches!(
            l.check_at("a", ip(1), &s, t0 + Duration::from_millis(1_001)),
            Verdict::Allowed { .. }
        ));
    }

    #[test]
    fn expired_windows_are_pruned_as_the_map_grows() {
        let l = MemoryLimiter::new();
        let s = settings(5, u32::MAX, 10);
        let t0 = Instant::now();
        for i in 0..2 * MIN_PRUNE_AT {
            l.check_at(&format!("old{i}"), ip(1), &s, t0);
        }
        let later = t0 + Duration::from_secs(1);
        for i in 0..2 * MIN_PRUNE_AT {
            l.check_at(&format!("new{i}"), ip(2), &s, later);
        }
        // Every "old" window expired before the "new" ones began; a prune must have dropped them.
        assert!(l.len() <= 2 * MIN_PRUNE_AT + 1, "{} windows left", l.len());
    }
}
