//! What the alerts list knows beyond the alerts on screen: since when each has been raised and
//! how often this session, and which the operator silenced, until when.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// How long `m` silences an alert at first; pressing it again steps through the rest, then
/// lifts the silence.
pub const SILENCE_STEPS: [Duration; 3] = [
    Duration::from_secs(15 * 60),
    Duration::from_secs(60 * 60),
    Duration::from_secs(4 * 60 * 60),
];

/// One alert's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    /// When it was last raised (it has stood since).
    pub since: DateTime<Utc>,
    /// How many times it was raised this session.
    pub raised: u32,
}

/// A silence: kept off the banner until `until` (wall time for the list, the clock for expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Silence {
    pub until: Instant,
    pub until_wall: DateTime<Utc>,
    pub step: usize,
}

#[derive(Debug, Clone, Default)]
pub struct AlertBook {
    pub records: BTreeMap<String, AlertRecord>,
    pub silenced: BTreeMap<String, Silence>,
}

impl AlertBook {
    /// `key` was raised (again) at `wall`.
    pub fn raised(&mut self, key: &str, wall: DateTime<Utc>) {
        let r = self.records.entry(key.to_string()).or_insert(AlertRecord {
            since: wall,
            raised: 0,
        });
        r.since = wall;
        r.raised += 1;
    }

    /// Whether `key` is silenced at `now`.
    pub fn is_silenced(&self, key: &str, now: Instant) -> bool {
        self.silenced.get(key).is_some_and(|s| s.until > now)
    }

    /// Silences that ran out go.
    pub fn expire(&mut self, now: Instant) {
        self.silenced.retain(|_, s| s.until > now);
    }

    /// Silences `key` for the first period, or the next one if already silenced; after the
    /// last, lifts it. Returns the silence now in force.
    pub fn step_silence(
        &mut self,
        key: &str,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Option<Silence> {
        let step = match self.silenced.get(key) {
            Some(s) if s.until > now => s.step + 1,
            _ => 0,
        };
        let Some(period) = SILENCE_STEPS.get(step) else {
            self.silenced.remove(key);
            return None;
        };
        let silence = Silence {
            until: now + *period,
            until_wall: wall + chrono::Duration::from_std(*period).unwrap_or_default(),
            step,
        };
        self.silenced.insert(key.to_string(), silence);
        Some(silence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silences_step_through_the_periods_then_lift_and_expire() {
        let (t0, wall) = (Instant::now(), Utc::now());
        let mut book = AlertBook::default();
        let first = book.step_silence("redis", t0, wall).expect("silenced");
        assert_eq!(first.until, t0 + SILENCE_STEPS[0]);
        assert!(book.is_silenced("redis", t0 + Duration::from_secs(60)));
        assert_eq!(
            book.step_silence("redis", t0, wall).map(|s| s.step),
            Some(1)
        );
        assert_eq!(
            book.step_silence("redis", t0, wall).map(|s| s.step),
            Some(2)
        );
        assert_eq!(book.step_silence("redis", t0, wall), None, "lifted");
        assert!(!book.is_silenced("redis", t0));
        book.step_silence("redis", t0, wall);
        book.expire(t0 + SILENCE_STEPS[0]);
        assert!(book.silenced.is_empty(), "ran out");
    }

    #[test]
    fn raising_counts_and_moves_since() {
        let wall = Utc::now();
        let mut book = AlertBook::default();
        book.raised("low-stock:3", wall);
        book.raised("low-stock:3", wall + chrono::Duration::seconds(30));
        let r = &book.records["low-stock:3"];
        assert_eq!(r.raised, 2);
        assert_eq!(r.since, wall + chrono::Duration::seconds(30));
    }
}
