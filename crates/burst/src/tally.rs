//! The pure aggregator of a burst's outcomes: counts, units, a latency histogram and the
//! acknowledged order ids. Fed one record at a time; snapshots on demand. No I/O, no clocks of
//! its own (times are passed in), so it is unit-tested directly.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use flashsale_core::purchase::{Outcome, OutcomeKind};

/// One finished purchase as the engine reports it.
#[derive(Debug, Clone)]
pub struct Record {
    /// Index into the spec's products.
    pub product: usize,
    pub kind: OutcomeKind,
    pub units: u32,
    pub order_id: Option<i64>,
    pub latency: Duration,
    /// Why a busy or failed purchase did not go through (the outcome's message).
    pub reason: Option<String>,
    /// The stock change a purchase made, for the watchers' timing.
    pub change: Option<Change>,
}

/// A committed purchase as a stock change: the stock it left and when its order was written
/// (the database's clock, taken inside the purchase's transaction, so at or before its commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub remaining: i32,
    pub written_at: chrono::NaiveDateTime,
}

impl Record {
    pub fn new(product: usize, outcome: &Outcome, latency: Duration) -> Self {
        let order = outcome.order();
        Self {
            product,
            kind: outcome.kind(),
            units: order.map(|o| o.quantity.max(0) as u32).unwrap_or(0),
            order_id: order.map(|o| o.id),
            latency,
            reason: match outcome {
                Outcome::Busy(why) | Outcome::Failed(why) => Some(why.clone()),
                _ => None,
            },
            change: order.map(|o| Change {
                remaining: o.remaining_stock,
                written_at: o.created_at,
            }),
        }
    }
}

/// How many purchases ended each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    pub purchased: u64,
    pub sold_out: u64,
    pub not_found: u64,
    pub rate_limited_user: u64,
    pub rate_limited_ip: u64,
    pub invalid: u64,
    pub busy: u64,
    pub failed: u64,
}

impl Counts {
    pub fn add(&mut self, kind: OutcomeKind) {
        let slot = match kind {
            OutcomeKind::Purchased => &mut self.purchased,
            OutcomeKind::SoldOut => &mut self.sold_out,
            OutcomeKind::NotFound => &mut self.not_found,
            OutcomeKind::RateLimitedUser => &mut self.rate_limited_user,
            OutcomeKind::RateLimitedIp => &mut self.rate_limited_ip,
            OutcomeKind::Invalid => &mut self.invalid,
            OutcomeKind::Busy => &mut self.busy,
            OutcomeKind::Failed => &mut self.failed,
        };
        *slot += 1;
    }

    pub fn total(&self) -> u64 {
        self.purchased
            + self.sold_out
            + self.not_found
            + self.rate_limited_user
            + self.rate_limited_ip
            + self.invalid
            + self.busy
            + self.failed
    }

    pub fn rate_limited(&self) -> u64 {
        self.rate_limited_user + self.rate_limited_ip
    }

    /// Busy and failed, the outcomes that are the system's fault.
    pub fn errors(&self) -> u64 {
        self.busy + self.failed
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    /// The percentiles of a histogram of microseconds; all zero when it is empty.
    pub fn of_micros(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// A burst's state at one moment, as every view receives it at least 4 times a second.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Progress {
    /// Purchases the burst will attempt in all.
    pub planned: u64,
    /// Purchases started so far.
    pub started: u64,
    /// Purchases finished so far (`counts.total()`).
    pub completed: u64,
    pub counts: Counts,
    pub units_purchased: u64,
    #[serde(serialize_with = "ser_ms")]
    pub elapsed: Duration,
    /// Completions per second over the last interval.
    pub throughput_per_s: f64,
    pub latency_ms: Latency,
    /// Set once, on the last snapshot.
    pub finished: bool,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u128(d.as_millis())
}

impl Progress {
    /// Completed as a fraction of planned, 0..=1.
    pub fn fraction(&self) -> f64 {
        if self.planned == 0 {
            1.0
        } else {
            (self.completed as f64 / self.planned as f64).min(1.0)
        }
    }
}

/// The running totals.
#[derive(Debug, Clone)]
pub struct Tally {
    counts: Counts,
    units: u64,
    /// Microseconds, 1 µs to 1 hour, 3 significant figures.
    histogram: Histogram<u64>,
    acknowledged: Vec<Vec<i64>>,
    /// Why purchases were busy or failed, with how many each: at most [`MAX_REASONS`]
    /// distinct texts, the rest counted under [`OTHER_REASONS`].
    reasons: Vec<ErrorReason>,
    last_completed: u64,
    last_at: Duration,
    /// Every purchase's stock change per product index, kept only when watchers time them.
    changes: Option<Vec<Vec<Change>>>,
}

/// How many purchases ended busy or failed for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReason {
    pub reason: String,
    pub count: u64,
}

/// Distinct reasons kept; a storm of failures has a handful of causes, not thousands.
pub const MAX_REASONS: usize = 8;
/// Where reasons past the first [`MAX_REASONS`] are counted.
pub const OTHER_REASONS: &str = "(other reasons)";

const MAX_LATENCY_US: u64 = 3_600_000_000;

impl Tally {
    pub fn new(products: usize) -> Self {
        Self {
            counts: Counts::default(),
            units: 0,
            histogram: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("constant histogram bounds are valid"),
            acknowledged: vec![Vec::new(); products],
            reasons: Vec::new(),
            last_completed: 0,
            last_at: Duration::ZERO,
            changes: None,
        }
    }

    /// A tally that also keeps every purchase's stock change (16 bytes a purchase).
    pub fn keeping_changes(products: usize) -> Self {
        Self {
            changes: Some(vec![Vec::new(); products]),
            ..Self::new(products)
        }
    }

    /// The stock changes kept per product index (empty unless [`Tally::keeping_changes`]).
    pub fn changes(&self) -> &[Vec<Change>] {
        self.changes.as_deref().unwrap_or_default()
    }

    pub fn record(&mut self, r: &Record) {
        self.counts.add(r.kind);
        self.units += u64::from(r.units);
        let us = (r.latency.as_micros() as u64).clamp(1, MAX_LATENCY_US);
        // Cannot fail: the value is clamped into the histogram's bounds.
        let _ = self.histogram.record(us);
        if let (Some(id), Some(list)) = (r.order_id, self.acknowledged.get_mut(r.product)) {
            list.push(id);
        }
        if let Some(reason) = &r.reason {
            self.count_reason(reason);
        }
        if let (Some(change), Some(changes)) = (r.change, &mut self.changes)
            && let Some(list) = changes.get_mut(r.product)
        {
            list.push(change);
        }
    }

    fn count_reason(&mut self, reason: &str) {
        if let Some(known) = self.reasons.iter_mut().find(|k| k.reason == reason) {
            known.count += 1;
            return;
        }
        let reason = if self.reasons.len() < MAX_REASONS {
            reason
        } else {
            OTHER_REASONS
        };
        match self.reasons.iter_mut().find(|k| k.reason == reason) {
            Some(other) => other.count += 1,
            None => self.reasons.push(ErrorReason {
                reason: reason.to_string(),
                count: 1,
            }),
        }
    }

    /// Why purchases were busy or failed, the most frequent first, the others last.
    pub fn error_reasons(&self) -> Vec<ErrorReason> {
        let mut reasons = self.reasons.clone();
        reasons.sort_by_key(|r| {
            (
                r.reason == OTHER_REASONS,
                std::cmp::Reverse(r.count),
                r.reason.clone(),
            )
        });
        reasons
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    pub fn units(&self) -> u64 {
        self.units
    }

    pub fn histogram(&self) -> &Histogram<u64> {
        &self.histogram
    }

    /// Order ids buyers were told of, per product index.
    pub fn acknowledged(&self, product: usize) -> &[i64] {
        self.acknowledged
            .get(product)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn latency(&self) -> Latency {
        Latency::of_micros(&self.histogram)
    }

    /// A snapshot at `elapsed` since the start; throughput is over the time since the last one.
    pub fn snapshot(&mut self, planned: u64, started: u64, elapsed: Duration) -> Progress {
        let completed = self.counts.total();
        let interval = elapsed.saturating_sub(self.last_at).as_secs_f64();
        let throughput_per_s = if interval > 0.0 {
            (completed - self.last_completed) as f64 / interval
        } else {
            0.0
        };
        self.last_completed = completed;
        self.last_at = elapsed;
        Progress {
            planned,
            started,
            completed,
            counts: self.counts,
            units_purchased: self.units,
            elapsed,
            throughput_per_s,
            latency_ms: self.latency(),
            finished: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kind: OutcomeKind, ms: u64, order: Option<i64>) -> Record {
        Record {
            product: 0,
            kind,
            units: u32::from(order.is_some()) * 2,
            order_id: order,
            latency: Duration::from_millis(ms),
            reason: None,
            change: None,
        }
    }

    #[test]
    fn counts_units_and_orders_add_up() {
        let mut t = Tally::new(1);
        t.record(&rec(OutcomeKind::Purchased, 5, Some(11)));
        t.record(&rec(OutcomeKind::Purchased, 7, Some(12)));
        t.record(&rec(OutcomeKind::SoldOut, 1, None));
        t.record(&rec(OutcomeKind::RateLimitedIp, 1, None));
        let c = t.counts();
        assert_eq!(
            (c.purchased, c.sold_out, c.rate_limited(), c.total()),
            (2, 1, 1, 4)
        );
        assert_eq!(t.units(), 4);
        assert_eq!(t.acknowledged(0), [11, 12]);
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut t = Tally::new(1);
        for ms in 1..=100 {
            t.record(&rec(OutcomeKind::Purchased, ms, None));
        }
        let l = t.latency();
        assert!((l.p50 - 50.0).abs() < 0.5, "{l:?}");
        assert!((l.p99 - 99.0).abs() < 0.5, "{l:?}");
        assert!((l.max - 100.0).abs() < 0.5, "{l:?}");
    }

    #[test]
    fn throughput_is_over_the_last_interval() {
        let mut t = Tally::new(1);
        for _ in 0..10 {
            t.record(&rec(OutcomeKind::SoldOut, 1, None));
        }
        let first = t.snapshot(100, 10, Duration::from_millis(500));
        assert!((first.throughput_per_s - 20.0).abs() < 1e-9);
        for _ in 0..5 {
            t.record(&rec(OutcomeKind::SoldOut, 1, None));
        }
        let second = t.snapshot(100, 15, Duration::from_millis(750));
        assert!((second.throughput_per_s - 20.0).abs() < 1e-9, "{second:?}");
        assert_eq!(second.completed, 15);
        assert!((second.fraction() - 0.15).abs() < 1e-9);
    }

    #[test]
    fn empty_tally_has_zero_latency() {
        assert_eq!(Tally::new(1).latency(), Latency::default());
    }

    #[test]
    fn failure_reasons_are_counted_per_text_and_bounded() {
        let mut t = Tally::new(1);
        let failed = |why: &str| Record {
            reason: Some(why.to_string()),
            ..rec(OutcomeKind::Failed, 1, None)
        };
        for _ in 0..3 {
            t.record(&failed("connection refused"));
        }
        t.record(&failed("timed out"));
        for i in 0..MAX_REASONS + 2 {
            t.record(&failed(&format!("reason {i}")));
        }
        let reasons = t.error_reasons();
        assert_eq!(reasons.len(), MAX_REASONS + 1);
        assert_eq!(
            reasons[0],
            ErrorReason {
                reason: "connection refused".into(),
                count: 3
            }
        );
        let other = reasons.last();
        assert_eq!(
            other,
            Some(&ErrorReason {
                reason: OTHER_REASONS.into(),
                count: 4
            })
        );
        assert_eq!(reasons.iter().map(|r| r.count).sum::<u64>(), 14);
    }
}
