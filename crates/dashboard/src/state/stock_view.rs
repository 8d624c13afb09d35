//! How the Stock table is looked at: a filter typed after `/` and the column it is sorted by.
//! The products stay in the state as polled; the view is an order of their indices, so the
//! selection (an index into the products, the burst target) survives re-sorting and polls.

use std::cmp::Ordering;

use super::State;
use flashsale_core::model::Product;

/// The columns the table sorts by, in the order `o` steps through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// As the store lists them (by id).
    #[default]
    Listed,
    Name,
    Price,
    Stock,
    /// Stock against its gauge's 100%.
    Left,
    Sold,
    PerMin,
    /// Time to sell out at the last minute's rate.
    Out,
}

impl SortBy {
    const ALL: [SortBy; 8] = [
        SortBy::Listed,
        SortBy::Name,
        SortBy::Price,
        SortBy::Stock,
        SortBy::Left,
        SortBy::Sold,
        SortBy::PerMin,
        SortBy::Out,
    ];

    pub fn next(self) -> SortBy {
        let i = SortBy::ALL.iter().position(|s| *s == self).unwrap_or(0);
        SortBy::ALL[(i + 1) % SortBy::ALL.len()]
    }

    /// The column's header, as the table shows it.
    pub fn word(self) -> &'static str {
        match self {
            SortBy::Listed => "id",
            SortBy::Name => "product",
            SortBy::Price => "price",
            SortBy::Stock => "stock",
            SortBy::Left => "left",
            SortBy::Sold => "sold",
            SortBy::PerMin => "/min",
            SortBy::Out => "out",
        }
    }
}

/// The Stock table's filter and order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StockView {
    /// Products whose name or id contains this (any case); empty: all.
    pub filter: String,
    /// `/` was pressed: keys type into the filter until Enter (keep) or Esc (clear).
    pub typing: bool,
    pub sort: SortBy,
    pub descending: bool,
}

impl StockView {
    /// Whether the filter's line is drawn above the table: while typing, or while one applies.
    pub fn shows_filter(&self) -> bool {
        self.typing || !self.filter.is_empty()
    }

    pub fn matches(&self, p: &Product) -> bool {
        let f = self.filter.trim().to_lowercase();
        f.is_empty()
            || p.name.to_lowercase().contains(&f)
            || f.strip_prefix('#').unwrap_or(&f) == p.id.to_string()
    }
}

impl State {
    /// The products shown, as indices into the stock list, in the table's order.
    pub fn shown_products(&self) -> Vec<usize> {
        let Some(products) = self.stock.value.as_ref() else {
            return Vec::new();
        };
        let view = &self.stock_view;
        let mut shown: Vec<usize> = (0..products.len())
            .filter(|&i| view.matches(&products[i]))
            .collect();
        let key = |i: usize| self.sort_key(&products[i]);
        shown.sort_by(|&a, &b| {
            let o = match (key(a), key(b)) {
                (Some(x), Some(y)) => {
                    let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                    if view.descending { o.reverse() } else { o }
                }
                // Unknown figures (`—`) after every known one, whichever way the column sorts.
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            // Equal keys keep the listed order.
            o.then(a.cmp(&b))
        });
        shown
    }

    /// Where the selected product is among those shown.
    pub fn selected_position(&self, shown: &[usize]) -> Option<usize> {
        shown.iter().position(|&i| i == self.selected)
    }

    /// `p`'s value in the sorted column; `None` when unknown.
    fn sort_key(&self, p: &Product) -> Option<SortKey> {
        let number = |n: f64| Some(SortKey::Number(n));
        match self.stock_view.sort {
            SortBy::Listed => number(f64::from(p.id)),
            SortBy::Name => Some(SortKey::Text(p.name.to_lowercase())),
            SortBy::Price => number(p.price.cents() as f64),
            SortBy::Stock => number(f64::from(p.stock)),
            SortBy::Left => number(f64::from(p.stock) / f64::from(self.gauge_full(p).max(1))),
            SortBy::Sold => number(self.units_sold(p)? as f64),
            SortBy::PerMin => number(self.sold_per_minute(p)? as f64),
            // Soonest first; a product that does not sell never sells out.
            SortBy::Out => number(match self.sold_per_minute(p) {
                _ if p.stock <= 0 => 0.0,
                Some(rate) if rate > 0 => f64::from(p.stock) / rate as f64,
                _ => f64::INFINITY,
            }),
        }
    }

    /// Units sold of `p`: `None` over the API for a product outside the server's top list (a
    /// zero there would be a guess).
    pub fn units_sold(&self, p: &Product) -> Option<i64> {
        match self.sales.value.as_ref() {
            Some(x) => x.of(p.id).map(|q| q.units.max(0)),
            None if self.over_api() => None,
            None => Some(0),
        }
    }

    /// Units of `p` sold over the last minute (over the API, from the stock polls).
    pub fn sold_per_minute(&self, p: &Product) -> Option<i64> {
        if self.over_api() {
            return self.sell_rates.per_minute(p.id);
        }
        match self.sales.value.as_ref() {
            Some(x) => x.of(p.id).map(|q| q.units_last_minute),
            None => Some(0),
        }
    }
}

/// A column's value for sorting.
#[derive(Debug, PartialEq, PartialOrd)]
enum SortKey {
    Number(f64),
    Text(String),
}
