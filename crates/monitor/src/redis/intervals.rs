//! Latency history as `redis-cli --latency-history` prints it: one row per [`INTERVAL`] of
//! PINGs (min / avg / max), the last [`INTERVALS_KEPT`] rows kept in a bounded ring, so that a
//! spike ten minutes ago is still on screen after the 15 s summary has forgotten it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One row of the history: as long as `redis-cli --latency-history`'s default interval.
pub const INTERVAL: Duration = Duration::from_secs(15);
/// Rows kept: 64 × 15 s = 16 minutes, over the 15 minutes an operator scrolls back through.
pub const INTERVALS_KEPT: usize = 64;

/// The PINGs of one interval, in milliseconds. The newest row is the one still filling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencyInterval {
    /// When the interval began (wall clock).
    pub start: DateTime<Utc>,
    pub min_ms: f64,
    pub avg_ms: f64,
    pub max_ms: f64,
    pub samples: usize,
}

/// A row as it fills: durations, not floats, so sums stay exact.
#[derive(Debug, Clone, Copy)]
struct Row {
    /// Intervals since the first PING: rows with no PING (Redis down) are simply absent.
    index: u64,
    min: Duration,
    max: Duration,
    sum: Duration,
    n: usize,
}

/// The bounded ring of interval rows.
#[derive(Debug, Clone, Default)]
pub struct IntervalRing {
    rows: VecDeque<Row>,
    /// The first PING: (monotonic, wall). Rows are counted from it.
    origin: Option<(Instant, DateTime<Utc>)>,
}

impl IntervalRing {
    /// Adds one PING round trip taken at `at`; `wall` is the wall clock of the first PING.
    pub fn record(&mut self, at: Instant, wall: DateTime<Utc>, rtt: Duration) {
        let (origin, _) = *self.origin.get_or_insert((at, wall));
        let index = at.saturating_duration_since(origin).as_secs() / INTERVAL.as_secs();
        match self.rows.back_mut() {
            Some(row) if row.index == index => {
                row.min = row.min.min(rtt);
                row.max = row.max.max(rtt);
                row.sum += rtt;
                row.n += 1;
            }
            _ => self.rows.push_back(Row {
                index,
                min: rtt,
                max: rtt,
                sum: rtt,
                n: 1,
            }),
        }
        while self.rows.len() > INTERVALS_KEPT {
            self.rows.pop_front();
        }
    }

    /// The rows, oldest first.
    pub fn rows(&self) -> Vec<LatencyInterval> {
        let Some((_, wall)) = self.origin else {
            return Vec::new();
        };
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        self.rows
            .iter()
            .map(|r| LatencyInterval {
                start: wall
                    + chrono::Duration::from_std(INTERVAL * r.index as u32)
                        .unwrap_or_else(|_| chrono::Duration::zero()),
                min_ms: ms(r.min),
                avg_ms: ms(r.sum) / r.n.max(1) as f64,
                max_ms: ms(r.max),
                samples: r.n,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn pings_in_one_interval_make_one_row_with_min_avg_max() {
        let (t0, wall) = (Instant::now(), Utc::now());
        let mut ring = IntervalRing::default();
        ring.record(t0, wall, ms(2));
        ring.record(t0 + ms(5_000), wall, ms(6));
        ring.record(t0 + ms(14_999), wall, ms(1));
        let rows = ring.rows();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!((rows[0].min_ms, rows[0].max_ms), (1.0, 6.0));
        assert!((rows[0].avg_ms - 3.0).abs() < 1e-9, "{rows:?}");
        assert_eq!(rows[0].samples, 3);
        assert_eq!(rows[0].start, wall);
    }

    #[test]
    fn each_interval_starts_a_row_and_a_silent_interval_leaves_none() {
        let (t0, wall) = (Instant::now(), Utc::now());
        let mut ring = IntervalRing::default();
        ring.record(t0, wall, ms(1));
        ring.record(t0 + ms(15_000), wall, ms(2));
        // Redis down for the third interval: no PING answered, no row.
        ring.record(t0 + ms(45_000), wall, ms(3));
        let rows = ring.rows();
        let maxima: Vec<f64> = rows.iter().map(|r| r.max_ms).collect();
        assert_eq!(maxima, [1.0, 2.0, 3.0]);
        assert_eq!(rows[2].start - rows[0].start, chrono::Duration::seconds(45));
    }

    #[test]
    fn the_ring_keeps_the_last_sixteen_minutes_and_no_more() {
        let (t0, wall) = (Instant::now(), Utc::now());
        let mut ring = IntervalRing::default();
        for i in 0..200u64 {
            ring.record(t0 + INTERVAL * i as u32, wall, ms(i + 1));
        }
        let rows = ring.rows();
        assert_eq!(rows.len(), INTERVALS_KEPT);
        assert!(INTERVAL * INTERVALS_KEPT as u32 >= Duration::from_secs(15 * 60));
        // The oldest rows went: the first kept is interval 200 - 64.
        assert_eq!(rows[0].max_ms, (200 - INTERVALS_KEPT as u64 + 1) as f64);
        assert_eq!(rows[INTERVALS_KEPT - 1].max_ms, 200.0);
    }

    #[test]
    fn no_ping_no_rows() {
        assert!(IntervalRing::default().rows().is_empty());
    }
}
