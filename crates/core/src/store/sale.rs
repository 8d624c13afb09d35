//! A purchase as the store takes it, and what the database did with it; the rows both engines
//! read products and orders into.

use chrono::NaiveDateTime;

use super::StoreError;
use super::row::from_row;
use crate::model::{Order, ProductDetail};
use crate::money::Money;

/// A validated purchase, ready for the database.
#[derive(Debug, Clone, Copy)]
pub struct NewPurchase<'a> {
    pub product_id: i32,
    pub user_id: &'a str,
    pub quantity: i32,
}

/// A restock done: the product, its stock now and the units available it replaced (read in
/// the restock's own transaction, so no purchase falls between the two).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Restock {
    pub product_id: i32,
    pub name: String,
    pub stock: i32,
    pub previous_stock: i32,
}

/// An idempotency key to commit with a purchase, and the fingerprint of the request it was
/// first used with.
#[derive(Debug, Clone, Copy)]
pub struct KeyRecord<'a> {
    pub key: &'a str,
    /// Hex SHA-256 of the request (see [`crate::purchase::IdempotencyKey`]).
    pub request_hash: &'a str,
}

/// What writing a key's outcome came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyWrite {
    Recorded,
    /// The key already held a record (an earlier request's, which stands).
    Taken,
}

/// What an idempotency key recorded: the request it was used with and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedSale {
    pub request_hash: String,
    pub sale: Sale,
}

/// One record a lookup of several keys found: the key, and its sale or why that record cannot
/// be read.
pub(crate) type KeyLookup = (String, Result<KeyedSale, StoreError>);

/// One purchase waiting for its batch (the batched strategy).
#[derive(Debug, Clone)]
pub struct BatchItem {
    pub user_id: String,
    pub quantity: i32,
    /// Its idempotency key: recorded in the batch's own transaction when it buys.
    pub key: Option<BatchKey>,
}

/// An idempotency key riding a batch (an owned [`KeyRecord`]).
#[derive(Debug, Clone)]
pub struct BatchKey {
    pub key: String,
    pub request_hash: String,
}

impl BatchKey {
    pub(crate) fn of(record: KeyRecord<'_>) -> Self {
        Self {
            key: record.key.to_string(),
            request_hash: record.request_hash.to_string(),
        }
    }

    pub(crate) fn record(&self) -> KeyRecord<'_> {
        KeyRecord {
            key: &self.key,
            request_hash: &self.request_hash,
        }
    }
}

/// The keys a batch must record with its orders: each keyed item that bought, with its order
/// id and the stock left after it.
pub(crate) fn purchased_keys<'a>(
    batches: &'a [ProductBatch],
    applied: &'a [Applied],
) -> Vec<(&'a BatchKey, i64, i32)> {
    let mut keys = Vec::new();
    for (batch, applied) in batches.iter().zip(applied) {
        let Ok((sales, _)) = applied else { continue };
        for (item, sale) in batch.items.iter().zip(sales) {
            if let (Some(key), Sale::Purchased(order)) = (&item.key, sale) {
                keys.push((key, order.id, order.remaining_stock));
            }
        }
    }
    keys
}

/// Whether any purchase of `batches` carries an idempotency key.
pub(crate) fn any_keyed(batches: &[ProductBatch]) -> bool {
    batches
        .iter()
        .any(|b| b.items.iter().any(|i| i.key.is_some()))
}

/// The purchases of one product in a gathered batch, in arrival order.
#[derive(Debug)]
pub struct ProductBatch {
    pub product_id: i32,
    pub items: Vec<BatchItem>,
}

/// What a batch did for one product: each item's sale in the items' order, and the stock left
/// (`None`: no such product).
pub type Applied = Result<(Vec<Sale>, Option<i32>), StoreError>;

/// What the database did with a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sale {
    Purchased(Order),
    SoldOut { available: i32 },
    NotFound,
}

impl Sale {
    /// The name an idempotency record stores this outcome under.
    pub(crate) fn stored_name(&self) -> &'static str {
        match self {
            Sale::Purchased(_) => "purchased",
            Sale::SoldOut { .. } => "sold_out",
            Sale::NotFound => "not_found",
        }
    }
}

from_row! {
    /// A product as a purchase reads it before deciding: name, stock, price in cents.
    #[derive(Debug, Clone)]
    pub(crate) struct ProductForSale {
        pub name: String,
        pub stock: i32,
        pub price_cents: i64,
    }
}

from_row! {
    /// What the database assigned to a new order.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct InsertedOrder {
        pub id: i64,
        pub created_at: NaiveDateTime,
    }
}

/// The order of `p` as a buyer is told of it: the product's name, the total, the stock left
/// after it, and what the database assigned.
pub(crate) fn order_of(
    p: NewPurchase<'_>,
    product_name: String,
    total: Money,
    remaining: i32,
    inserted: InsertedOrder,
) -> Order {
    Order {
        id: inserted.id,
        product_id: p.product_id,
        product_name,
        quantity: p.quantity,
        total_price: total,
        remaining_stock: remaining,
        created_at: inserted.created_at,
    }
}

from_row! {
    /// A product row with its descriptive fields, as both engines read it (price in cents).
    pub(crate) struct DetailRow {
        id: i32,
        name: String,
        description: Option<String>,
        image_url: Option<String>,
        stock: i32,
        price_cents: i64,
    }
}

impl From<DetailRow> for ProductDetail {
    fn from(r: DetailRow) -> Self {
        ProductDetail {
            id: r.id,
            name: r.name,
            description: r.description,
            image_url: r.image_url,
            stock: r.stock,
            price: Money::from_cents(r.price_cents),
        }
    }
}
