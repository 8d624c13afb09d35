//! The oversell audit: what the database holds after a run of purchases, checked against the
//! stock there was and against what the buyers were told — independent of the buyers' own
//! counts.

use std::collections::HashSet;

use serde::Serialize;

use crate::store::{Store, StoreError};

/// What the audit needs to know about a run: set before it starts, filled while it runs.
#[derive(Debug, Clone)]
pub struct AuditScope {
    pub product_id: i32,
    /// Stock just before the run.
    pub stock_before: i32,
    /// The highest order id before the run: the run's orders all have larger ids.
    pub after_order_id: i64,
    /// Every buyer of the run has a user id starting with this.
    pub user_prefix: String,
}

impl AuditScope {
    /// Reads the stock and the order-id watermark before a run.
    pub async fn before(
        store: &Store,
        product_id: i32,
        user_prefix: &str,
    ) -> Result<Self, StoreError> {
        let after_order_id = store.max_order_id().await?;
        let stock_before = store.stock(product_id).await?.unwrap_or(0);
        Ok(Self {
            product_id,
            stock_before,
            after_order_id,
            user_prefix: user_prefix.to_string(),
        })
    }
}

/// The verdict. `ok` only when all four counts of wrongdoing are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    pub stock_before: i32,
    pub stock_after: i32,
    /// Units in the orders this run created.
    pub units_sold: i64,
    /// Units sold beyond the stock there was.
    pub oversold: i64,
    /// Units in orders minus the stock actually decremented.
    pub lost_updates: i64,
    /// Orders that exist though their buyer was told the purchase failed.
    pub unacknowledged: i64,
    /// Purchases acknowledged whose order does not exist.
    pub phantom: i64,
    pub ok: bool,
}

impl Audit {
    /// Audits one product after a run; `acknowledged` are the order ids buyers were told of.
    pub async fn run(
        store: &Store,
        scope: &AuditScope,
        acknowledged: &[i64],
    ) -> Result<Audit, StoreError> {
        let orders = store
            .orders_after(scope.product_id, scope.after_order_id, &scope.user_prefix)
            .await?;
        let stock_after = store.stock(scope.product_id).await?.unwrap_or(0);
        let in_db: HashSet<i64> = orders.iter().map(|o| o.id).collect();
        let told: HashSet<i64> = acknowledged.iter().copied().collect();
        let units_sold = orders.iter().map(|o| i64::from(o.quantity)).sum();
        Ok(Audit::compute(
            scope.stock_before,
            stock_after,
            units_sold,
            in_db.difference(&told).count() as i64,
            told.difference(&in_db).count() as i64,
        ))
    }

    /// The verdict from the counts.
    pub fn compute(
        stock_before: i32,
        stock_after: i32,
        units_sold: i64,
        unacknowledged: i64,
        phantom: i64,
    ) -> Audit {
        let decremented = i64::from(stock_before) - i64::from(stock_after);
        let oversold = (units_sold - i64::from(stock_before)).max(0);
        let lost_updates = (units_sold - decremented).max(0);
        Audit {
            stock_before,
            stock_after,
            units_sold,
            oversold,
            lost_updates,
            unacknowledged,
            phantom,
            ok: oversold == 0 && lost_updates == 0 && unacknowledged == 0 && phantom == 0,
        }
    }

    /// Several products' audits as one: counts add up, ok only if every one is ok.
    pub fn combine(audits: &[Audit]) -> Audit {
        let mut total = Audit {
            ok: true,
            ..Audit::default()
        };
        for a in audits {
            total.stock_before += a.stock_before;
            total.stock_after += a.stock_after;
            total.units_sold += a.units_sold;
            total.oversold += a.oversold;
            total.lost_updates += a.lost_updates;
            total.unacknowledged += a.unacknowledged;
            total.phantom += a.phantom;
            total.ok &= a.ok;
        }
        total
    }

    /// The verdict in words: "OK", or what went wrong.
    pub fn verdict(&self) -> String {
        if self.ok {
            return "OK".to_string();
        }
        let mut parts = Vec::new();
        if self.oversold > 0 {
            parts.push(format!("OVERSOLD by {}", self.oversold));
        }
        if self.lost_updates > 0 {
            parts.push(format!("LOST {} updates", self.lost_updates));
        }
        if self.unacknowledged > 0 {
            parts.push(format!("{} UNACKNOWLEDGED orders", self.unacknowledged));
        }
        if self.phantom > 0 {
            parts.push(format!("{} PHANTOM purchases", self.phantom));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_sale_is_ok() {
        let a = Audit::compute(100, 0, 100, 0, 0);
        assert!(a.ok);
        assert_eq!(a.verdict(), "OK");
    }

    #[test]
    fn selling_more_than_stock_is_an_oversell_and_lost_updates() {
        // Ten buyers all read stock 1 and all wrote 0.
        let a = Audit::compute(1, 0, 10, 0, 0);
        assert_eq!(a.oversold, 9);
        assert_eq!(a.lost_updates, 9);
        assert!(!a.ok);
        assert_eq!(a.verdict(), "OVERSOLD by 9, LOST 9 updates");
    }

    #[test]
    fn lost_updates_without_oversell() {
        let a = Audit::compute(5, 4, 2, 0, 0);
        assert_eq!((a.oversold, a.lost_updates, a.ok), (0, 1, false));
    }

    #[test]
    fn told_and_stored_must_agree() {
        assert!(!Audit::compute(5, 4, 1, 1, 0).ok);
        assert!(!Audit::compute(5, 5, 0, 0, 1).ok);
    }

    #[test]
    fn combined_is_ok_only_when_all_are() {
        let good = Audit::compute(5, 0, 5, 0, 0);
        let bad = Audit::compute(1, 0, 3, 0, 0);
        assert!(Audit::combine(&[good, good]).ok);
        let c = Audit::combine(&[good, bad]);
        assert!(!c.ok);
        assert_eq!(c.oversold, 2);
        assert_eq!(c.units_sold, 8);
    }
}
