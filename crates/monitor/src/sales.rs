//! The incremental sales aggregate: a baseline read once, then only new orders. Order ids are
//! handed out when an order is inserted but become visible when its transaction commits, so a
//! lower id can appear after a higher one. The tally therefore remembers the ids it has not seen
//! below its high watermark ("missing") and asks for exactly those again on every poll, for a
//! bounded time: an id missing for longer than [`GAP_TTL`] belonged to a rolled-back
//! transaction (or one so long that it is reported as given up). Each poll's cost is the new rows
//! plus the missing ids, never the table.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde::Serialize;

use flashsale_core::model::REVENUE_DAYS;
use flashsale_core::money::Money;
use flashsale_core::store::{OrderRow, SalesBaseline};

/// Ids just below the baseline's highest id that are checked for transactions still in flight.
pub const GAP_WINDOW: i64 = 10_000;
/// How long a missing id is looked for before it is taken as rolled back.
pub const GAP_TTL: Duration = Duration::from_secs(60);
/// The most missing ids remembered; beyond this the oldest are given up (bounded memory and a
/// bounded `IN` list, whatever the sequence does).
pub const MAX_MISSING: usize = 10_000;
/// New rows read per poll at most; a full batch means "poll again at once".
pub const BATCH: i64 = 5_000;
/// The sell-rate window.
const RATE_SECS: u64 = 60;

/// Sales of one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductSales {
    pub product_id: i32,
    pub units: i64,
    pub revenue: Money,
    /// Units seen sold over the last minute (by when the dashboard saw them).
    pub units_last_minute: i64,
}

/// One day of the revenue chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaySales {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub revenue: Money,
    pub units: i64,
}

/// What a [`SalesSnapshot`]'s products cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SalesCoverage {
    /// Every product that sold, with its revenue (counted from the orders).
    #[default]
    AllProducts,
    /// Only the server's top products, without their revenue (its statistics over the API);
    /// any other product's sales are unknown, not zero.
    TopProducts,
}

/// What the sales panes show, as of one poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SalesSnapshot {
    pub total_revenue: Money,
    pub total_units_sold: i64,
    /// Every product that sold, by units (best first, then id).
    pub products: Vec<ProductSales>,
    /// The last 7 UTC days, oldest first, days without sales included with zero.
    pub revenue_by_day: Vec<DaySales>,
    /// Every order id up to this one has been counted or is being watched for.
    pub watermark: i64,
    /// Ids below the watermark not yet seen (transactions in flight or rolled back).
    pub watching_ids: usize,
    /// Ids given up on after [`GAP_TTL`] (or to stay within [`MAX_MISSING`]).
    pub given_up_ids: u64,
    #[serde(skip)]
    pub coverage: SalesCoverage,
}

impl SalesSnapshot {
    /// The sales of product `id`: `None` when they are not known (not among the top products
    /// the server lists), zero when it sold nothing.
    pub fn of(&self, id: i32) -> Option<ProductSales> {
        let zero = ProductSales {
            product_id: id,
            units: 0,
            revenue: flashsale_core::money::Money::ZERO,
            units_last_minute: 0,
        };
        match self.products.iter().find(|p| p.product_id == id) {
            Some(p) => Some(*p),
            None if self.coverage == SalesCoverage::AllProducts => Some(zero),
            None => None,
        }
    }
}

/// The running aggregate. Pure: every method takes the time, none does I/O.
#[derive(Debug, Clone)]
pub struct SalesTally {
    high: i64,
    missing: BTreeMap<i64, Instant>,
    units: i64,
    cents: i64,
    per_product: BTreeMap<i32, (i64, i64)>,
    per_day: BTreeMap<String, (i64, i64)>,
    /// Units per product seen in each second, for the sell rate.
    recent: VecDeque<(u64, BTreeMap<i32, i64>)>,
    origin: Instant,
    given_up: u64,
}

impl SalesTally {
    /// Starts from a baseline. Ids in the window below its highest id that the snapshot did not
    /// hold are watched: their transactions were still running.
    pub fn from_baseline(b: &SalesBaseline, now: Instant) -> Self {
        let mut t = SalesTally {
            high: b.max_id,
            missing: BTreeMap::new(),
            units: 0,
            cents: 0,
            per_product: BTreeMap::new(),
            per_day: BTreeMap::new(),
            recent: VecDeque::new(),
            origin: now,
            given_up: 0,
        };
        for p in &b.per_product {
            t.units += p.units;
            t.cents += p.cents;
            t.per_product.insert(p.product_id, (p.units, p.cents));
        }
        for d in &b.per_day {
            t.per_day.insert(d.day.clone(), (d.cents, d.units));
        }
        let present: BTreeSet<i64> = b.present_near_top.iter().copied().collect();
        let low = b.max_id.saturating_sub(GAP_WINDOW).max(0);
        t.watch_range(low, b.max_id, &present, now);
        t
    }

    /// The watermark: ask for orders above it.
    pub fn high(&self) -> i64 {
        self.high
    }

    /// The ids to ask for again.
    pub fn missing(&self) -> Vec<i64> {
        self.missing.keys().copied().collect()
    }

    /// Counts the rows of one poll (rows above the watermark, lowest first, and any missing ids
    /// that appeared). Rows already counted are ignored, so a row is never counted twice.
    pub fn apply(&mut self, rows: &[OrderRow], now: Instant) {
        let mut rows: Vec<&OrderRow> = rows.iter().collect();
        rows.sort_unstable_by_key(|r| r.id);
        let old_high = self.high;
        let mut above = BTreeSet::new();
        for r in rows {
            let fresh = if r.id > old_high {
                above.insert(r.id)
            } else {
                self.missing.remove(&r.id).is_some()
            };
            if fresh {
                self.count(r, now);
            }
        }
        if let Some(&new_high) = above.last() {
            self.watch_range(old_high, new_high, &above, now);
            self.high = new_high;
        }
        self.expire(now);
    }

    fn count(&mut self, r: &OrderRow, now: Instant) {
        let units = i64::from(r.quantity);
        self.units += units;
        self.cents += r.cents;
        let p = self.per_product.entry(r.product_id).or_default();
        p.0 += units;
        p.1 += r.cents;
        let d = self.per_day.entry(r.day.clone()).or_default();
        d.0 += r.cents;
        d.1 += units;
        let second = self.second(now);
        if self.recent.back().is_none_or(|(s, _)| *s != second) {
            self.recent.push_back((second, BTreeMap::new()));
        }
        if let Some((_, m)) = self.recent.back_mut() {
            *m.entry(r.product_id).or_default() += units;
        }
    }

    /// Watches every id in `(low, high)` not in `present` (`high` itself is present or is the
    /// snapshot's maximum). A huge jump in the sequence only has its top ids watched.
    fn watch_range(&mut self, low: i64, high: i64, present: &BTreeSet<i64>, now: Instant) {
        let from = (low + 1).max(high.saturating_sub(MAX_MISSING as i64));
        if from > low + 1 {
            self.given_up += (from - low - 1) as u64;
        }
        for id in from..high {
            if !present.contains(&id) {
                self.missing.insert(id, now);
            }
        }
        while self.missing.len() > MAX_MISSING {
            self.missing.pop_first();
            self.given_up += 1;
        }
    }

    fn expire(&mut self, now: Instant) {
        let before = self.missing.len();
        self.missing
            .retain(|_, since| now.saturating_duration_since(*since) < GAP_TTL);
        self.given_up += (before - self.missing.len()) as u64;
        let second = self.second(now);
        while self
            .recent
            .front()
            .is_some_and(|(s, _)| second.saturating_sub(*s) >= RATE_SECS)
        {
            self.recent.pop_front();
        }
    }

    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_secs()
    }

    /// The panes' figures at `now`, with the revenue chart ending on `today` (UTC).
    pub fn snapshot(&self, now: Instant, today: NaiveDate) -> SalesSnapshot {
        let second = self.second(now);
        let mut last_minute: BTreeMap<i32, i64> = BTreeMap::new();
        for (s, m) in &self.recent {
            if second.saturating_sub(*s) < RATE_SECS {
                for (id, units) in m {
                    *last_minute.entry(*id).or_default() += units;
                }
            }
        }
        let mut products: Vec<ProductSales> = self
            .per_product
            .iter()
            .map(|(id, (units, cents))| ProductSales {
                product_id: *id,
                units: *units,
                revenue: Money::from_cents(*cents),
                units_last_minute: last_minute.get(id).copied().unwrap_or(0),
            })
            .collect();
        products.sort_by(|a, b| b.units.cmp(&a.units).then(a.product_id.cmp(&b.product_id)));
        let since = today - chrono::Days::new((REVENUE_DAYS - 1) as u64);
        let revenue_by_day = since
            .iter_days()
            .take_while(|d| *d <= today)
            .map(|d| {
                let date = d.format("%Y-%m-%d").to_string();
                let (cents, units) = self.per_day.get(&date).copied().unwrap_or((0, 0));
                DaySales {
                    date,
                    revenue: Money::from_cents(cents),
                    units,
                }
            })
            .collect();
        SalesSnapshot {
            total_revenue: Money::from_cents(self.cents),
            total_units_sold: self.units,
            products,
            revenue_by_day,
            watermark: self.high,
            watching_ids: self.missing.len(),
            given_up_ids: self.given_up,
            coverage: SalesCoverage::AllProducts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_core::store::{DayTotals, ProductTotals};

    fn row(id: i64, product_id: i32, quantity: i32) -> OrderRow {
        OrderRow {
            id,
            product_id,
            quantity,
            cents: i64::from(quantity) * 100,
            day: "2026-11-25".into(),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).expect("date")
    }

    fn baseline() -> SalesBaseline {
        SalesBaseline {
            max_id: 5,
            per_product: vec![ProductTotals {
                product_id: 1,
                units: 7,
                cents: 700,
            }],
            per_day: vec![DayTotals {
                day: "2026-11-24".into(),
                cents: 700,
                units: 7,
            }],
            // Id 4 belongs to a transaction still running when the baseline was read.
            present_near_top: vec![1, 2, 3, 5],
        }
    }

    #[test]
    fn an_order_committed_after_a_higher_id_is_still_counted_once() {
        let t0 = Instant::now();
        let mut t = SalesTally::from_baseline(&baseline(), t0);
        assert_eq!(t.missing(), [4]);
        t.apply(&[row(6, 1, 1), row(8, 2, 2)], t0);
        assert_eq!(t.high(), 8);
        assert_eq!(t.missing(), [4, 7]);
        // 7 commits late, 4 commits later still; 8 is read again and must not count twice.
        t.apply(&[row(7, 1, 1), row(8, 2, 2)], t0 + Duration::from_secs(1));
        t.apply(&[row(4, 2, 3)], t0 + Duration::from_secs(2));
        let s = t.snapshot(t0 + Duration::from_secs(2), today());
        assert_eq!(s.total_units_sold, 7 + 1 + 2 + 1 + 3);
        assert_eq!(s.total_revenue, Money::from_cents(1400));
        assert_eq!(s.watching_ids, 0);
        assert_eq!(s.products[0].product_id, 1);
        assert_eq!(s.products[0].units, 9);
        assert_eq!(s.products[1].units, 5);
    }

    #[test]
    fn ids_missing_longer_than_the_ttl_are_given_up() {
        let t0 = Instant::now();
        let mut t = SalesTally::from_baseline(&baseline(), t0);
        t.apply(&[], t0 + GAP_TTL + Duration::from_secs(1));
        let s = t.snapshot(t0, today());
        assert_eq!((s.watching_ids, s.given_up_ids), (0, 1));
    }

    #[test]
    fn a_huge_jump_in_ids_watches_a_bounded_number() {
        let t0 = Instant::now();
        let mut t = SalesTally::from_baseline(&baseline(), t0);
        t.apply(&[row(10_000_000, 1, 1)], t0);
        assert!(t.missing().len() <= MAX_MISSING);
        assert_eq!(t.high(), 10_000_000);
        assert!(t.snapshot(t0, today()).given_up_ids > 0);
    }

    #[test]
    fn sell_rate_counts_the_last_minute_only() {
        let t0 = Instant::now();
        let mut t = SalesTally::from_baseline(&SalesBaseline::default(), t0);
        t.apply(&[row(1, 1, 2)], t0);
        t.apply(&[row(2, 1, 3)], t0 + Duration::from_secs(30));
        let s = t.snapshot(t0 + Duration::from_secs(45), today());
        assert_eq!(s.products[0].units_last_minute, 5);
        t.apply(&[], t0 + Duration::from_secs(75));
        let s = t.snapshot(t0 + Duration::from_secs(75), today());
        assert_eq!(s.products[0].units_last_minute, 3);
        assert_eq!(s.products[0].units, 5);
    }

    #[test]
    fn revenue_by_day_is_seven_days_ending_today() {
        let t0 = Instant::now();
        let t = SalesTally::from_baseline(&baseline(), t0);
        let s = t.snapshot(t0, today());
        assert_eq!(s.revenue_by_day.len(), 7);
        assert_eq!(s.revenue_by_day[0].date, "2026-11-19");
        assert_eq!(s.revenue_by_day[5].revenue, Money::from_cents(700));
        assert_eq!(s.revenue_by_day[6].units, 0);
    }
}
