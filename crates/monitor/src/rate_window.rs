//! Sell rates the API does not give: running totals per product (units sold, units gone from
//! stock) as seen at each poll over the last minute, and how much each grew. Pure: the time is
//! passed in.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// The sell-rate window.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Running totals per product as seen at each poll over the last minute.
#[derive(Debug, Clone, Default)]
pub struct RateWindow {
    samples: VecDeque<(Instant, BTreeMap<i32, i64>)>,
}

impl RateWindow {
    /// Records `totals` (a running total per product id) seen at `now`; returns how much each
    /// grew since the oldest sample in the window that had it (0 when none did).
    pub fn record(&mut self, now: Instant, totals: &BTreeMap<i32, i64>) -> BTreeMap<i32, i64> {
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let rates = totals
            .iter()
            .map(|(id, total)| {
                let before = self
                    .samples
                    .iter()
                    .find_map(|(_, m)| m.get(id))
                    .copied()
                    .unwrap_or(*total);
                // A smaller total means it was reset: no rate to tell.
                (*id, (total - before).max(0))
            })
            .collect();
        self.samples.push_back((now, totals.clone()));
        rates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_window_counts_growth_over_the_last_minute() {
        let t0 = Instant::now();
        let totals = |a: i64, b: i64| BTreeMap::from([(1, a), (5, b)]);
        let mut w = RateWindow::default();
        assert_eq!(
            w.record(t0, &totals(10, 4))[&1],
            0,
            "one sample: no rate yet"
        );
        let r = w.record(t0 + Duration::from_secs(30), &totals(25, 4));
        assert_eq!((r[&1], r[&5]), (15, 0));
        // Past the minute the first samples leave the window: only the last growth counts.
        w.record(t0 + Duration::from_secs(100), &totals(30, 4));
        let r = w.record(t0 + Duration::from_secs(120), &totals(40, 4));
        assert_eq!(r[&1], 10);
        // A total that shrinks (reset) gives no negative rate.
        let r = w.record(t0 + Duration::from_secs(121), &totals(0, 0));
        assert_eq!(r[&1], 0);
        // A product first seen later starts from its own total.
        let r = w.record(
            t0 + Duration::from_secs(122),
            &BTreeMap::from([(1, 0), (9, 70)]),
        );
        assert_eq!(r[&9], 0);
    }
}
