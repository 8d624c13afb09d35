//! The p99 of a server's purchase handling time over the last minute, from the histogram its
//! `/metrics` exports (`flashsale_purchase_duration_seconds_bucket`). Pure, like
//! [`crate::error_rate`]: the replica sampler reads, this does the arithmetic.
//!
//! A histogram only knows buckets, so the p99 is the upper bound of the bucket the 99th
//! percentile falls in ("at most 25 ms"); past the last finite bucket it is unknown.

use std::collections::VecDeque;
use std::time::Instant;

use crate::error_rate::{parse_line, slide};

/// The histogram `flashsale serve` exports (its `_bucket` series).
pub const DURATION_BUCKETS: &str = "flashsale_purchase_duration_seconds_bucket";

/// Cumulative counts per upper bound (seconds, `+Inf` last), as read.
pub type Buckets = Vec<(f64, u64)>;

/// The purchase-duration buckets of a `/metrics` body, ascending by bound; `None` when it has
/// none we can read.
pub fn purchase_buckets(body: &str) -> Option<Buckets> {
    let mut out: Buckets = body
        .lines()
        .filter_map(parse_line)
        .filter(|s| s.name == DURATION_BUCKETS && s.value.is_finite() && s.value >= 0.0)
        .filter_map(|s| {
            let le = match s.label("le")? {
                "+Inf" | "Inf" => f64::INFINITY,
                other => other.parse::<f64>().ok()?,
            };
            // Counts are whole; the format writes them as floats. `as` saturates.
            Some((le, s.value as u64))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    (!out.is_empty()).then_some(out)
}

/// The bound, in milliseconds, of the bucket holding the 99th percentile of the purchases
/// between `first` and `last` (two readings of the same cumulative histogram); `None` without
/// purchases between them, when the bounds differ, or when it lies past the last finite bound.
pub fn p99_ms(first: &Buckets, last: &Buckets) -> Option<f64> {
    if first.len() != last.len() || first.iter().zip(last).any(|(a, b)| a.0 != b.0) {
        return None;
    }
    let grown: Vec<(f64, u64)> = first
        .iter()
        .zip(last)
        .map(|(a, b)| (b.0, b.1.saturating_sub(a.1)))
        .collect();
    let total = grown.last()?.1;
    if total == 0 {
        return None;
    }
    // The smallest bound with at least 99% of the purchases at or under it.
    let wanted = total.saturating_mul(99).div_ceil(100);
    let (le, _) = grown.into_iter().find(|(_, n)| *n >= wanted)?;
    le.is_finite().then_some(le * 1000.0)
}

/// The buckets as read over the last minute.
#[derive(Debug, Clone, Default)]
pub struct LatencyWindow {
    samples: VecDeque<(Instant, Buckets)>,
}

impl LatencyWindow {
    /// Records the buckets read at `now`; the p99 since the oldest reading of the last minute.
    /// A count lower than before is a restart: the window starts again from this reading.
    pub fn record(&mut self, now: Instant, buckets: Buckets) -> Option<f64> {
        let restarted = self.samples.back().is_some_and(|(_, last)| {
            last.len() != buckets.len() || last.iter().zip(&buckets).any(|(a, b)| b.1 < a.1)
        });
        slide(&mut self.samples, now, restarted);
        let p99 = self.samples.front().and_then(|(_, b)| p99_ms(b, &buckets));
        self.samples.push_back((now, buckets));
        p99
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn body(counts: [u64; 4]) -> String {
        let bounds = ["0.001", "0.01", "0.1", "+Inf"];
        bounds
            .iter()
            .zip(counts)
            .map(|(le, n)| format!("{DURATION_BUCKETS}{{le=\"{le}\"}} {n}\n"))
            .collect::<String>()
            + "flashsale_purchase_duration_seconds_count 7\n"
    }

    #[test]
    fn the_p99_is_the_bound_of_the_bucket_it_falls_in() {
        let first = purchase_buckets(&body([0, 0, 0, 0])).expect("buckets");
        assert_eq!(first.len(), 4);
        // 100 purchases: 98 under 1 ms, 1 under 10 ms, 1 under 100 ms: the 99th is under 10 ms.
        let last = purchase_buckets(&body([98, 99, 100, 100])).expect("buckets");
        assert_eq!(p99_ms(&first, &last), Some(10.0));
        // 97 under 1 ms, the rest under 100 ms.
        let last = purchase_buckets(&body([97, 97, 100, 100])).expect("buckets");
        assert_eq!(p99_ms(&first, &last), Some(100.0));
        // Past the last finite bound: unknown, not a made-up figure.
        let last = purchase_buckets(&body([0, 0, 0, 5])).expect("buckets");
        assert_eq!(p99_ms(&first, &last), None);
        assert_eq!(p99_ms(&last, &last), None, "no purchases in between");
        assert_eq!(
            purchase_buckets("flashsale_purchases_total{outcome=\"busy\"} 1"),
            None
        );
    }

    #[test]
    fn the_window_covers_the_last_minute_and_restarts_with_the_server() {
        let t0 = Instant::now();
        let read = |c| purchase_buckets(&body(c)).expect("buckets");
        let mut w = LatencyWindow::default();
        assert_eq!(
            w.record(t0, read([100, 100, 100, 100])),
            None,
            "one reading"
        );
        let p = w.record(t0 + Duration::from_secs(1), read([100, 150, 200, 200]));
        assert_eq!(p, Some(100.0));
        // Past a minute the slow purchases leave the window.
        w.record(t0 + Duration::from_secs(61), read([200, 250, 300, 300]));
        let p = w.record(t0 + Duration::from_secs(62), read([300, 350, 400, 400]));
        assert_eq!(
            p,
            Some(1.0),
            "since the reading at 61 s: the slow ones have left"
        );
        let p = w.record(t0 + Duration::from_secs(63), read([1, 1, 1, 1]));
        assert_eq!(p, None, "counts went down: a restart, no negative growth");
        let p = w.record(t0 + Duration::from_secs(64), read([101, 101, 101, 101]));
        assert_eq!(p, Some(1.0));
    }
}
