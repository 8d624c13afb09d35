//! The in-process limiter: the same fixed windows as the Redis script, for one process.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::windows::{WindowState, Windows as Lookup};
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

/// Fixed windows in a map, pruned as it grows. Clones share the map (the dashboard looks up
/// the windows its own bursts counted).
#[derive(Default, Clone)]
pub struct MemoryLimiter {
    windows: Arc<Mutex<Windows>>,
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
        let (user_key, ip_key) = (memory_user_key(user), memory_ip_key(ip, s));
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

    /// Gives back one attempt counted in `user`'s window and `ip`'s (an idempotent replay
    /// counted by a check made before it was known to be one). A window that ended meanwhile
    /// is left alone: its count went with it.
    pub fn give_back(&self, user: &str, ip: IpAddr, s: &LimitSettings) {
        let now = Instant::now();
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        for key in [memory_user_key(user), memory_ip_key(ip, s)] {
            if let Some(win) = w.map.get_mut(&key).filter(|win| win.ends > now) {
                win.count = win.count.saturating_sub(1);
            }
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

    /// `user`'s window and `ip`'s as this process counted them: counts nothing, changes
    /// nothing (the in-process side of [`super::RedisLimiter::windows`]).
    pub fn windows(&self, user: &str, ip: Option<IpAddr>, s: &LimitSettings) -> Lookup {
        let now = Instant::now();
        let w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let state = |key: String, limit: u32| {
            let live = w.map.get(&key).filter(|win| win.ends > now);
            WindowState {
                count: live.map_or(0, |win| win.count),
                limit,
                open: live.is_some(),
                resets_in: live.map(|win| win.ends.saturating_duration_since(now)),
                key,
            }
        };
        Lookup {
            user: state(memory_user_key(user), s.user_max),
            ip: ip.map(|ip| {
                (
                    super::ip_bucket(ip, s.ipv6_prefix),
                    state(memory_ip_key(ip, s), s.ip_max),
                )
            }),
        }
    }

    /// Forgets the windows named `keys` (as [`Self::windows`] names them); how many were open.
    pub fn delete_windows(&self, keys: &[String]) -> u64 {
        let now = Instant::now();
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|k| w.map.remove(k))
            .filter(|win| win.ends > now)
            .count() as u64
    }
}

fn memory_user_key(user: &str) -> String {
    format!("u:{user}")
}

fn memory_ip_key(ip: IpAddr, s: &LimitSettings) -> String {
    format!("i:{}", super::ip_bucket(ip, s.ipv6_prefix))
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
    fn a_lookup_reads_the_counts_without_counting_and_a_delete_lifts_them() {
        let l = MemoryLimiter::new();
        let s = settings(5, 10, 60_000);
        let shared = l.clone();
        for _ in 0..3 {
            l.check("alice", ip(1), &s);
        }
        let w = shared.windows("alice", Some(ip(1)), &s);
        assert_eq!(
            (w.user.count, w.user.remaining(), w.user.open),
            (3, 2, true)
        );
        assert!(
            w.user
                .resets_in
                .is_some_and(|d| d <= Duration::from_secs(60))
        );
        let (bucket, ipw) = w.ip.clone().expect("ip window");
        assert_eq!((bucket.as_str(), ipw.count, ipw.limit), ("10.0.0.1", 3, 10));
        assert_eq!(
            shared.windows("alice", None, &s).user.count,
            3,
            "nothing counted"
        );
        assert_eq!(shared.delete_windows(&w.open_keys()), 2);
        let after = l.windows("alice", Some(ip(1)), &s);
        assert_eq!((after.user.count, after.user.open), (0, false));
        assert!(after.ip.is_some_and(|(_, w)| !w.open));
    }

    #[test]
    fn a_count_given_back_admits_one_more() {
        let l = MemoryLimiter::new();
        let s = settings(2, 100, 60_000);
        for _ in 0..2 {
            assert!(matches!(l.check("a", ip(1), &s), Verdict::Allowed { .. }));
        }
        assert!(matches!(l.check("a", ip(1), &s), Verdict::Limited { .. }));
        l.give_back("a", ip(1), &s);
        let w = l.windows("a", Some(ip(1)), &s);
        assert_eq!((w.user.count, w.ip.map(|(_, w)| w.count)), (1, Some(1)));
        assert!(matches!(l.check("a", ip(1), &s), Verdict::Allowed { .. }));
        // Never below zero, and a user never counted stays without a window.
        l.give_back("nobody", ip(7), &s);
        l.give_back("nobody", ip(7), &s);
        assert!(!l.windows("nobody", Some(ip(7)), &s).user.open);
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
