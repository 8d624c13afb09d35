//! A partitioned `orders` (PostgreSQL only): range partitions by `created_at`, one per calendar
//! month (`orders_p2026_12`), and a DEFAULT partition (`orders_default`) that takes any order
//! no month was created for, so a purchase never fails for want of a partition. What a run was
//! asked to do ([`PartitionPlan`]), what it did ([`PartitionReport`]), and the month arithmetic;
//! the SQL is `postgres/pg_partitions.rs`.

use chrono::{Datelike, Months, NaiveDate};

/// Months created ahead of the current one by default: a year in which nobody has to remember
/// `flashsale db partitions` before orders start landing in the default partition.
pub const MONTHS_AHEAD: u32 = 12;

/// Months kept before the current one when converting a table that holds orders: older orders
/// go to the default partition (a few scans of it in a report are cheaper than hundreds of
/// partitions each planned into every statistics query).
pub const MONTHS_BACK_MAX: u32 = 36;

/// The name of the default partition.
pub const DEFAULT_PARTITION: &str = "orders_default";

/// What to do with an `orders` table that is not partitioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// Nothing: only a partitioned table is worked on (`db partitions`); an ordinary one is an
    /// error.
    Never,
    /// Rebuild it partitioned when it holds no order (a fresh `db init --partitioned`); one
    /// with orders is refused, untouched.
    IfEmpty,
    /// Rebuild it partitioned, copying every order in one transaction (`--copy-orders`):
    /// purchases wait on its lock until it commits.
    Copy,
}

/// One run of [`Store::partition_orders`](super::Store::partition_orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionPlan {
    pub conversion: Conversion,
    /// Months to have a partition of their own after the current one.
    pub months_ahead: u32,
}

impl Default for PartitionPlan {
    fn default() -> Self {
        Self {
            conversion: Conversion::IfEmpty,
            months_ahead: MONTHS_AHEAD,
        }
    }
}

/// What a run found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionReport {
    /// Orders copied into the partitioned table, when this run converted an ordinary one
    /// (`Some(0)` for an empty one).
    pub converted: Option<u64>,
    /// Monthly partitions this run created, oldest first.
    pub created: Vec<String>,
    /// Orders moved out of the default partition into a month created for them.
    pub moved_from_default: u64,
    /// Monthly partitions there are now.
    pub months: usize,
    /// The first day of the latest month with a partition of its own (`None`: none has).
    pub last_month: Option<NaiveDate>,
    /// Orders in the default partition now.
    pub in_default: i64,
}

/// The first day of `d`'s month.
pub(crate) fn month_of(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// The first day of the month after `month`'s (saturating at chrono's last date).
pub(crate) fn next_month(month: NaiveDate) -> NaiveDate {
    month_of(month)
        .checked_add_months(Months::new(1))
        .unwrap_or(NaiveDate::MAX)
}

/// The months to have a partition for: from `oldest`'s (an order's date, when converting a
/// table with orders; never more than [`MONTHS_BACK_MAX`] back, nor later than the previous
/// month, whose last days the sample orders reach) through `months_ahead` after `today`'s.
pub(crate) fn months_wanted(
    today: NaiveDate,
    oldest: Option<NaiveDate>,
    months_ahead: u32,
) -> Vec<NaiveDate> {
    let this = month_of(today);
    let back = |n| this.checked_sub_months(Months::new(n)).unwrap_or(this);
    let floor = back(MONTHS_BACK_MAX);
    let first = oldest
        .map_or(back(1), |o| month_of(o).min(back(1)))
        .max(floor);
    let last = this
        .checked_add_months(Months::new(months_ahead))
        .unwrap_or(this);
    let mut out = Vec::new();
    let mut m = first;
    while m <= last {
        out.push(m);
        m = next_month(m);
    }
    out
}

/// A month's partition: `orders_p2026_12`.
pub(crate) fn partition_name(month: NaiveDate) -> String {
    format!("orders_p{:04}_{:02}", month.year(), month.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn a_fresh_table_gets_last_month_through_a_year_ahead() {
        let months = months_wanted(day(2026, 12, 3), None, 12);
        assert_eq!(months.first(), Some(&day(2026, 11, 1)));
        assert_eq!(months.last(), Some(&day(2027, 12, 1)));
        assert_eq!(months.len(), 14);
        assert_eq!(partition_name(months[1]), "orders_p2026_12");
        assert_eq!(partition_name(months[2]), "orders_p2027_01");
    }

    #[test]
    fn old_orders_reach_back_to_their_month_but_no_further_than_the_floor() {
        let months = months_wanted(day(2026, 12, 3), Some(day(2026, 3, 17)), 0);
        assert_eq!(months.first(), Some(&day(2026, 3, 1)));
        assert_eq!(months.last(), Some(&day(2026, 12, 1)));
        let months = months_wanted(day(2026, 12, 3), Some(day(1999, 1, 1)), 0);
        assert_eq!(months.first(), Some(&day(2023, 12, 1)));
    }

    #[test]
    fn the_month_after_december_is_january() {
        assert_eq!(next_month(day(2026, 12, 31)), day(2027, 1, 1));
        assert_eq!(month_of(day(2027, 2, 28)), day(2027, 2, 1));
    }
}
