//! The `batched` strategy on SQLite: one `BEGIN IMMEDIATE` transaction per batch.

use sqlx::Connection;

use super::{ProductRow, SqliteStore};
use crate::money::Money;
use crate::store::batch::{self, BatchItem};
use crate::store::{NewPurchase, Sale, StoreError};

impl SqliteStore {
    /// The `batched` strategy's transaction: `BEGIN IMMEDIATE`, one read, allocation in arrival
    /// order, one guarded decrement, then the orders (single-row inserts cost no round trip here).
    pub(in crate::store) async fn apply_batch(
        &self,
        product_id: i32,
        items: &[BatchItem],
    ) -> Result<(Vec<Sale>, Option<i32>), StoreError> {
        let mut conn = self.acquire_writer().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let product: Option<ProductRow> =
            sqlx::query_as("SELECT name, stock, price_cents FROM products WHERE id = ?1")
                .bind(product_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(product) = product else {
            tx.rollback().await?;
            return Ok((items.iter().map(|_| Sale::NotFound).collect(), None));
        };
        let (allocation, sold) = batch::allocate(product.stock, items);
        let price = Money::from_cents(product.price_cents);
        let mut orders = Vec::new();
        if sold > 0 {
            let done = sqlx::query(
                "UPDATE products SET stock = stock - ?2, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
                 WHERE id = ?1 AND stock >= ?2",
            )
            .bind(product_id)
            .bind(sold)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                tx.rollback().await?;
                return Err(StoreError::Other(
                    "batch decrement refused; rolled back".into(),
                ));
            }
            for (item, a) in items.iter().zip(&allocation) {
                if a.is_ok() {
                    let p = NewPurchase {
                        product_id,
                        user_id: &item.user_id,
                        quantity: item.quantity,
                    };
                    orders.push(
                        Self::insert_order(&mut tx, p, price.times(i64::from(item.quantity)))
                            .await?,
                    );
                }
            }
        }
        tx.commit().await?;
        let mut orders = orders.into_iter();
        let mut sales = Vec::with_capacity(items.len());
        for (item, a) in items.iter().zip(allocation) {
            sales.push(match a {
                Ok(remaining) => {
                    let order = orders
                        .next()
                        .ok_or_else(|| StoreError::Other("batch order missing".into()))?;
                    let p = NewPurchase {
                        product_id,
                        user_id: &item.user_id,
                        quantity: item.quantity,
                    };
                    let total = price.times(i64::from(item.quantity));
                    Sale::Purchased(Self::order(
                        p,
                        product.name.clone(),
                        total,
                        remaining,
                        order,
                    ))
                }
                Err(available) => Sale::SoldOut { available },
            });
        }
        Ok((sales, Some(product.stock - sold)))
    }
}
