//! The stored form of an idempotency key, as both backends read it back (orders and products
//! joined in), turned into the sale it recorded.

use crate::store::row::from_row;
use chrono::NaiveDateTime;

use crate::model::Order;
use crate::money::Money;
use crate::store::{KeyedSale, Sale, StoreError};

from_row! {
    pub(super) struct KeyRow {
        key: String,
        request_hash: String,
        outcome: String,
        remaining_stock: Option<i32>,
        order_id: Option<i64>,
        product_id: Option<i32>,
        product_name: Option<String>,
        quantity: Option<i32>,
        total_cents: Option<i64>,
        created_at: Option<NaiveDateTime>,
    }
}

impl KeyRow {
    /// The key, and the sale it recorded (or why the record cannot be read: that key's
    /// trouble alone, not that of the keys looked up with it).
    pub(super) fn into_keyed(self) -> (String, Result<KeyedSale, StoreError>) {
        let key = self.key.clone();
        (key, self.sale())
    }

    fn sale(self) -> Result<KeyedSale, StoreError> {
        let broken = || StoreError::Other("idempotency record without its order".into());
        let sale = match self.outcome.as_str() {
            "purchased" => Sale::Purchased(Order {
                id: self.order_id.ok_or_else(broken)?,
                product_id: self.product_id.ok_or_else(broken)?,
                product_name: self.product_name.ok_or_else(broken)?,
                quantity: self.quantity.ok_or_else(broken)?,
                total_price: Money::from_cents(self.total_cents.ok_or_else(broken)?),
                remaining_stock: self.remaining_stock.unwrap_or(0),
                created_at: self.created_at.ok_or_else(broken)?,
            }),
            "sold_out" => Sale::SoldOut {
                available: self.remaining_stock.unwrap_or(0),
            },
            "not_found" => Sale::NotFound,
            _ => return Err(StoreError::Other("unknown idempotency outcome".into())),
        };
        Ok(KeyedSale {
            request_hash: self.request_hash.trim_end().to_string(),
            sale,
        })
    }
}
