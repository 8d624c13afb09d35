//! What the dashboard saw over the last minutes, for the history graphs and the drill-down:
//! rings of samples bounded in age ([`SPAN`]) and in length ([`RING_MAX`]), fed by `App::update`
//! from the stock samples and burst progress it already receives (no polling of its own), and
//! read into columns by the panes. Also, per product, the bursts fired here and the last
//! restock seen. Pure: no clock but the `now` it is given.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use flashsale_core::model::Product;

/// How far back the rings reach: the longest graph range.
pub const SPAN: Duration = Duration::from_secs(15 * 60);
/// The most samples a ring keeps: 15 minutes at the fastest refresh (250 ms).
pub const RING_MAX: usize = 3_600;
/// A rise in stock this soon after our own restock to the same level is that restock.
const OWN_RESTOCK_ECHO: Duration = Duration::from_secs(30);

/// The time a graph spans (`m` cycles it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Range {
    One,
    #[default]
    Five,
    Fifteen,
}

impl Range {
    pub fn next(self) -> Range {
        match self {
            Range::One => Range::Five,
            Range::Five => Range::Fifteen,
            Range::Fifteen => Range::One,
        }
    }

    pub fn duration(self) -> Duration {
        Duration::from_secs(match self {
            Range::One => 60,
            Range::Five => 300,
            Range::Fifteen => 900,
        })
    }

    /// `1m`, `5m`, `15m`.
    pub fn word(self) -> &'static str {
        match self {
            Range::One => "1m",
            Range::Five => "5m",
            Range::Fifteen => "15m",
        }
    }
}

/// Timed values, oldest first, at most [`SPAN`] old (but one: the level at the span's start)
/// and at most [`RING_MAX`] of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ring {
    samples: VecDeque<(Instant, f64)>,
}

impl Ring {
    pub fn push(&mut self, at: Instant, value: f64) {
        self.samples.push_back((at, value));
        // The newest sample older than the span stays: it is the level the span starts at.
        while self.samples.len() >= 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| at.saturating_duration_since(*t) > SPAN)
        {
            self.samples.pop_front();
        }
        while self.samples.len() > RING_MAX {
            self.samples.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn last(&self) -> Option<f64> {
        self.samples.back().map(|(_, v)| *v)
    }

    /// The level at the end of each of `columns` equal slices of the last `range` (the last
    /// sample at or before it), `None` for slices before the first sample.
    pub fn levels(&self, now: Instant, range: Duration, columns: usize) -> Vec<Option<f64>> {
        let mut out = Vec::with_capacity(columns);
        let mut i = 0;
        let mut level = None;
        for c in 0..columns {
            let end_age = range.mul_f64((columns - 1 - c) as f64 / columns.max(1) as f64);
            while let Some((t, v)) = self.samples.get(i) {
                if now.saturating_duration_since(*t) < end_age {
                    break;
                }
                level = Some(*v);
                i += 1;
            }
            out.push(level);
        }
        out
    }

    /// The values falling in each of `columns` equal slices of the last `range`, summed and
    /// divided by the slice's seconds: a rate of the events the values count.
    pub fn rates(&self, now: Instant, range: Duration, columns: usize) -> Vec<f64> {
        let mut out = vec![0.0; columns];
        if columns == 0 || range.is_zero() {
            return out;
        }
        let slice = range.as_secs_f64() / columns as f64;
        for (t, v) in &self.samples {
            let age = now.saturating_duration_since(*t).as_secs_f64();
            let back = (age / slice) as usize;
            if back < columns {
                out[columns - 1 - back] += v / slice;
            }
        }
        out
    }
}

/// The bursts fired here at one product, added up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProductBursts {
    pub bursts: u32,
    pub purchased: u64,
    pub sold_out: u64,
    pub rate_limited: u64,
    pub errors: u64,
}

/// A restock the dashboard saw: its own, or a rise in stock between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestockSeen {
    pub wall: DateTime<Utc>,
    pub at: Instant,
    /// The stock before, when known.
    pub from: Option<i32>,
    pub to: i32,
    /// Restocked from this dashboard (else: seen rising, someone else's).
    pub ours: bool,
}

/// Everything over time.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub range: Range,
    /// Each product's stock, sampled when it changed.
    pub stock: BTreeMap<i32, Ring>,
    /// Units seen leaving each product's stock between two samples.
    pub sold: BTreeMap<i32, Ring>,
    /// The stock of every product added up, sampled when it changed.
    pub total_stock: Ring,
    /// Outcomes of bursts fired here, counted as they progress.
    pub purchases: Ring,
    pub sold_out: Ring,
    pub errors: Ring,
    pub bursts: BTreeMap<i32, ProductBursts>,
    pub restocks: BTreeMap<i32, RestockSeen>,
    /// The running burst's counts at its last progress (purchased, sold out, errors).
    counted: (u64, u64, u64),
    last_stock: BTreeMap<i32, i32>,
}

impl History {
    /// One stock sample.
    pub fn saw_stock(&mut self, now: Instant, wall: DateTime<Utc>, products: &[Product]) {
        for p in products {
            let before = self.last_stock.insert(p.id, p.stock);
            if before != Some(p.stock) {
                self.stock
                    .entry(p.id)
                    .or_default()
                    .push(now, f64::from(p.stock));
            }
            match before {
                Some(b) if p.stock < b => {
                    self.sold
                        .entry(p.id)
                        .or_default()
                        .push(now, f64::from(b - p.stock));
                }
                Some(b) if p.stock > b => {
                    let echo = self.restocks.get(&p.id).is_some_and(|r| {
                        r.ours
                            && r.to == p.stock
                            && now.saturating_duration_since(r.at) < OWN_RESTOCK_ECHO
                    });
                    if !echo {
                        self.restocks.insert(
                            p.id,
                            RestockSeen {
                                wall,
                                at: now,
                                from: Some(b),
                                to: p.stock,
                                ours: false,
                            },
                        );
                    }
                }
                _ => {}
            }
        }
        let total: i64 = products.iter().map(|p| i64::from(p.stock)).sum();
        if self.total_stock.last() != Some(total as f64) {
            self.total_stock.push(now, total as f64);
        }
    }

    /// A restock done from this dashboard; `from` is the stock it last showed.
    pub fn restocked(
        &mut self,
        now: Instant,
        wall: DateTime<Utc>,
        id: i32,
        from: Option<i32>,
        to: i32,
    ) {
        self.restocks.insert(
            id,
            RestockSeen {
                wall,
                at: now,
                from,
                to,
                ours: true,
            },
        );
    }

    /// A running burst's counts so far.
    pub fn progress(&mut self, now: Instant, counts: &flashsale_burst::Counts) {
        let (p, s, e) = self.counted;
        let (dp, ds, de) = (
            counts.purchased.saturating_sub(p),
            counts.sold_out.saturating_sub(s),
            counts.errors().saturating_sub(e),
        );
        for (ring, d) in [
            (&mut self.purchases, dp),
            (&mut self.sold_out, ds),
            (&mut self.errors, de),
        ] {
            if d > 0 {
                ring.push(now, d as f64);
            }
        }
        self.counted = (counts.purchased, counts.sold_out, counts.errors());
    }

    /// A burst ended with this report: its counts go to its products, and the next burst
    /// counts from zero.
    pub fn finished(&mut self, report: &flashsale_burst::BurstReport) {
        self.counted = (0, 0, 0);
        let errors = report.busy + report.failed;
        let products = if report.products.is_empty() {
            vec![report.product_id]
        } else {
            report.products.clone()
        };
        for id in products {
            let b = self.bursts.entry(id).or_default();
            b.bursts += 1;
            b.purchased += report.purchased;
            b.sold_out += report.sold_out;
            b.rate_limited += report.rate_limited;
            b.errors += errors;
        }
    }

    /// Units of `id` sold per minute over the last minute, from the stock samples.
    pub fn per_minute(&self, id: i32, now: Instant) -> f64 {
        self.sold
            .get(&id)
            .map_or(0.0, |r| r.rates(now, Duration::from_secs(60), 1)[0] * 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_core::money::Money;

    fn product(id: i32, stock: i32) -> Product {
        Product {
            id,
            name: format!("P{id}"),
            price: Money::from_cents(100),
            stock,
        }
    }

    #[test]
    fn a_ring_keeps_fifteen_minutes_and_at_most_its_bound() {
        let t0 = Instant::now();
        let mut r = Ring::default();
        for s in 0..2_000u64 {
            r.push(t0 + Duration::from_secs(s), s as f64);
        }
        // 15 minutes of 1 s samples, plus the level the span starts at.
        assert_eq!(r.len(), 902);
        let mut fast = Ring::default();
        for i in 0..10_000u64 {
            fast.push(t0 + Duration::from_millis(i * 10), 1.0);
        }
        assert_eq!(fast.len(), RING_MAX, "bounded in length too");
    }

    #[test]
    fn levels_carry_the_last_sample_and_are_none_before_the_first() {
        let t0 = Instant::now();
        let mut r = Ring::default();
        r.push(t0 + Duration::from_secs(15), 10.0);
        r.push(t0 + Duration::from_secs(30), 4.0);
        let now = t0 + Duration::from_secs(60);
        // One minute in six columns of 10 s: ends at ages 50, 40, ..., 0.
        let l = r.levels(now, Range::One.duration(), 6);
        assert_eq!(
            l,
            [None, Some(10.0), Some(4.0), Some(4.0), Some(4.0), Some(4.0)]
        );
        // Over five minutes both samples fall in the last column's slice.
        let l = r.levels(now, Range::Five.duration(), 5);
        assert_eq!(l, [None, None, None, None, Some(4.0)]);
    }

    #[test]
    fn rates_divide_each_slice_by_its_seconds_and_the_range_picks_the_slices() {
        let t0 = Instant::now();
        let mut r = Ring::default();
        r.push(t0, 30.0);
        r.push(t0 + Duration::from_secs(100), 60.0);
        let now = t0 + Duration::from_secs(119);
        // 1 minute, 2 columns of 30 s: the 60 is 19 s old, the 30 out of range.
        assert_eq!(r.rates(now, Range::One.duration(), 2), [0.0, 2.0]);
        // 15 minutes, 3 columns of 300 s: both in the last.
        let all = r.rates(now, Range::Fifteen.duration(), 3);
        assert!((all[2] - 0.3).abs() < 1e-9, "{all:?}");
    }

    #[test]
    fn the_range_cycles_one_five_fifteen() {
        let r = Range::default();
        assert_eq!(r, Range::Five);
        assert_eq!(r.next().next(), Range::One);
        assert_eq!(r.next().duration(), Duration::from_secs(900));
    }

    #[test]
    fn stock_samples_give_sales_and_rises_someone_elses_restock() {
        let t0 = Instant::now();
        let wall = Utc::now();
        let mut h = History::default();
        h.saw_stock(t0, wall, &[product(1, 50), product(2, 5)]);
        h.saw_stock(
            t0 + Duration::from_secs(10),
            wall,
            &[product(1, 44), product(2, 5)],
        );
        let now = t0 + Duration::from_secs(20);
        assert!((h.per_minute(1, now) - 6.0).abs() < 1e-9);
        assert_eq!(h.stock[&2].len(), 1, "unchanged stock is not sampled again");
        assert_eq!(h.total_stock.last(), Some(49.0));
        // Our restock to 100, then the sample showing it: not someone else's.
        h.restocked(now, wall, 1, Some(44), 100);
        h.saw_stock(now, wall, &[product(1, 100), product(2, 5)]);
        assert!(h.restocks[&1].ours);
        h.saw_stock(now, wall, &[product(1, 100), product(2, 40)]);
        let r = h.restocks[&2];
        assert_eq!((r.from, r.to, r.ours), (Some(5), 40, false));
    }
}
