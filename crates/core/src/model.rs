//! The domain's plain data: products, orders and sales statistics, as every face shows them.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::money::Money;

/// A product as the stock views and `flashsale stock --json` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    pub id: i32,
    pub name: String,
    pub price: Money,
    pub stock: i32,
}

/// A product with the descriptive fields the reference API returns from `/api/products/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductDetail {
    pub id: i32,
    pub name: String,
    pub description: Option<String>,
    pub image_url: Option<String>,
    pub stock: i32,
    pub price: Money,
}

/// A committed order, as a `Purchased` outcome reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: i64,
    pub product_id: i32,
    pub product_name: String,
    pub quantity: i32,
    pub total_price: Money,
    pub remaining_stock: i32,
    #[serde(serialize_with = "serialize_utc")]
    pub created_at: NaiveDateTime,
}

/// Timestamps are stored as UTC without a zone (the reference schema's `TIMESTAMP`); JSON shows
/// them in RFC 3339 with a `Z`, the way the reference API's clients receive them.
pub fn serialize_utc<S: serde::Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.and_utc().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// One entry of the top-products list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopProduct {
    pub id: i32,
    pub name: String,
    pub total_sold: i64,
    /// Shown by the dashboard; not part of the reference contract's JSON.
    #[serde(skip)]
    pub revenue: Money,
}

/// Revenue of one calendar day (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayRevenue {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub revenue: Money,
    /// Shown by the dashboard; not part of the reference contract's JSON.
    #[serde(skip)]
    pub units: i64,
}

/// The admin statistics, in the reference system's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub total_revenue: Money,
    pub total_units_sold: i64,
    /// Top 3 by units sold.
    pub top_products: Vec<TopProduct>,
    /// The last 7 days, oldest first, days without sales included with zero.
    pub revenue_by_day: Vec<DayRevenue>,
}

/// How many days `revenue_by_day` covers, counting today.
pub const REVENUE_DAYS: i64 = 7;
/// How many products `top_products` lists.
pub const TOP_PRODUCTS: usize = 3;
