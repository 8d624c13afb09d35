//! Rows for the dashboard's incremental sales aggregate: a consistent baseline taken once, then
//! only orders above a watermark (plus the ids still missing below it). Neither query's cost
//! grows with the orders table after the baseline.

use crate::store::row::from_row;

from_row! {
    /// Units and revenue of one product.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ProductTotals {
        pub product_id: i32,
        pub units: i64,
        pub cents: i64,
    }
}

from_row! {
    /// Units and revenue of one UTC day.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct DayTotals {
        /// `YYYY-MM-DD`.
        pub day: String,
        pub cents: i64,
        pub units: i64,
    }
}

/// Every aggregate the dashboard starts from, read in one snapshot of the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SalesBaseline {
    /// The highest order id visible in the snapshot (0 when none).
    pub max_id: i64,
    pub per_product: Vec<ProductTotals>,
    /// Days on or after the requested `since` that had sales.
    pub per_day: Vec<DayTotals>,
    /// Ids present in the snapshot among the `gap_window` ids just below `max_id`: the ones
    /// missing there belong to transactions still in flight (or rolled back), to watch for.
    pub present_near_top: Vec<i64>,
}

from_row! {
    /// One order, as the incremental aggregate reads it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct OrderRow {
        pub id: i64,
        pub product_id: i32,
        pub quantity: i32,
        pub cents: i64,
        /// `YYYY-MM-DD`, UTC.
        pub day: String,
    }
}

from_row! {
    /// Connections the server reports for this database, by state (`pg_stat_activity`).
    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
    pub struct ActivityCount {
        pub state: String,
        pub count: i64,
    }
}
