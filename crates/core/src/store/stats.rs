//! The reference admin statistics from the raw pieces each engine reads, and the LIKE pattern
//! the audit selects a run's orders with.

use chrono::NaiveDate;

use crate::model::{DayRevenue, Stats, TopProduct};
use crate::money::Money;

/// A LIKE pattern matching strings that start with `prefix`, with `\` as the escape.
pub(crate) fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The raw pieces of [`Stats`] as each backend reads them.
#[derive(Debug, Default)]
pub(crate) struct StatsParts {
    pub total_revenue_cents: i64,
    pub total_units: i64,
    /// (id, name, units, revenue cents), best first, at most three.
    pub top: Vec<(i32, String, i64, i64)>,
    /// (YYYY-MM-DD, revenue cents, units) for days on or after `since` that had sales.
    pub days: Vec<(String, i64, i64)>,
}

impl StatsParts {
    pub(crate) fn into_stats(self, since: NaiveDate, today: NaiveDate) -> Stats {
        let revenue_by_day = since
            .iter_days()
            .take_while(|d| *d <= today)
            .map(|d| {
                let date = d.format("%Y-%m-%d").to_string();
                let (revenue, units) = self
                    .days
                    .iter()
                    .find(|(day, _, _)| *day == date)
                    .map(|(_, r, u)| (*r, *u))
                    .unwrap_or((0, 0));
                DayRevenue {
                    date,
                    revenue: Money::from_cents(revenue),
                    units,
                }
            })
            .collect();
        Stats {
            total_revenue: Money::from_cents(self.total_revenue_cents),
            total_units_sold: self.total_units,
            top_products: self
                .top
                .into_iter()
                .map(|(id, name, total_sold, revenue)| TopProduct {
                    id,
                    name,
                    total_sold,
                    revenue: Money::from_cents(revenue),
                })
                .collect(),
            revenue_by_day,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_prefix_escapes_wildcards() {
        assert_eq!(like_prefix("burst_1%"), "burst\\_1\\%%");
        assert_eq!(like_prefix("b-1-"), "b-1-%");
    }

    #[test]
    fn stats_fill_every_day_oldest_first() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let since = today - chrono::Days::new(6);
        let parts = StatsParts {
            days: vec![("2026-11-23".into(), 500, 2)],
            ..Default::default()
        };
        let stats = parts.into_stats(since, today);
        assert_eq!(stats.revenue_by_day.len(), 7);
        assert_eq!(stats.revenue_by_day[0].date, "2026-11-19");
        assert_eq!(stats.revenue_by_day[6].date, "2026-11-25");
        assert_eq!(stats.revenue_by_day[4].revenue, Money::from_cents(500));
        assert_eq!(stats.revenue_by_day[5].revenue, Money::ZERO);
    }
}
