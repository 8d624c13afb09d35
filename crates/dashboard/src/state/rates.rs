//! Sell rates over the API: the server's statistics list only its top products and no rates,
//! so the rate of every product is read off the stock polls instead, as units seen leaving
//! stock over the last minute. A rise (a restock) counts as nothing sold; stock that falls and
//! is restocked between two polls is missed. Pure: `App::update` feeds it the polls.

use std::collections::BTreeMap;
use std::time::Instant;

use flashsale_core::model::Product;
use flashsale_monitor::rate_window::RateWindow;

#[derive(Debug, Clone, Default)]
pub struct SellRates {
    /// Each product's stock at the last poll.
    last: BTreeMap<i32, i32>,
    /// Units seen leaving each product's stock since it was first seen.
    gone: BTreeMap<i32, i64>,
    window: RateWindow,
    per_minute: BTreeMap<i32, i64>,
}

impl SellRates {
    /// Counts one stock poll taken at `now`.
    pub fn record(&mut self, now: Instant, products: &[Product]) {
        for p in products {
            let gone = self.gone.entry(p.id).or_default();
            if let Some(before) = self.last.insert(p.id, p.stock)
                && p.stock < before
            {
                *gone += i64::from(before - p.stock);
            }
        }
        self.per_minute = self.window.record(now, &self.gone);
    }

    /// Units of product `id` seen sold over the last minute; `None` before its first poll.
    pub fn per_minute(&self, id: i32) -> Option<i64> {
        self.per_minute.get(&id).copied()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use flashsale_core::money::Money;

    fn poll(stocks: &[(i32, i32)]) -> Vec<Product> {
        stocks
            .iter()
            .map(|(id, stock)| Product {
                id: *id,
                name: format!("P{id}"),
                price: Money::from_cents(100),
                stock: *stock,
            })
            .collect()
    }

    #[test]
    fn units_leaving_stock_over_a_minute_are_the_rate_and_restocks_are_not_sales() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut r = SellRates::default();
        assert_eq!(r.per_minute(1), None);
        r.record(at(0), &poll(&[(1, 100), (2, 25)]));
        assert_eq!(r.per_minute(1), Some(0));
        r.record(at(10), &poll(&[(1, 80), (2, 25)]));
        // Restocked to 90, then 5 sold: the 20 and the 5 count, the restock does not.
        r.record(at(20), &poll(&[(1, 90), (2, 25)]));
        r.record(at(30), &poll(&[(1, 85), (2, 20)]));
        assert_eq!((r.per_minute(1), r.per_minute(2)), (Some(25), Some(5)));
        // A minute later the first 20 have left the window.
        r.record(at(75), &poll(&[(1, 85), (2, 20)]));
        assert_eq!(r.per_minute(1), Some(5));
        assert_eq!(r.per_minute(3), None, "never polled");
    }
}
