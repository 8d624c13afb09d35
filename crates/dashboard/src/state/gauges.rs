//! What a Stock gauge measures against (its 100%). Not the stock seen at start: joining a sale
//! under way, that is already low, and every gauge would read full. The reference is the stock
//! the product had before its known sales: the stock now plus the units sold since the
//! reference point (the beginning, or the last restock), and never less than the largest stock
//! seen since then. So a product at 3 with 497 sold shows a near-empty gauge at first sight, and
//! a restock (here, or seen as a rise elsewhere) starts a full one.

use std::collections::BTreeMap;

use flashsale_core::model::Product;
use flashsale_monitor::SalesSnapshot;

/// One product's reference point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaugeRef {
    /// The largest stock seen since the reference point.
    pub seen: i32,
    /// The stock at the last poll: a rise above it is a restock.
    pub last: i32,
    /// Units sold (all time) at the reference point: 0 for "since the beginning"; `None` when
    /// the sales were not known then (only `seen` counts).
    pub sold_at: Option<i64>,
}

/// Every product's reference point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    refs: BTreeMap<i32, GaugeRef>,
}

fn units(sales: Option<&SalesSnapshot>, id: i32) -> Option<i64> {
    sales?.of(id).map(|s| s.units.max(0))
}

impl Gauges {
    /// The gauge's 100% for `p`: at least 1, at least its stock.
    pub fn full(&self, p: &Product, sales: Option<&SalesSnapshot>) -> i32 {
        let Some(r) = self.refs.get(&p.id) else {
            return p.stock.max(1);
        };
        let sold_since = match (r.sold_at, units(sales, p.id)) {
            (Some(at), Some(now)) => now.saturating_sub(at).max(0),
            _ => 0,
        };
        let before_sales = i64::from(p.stock.max(0)).saturating_add(sold_since);
        let before_sales = i32::try_from(before_sales).unwrap_or(i32::MAX);
        r.seen.max(before_sales).max(p.stock).max(1)
    }

    /// A stock poll: a product seen for the first time is measured from the beginning of its
    /// sales; a stock above the last poll's is a restock made elsewhere, and starts afresh.
    pub fn saw(&mut self, products: &[Product], sales: Option<&SalesSnapshot>) {
        for p in products {
            match self.refs.get_mut(&p.id) {
                None => {
                    self.refs.insert(
                        p.id,
                        GaugeRef {
                            seen: p.stock,
                            last: p.stock,
                            sold_at: Some(0),
                        },
                    );
                }
                Some(r) if p.stock <= r.last => {
                    r.seen = r.seen.max(p.stock);
                    r.last = p.stock;
                }
                Some(_) => self.restocked(p.id, p.stock, sales),
            }
        }
    }

    /// A restock to `stock`: the gauge is full again, and measures the sales from here on.
    pub fn restocked(&mut self, id: i32, stock: i32, sales: Option<&SalesSnapshot>) {
        self.refs.insert(
            id,
            GaugeRef {
                seen: stock,
                last: stock,
                sold_at: units(sales, id),
            },
        );
    }

    /// One product's reference point, if it has been seen.
    pub fn get(&self, id: i32) -> Option<GaugeRef> {
        self.refs.get(&id).copied()
    }

    /// Sets a reference point (tests and fixtures that start from a given stock).
    pub fn set(&mut self, id: i32, r: GaugeRef) {
        self.refs.insert(id, r);
    }

    /// Forgets every reference point.
    pub fn clear(&mut self) {
        self.refs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_core::money::Money;
    use flashsale_monitor::SalesCoverage;
    use flashsale_monitor::sales::ProductSales;

    fn product(id: i32, stock: i32) -> Product {
        Product {
            id,
            name: format!("P{id}"),
            price: Money::from_cents(100),
            stock,
        }
    }

    fn sold(id: i32, units: i64) -> SalesSnapshot {
        SalesSnapshot {
            products: vec![ProductSales {
                product_id: id,
                units,
                revenue: Money::ZERO,
                units_last_minute: 0,
            }],
            coverage: SalesCoverage::AllProducts,
            ..SalesSnapshot::default()
        }
    }

    #[test]
    fn joining_a_sale_under_way_shows_what_is_left_of_the_stock_before_its_sales() {
        let mut g = Gauges::default();
        let p = product(1, 3);
        let sales = sold(1, 497);
        g.saw(std::slice::from_ref(&p), Some(&sales));
        assert_eq!(g.full(&p, Some(&sales)), 500, "3 of 500: near empty");
        // Before the sales are known, the stock seen is all there is.
        let mut g = Gauges::default();
        g.saw(std::slice::from_ref(&p), None);
        assert_eq!(g.full(&p, None), 3);
        assert_eq!(g.full(&p, Some(&sales)), 500, "once they are");
    }

    #[test]
    fn selling_keeps_the_reference_and_a_restock_starts_a_full_gauge() {
        let mut g = Gauges::default();
        g.saw(&[product(1, 100)], Some(&sold(1, 0)));
        // 60 sold: the stock polls and the tally agree on 160... of 100.
        let p = product(1, 40);
        g.saw(std::slice::from_ref(&p), Some(&sold(1, 60)));
        assert_eq!(g.full(&p, Some(&sold(1, 60))), 100);
        // Restocked here to 80: full, and the 60 sold before no longer count.
        g.restocked(1, 80, Some(&sold(1, 60)));
        let p = product(1, 80);
        assert_eq!(g.full(&p, Some(&sold(1, 60))), 80);
        let p = product(1, 70);
        assert_eq!(g.full(&p, Some(&sold(1, 70))), 80);
        // Restocked elsewhere to 500 (a rise the polls see): full again.
        let p = product(1, 500);
        g.saw(std::slice::from_ref(&p), Some(&sold(1, 70)));
        assert_eq!(g.full(&p, Some(&sold(1, 70))), 500);
    }

    #[test]
    fn unknown_sales_fall_back_to_the_largest_stock_seen() {
        let mut g = Gauges::default();
        g.saw(&[product(2, 25)], None);
        let p = product(2, 5);
        g.saw(std::slice::from_ref(&p), None);
        assert_eq!(g.full(&p, None), 25);
        assert_eq!(g.full(&product(9, 0), None), 1, "never seen, never zero");
    }
}
