//! A product's latest orders, newest first (the dashboard's drill-down, `flashsale stock
//! --product N`). Both engines give the time as RFC 3339 text in UTC, so the row is the same
//! type on each and nothing downstream parses engine-specific formats.

use crate::money::Money;
use crate::store::row::from_row;

/// The most orders one call returns: a drill-down shows a screenful, a script asks for a page.
pub const RECENT_MAX: i64 = 1_000;

from_row! {
    /// One order as the engines read it (money in cents, the time already RFC 3339).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) struct RecentRow {
        pub id: i64,
        pub user_id: String,
        pub quantity: i32,
        pub cents: i64,
        pub status: String,
        pub created_at: String,
    }
}

/// One of a product's latest orders.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentOrder {
    pub id: i64,
    pub user_id: String,
    pub quantity: i32,
    pub total_price: Money,
    /// `completed` for every order this system writes; the reference schema allows others.
    pub status: String,
    /// UTC, RFC 3339 to the second (`2026-12-03T07:12:03Z`).
    pub created_at: String,
}

impl From<RecentRow> for RecentOrder {
    fn from(r: RecentRow) -> Self {
        RecentOrder {
            id: r.id,
            user_id: r.user_id,
            quantity: r.quantity,
            total_price: Money::from_cents(r.cents),
            status: r.status,
            created_at: r.created_at,
        }
    }
}

/// The newest orders first: by id, which grows with every insert on both engines (the clock may
/// repeat a second, the id never does).
pub(crate) const PG_SQL: &str = "SELECT id::int8 AS id, user_id, quantity,
            (total_price * 100)::int8 AS cents, COALESCE(status, '') AS status,
            COALESCE(to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') AS created_at
     FROM orders WHERE product_id = $1 ORDER BY id DESC LIMIT $2";

pub(crate) const SQLITE_SQL: &str = "SELECT id, user_id, quantity, total_price_cents AS cents,
            status, COALESCE(strftime('%Y-%m-%dT%H:%M:%SZ', created_at), '') AS created_at
     FROM orders WHERE product_id = ?1 ORDER BY id DESC LIMIT ?2";
