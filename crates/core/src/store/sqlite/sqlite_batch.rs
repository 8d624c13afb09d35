//! The `batched` strategy on SQLite: one read, allocation in arrival order, one guarded
//! decrement, then the orders, all inside the caller's `BEGIN IMMEDIATE` transaction.

use sqlx::sqlite::SqliteConnection;

use super::insert_order;
use crate::money::Money;
use crate::store::batch;
use crate::store::sale::BatchItem;
use crate::store::sale::ProductForSale;
use crate::store::sale::order_of;
use crate::store::{NewPurchase, Sale, StoreError};

/// The batch's steps (single-row inserts cost no round trip here). A refused decrement is an
/// error, so the caller rolls everything back.
pub(super) async fn apply(
    conn: &mut SqliteConnection,
    product_id: i32,
    items: &[BatchItem],
) -> Result<(Vec<Sale>, Option<i32>), StoreError> {
    let product: Option<ProductForSale> =
        sqlx::query_as("SELECT name, stock, price_cents FROM products WHERE id = ?1")
            .bind(product_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(product) = product else {
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
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Other(
                "batch decrement refused; rolled back".into(),
            ));
        }
        for (item, a) in items.iter().zip(&allocation) {
            if a.is_ok() {
                let p = purchase_of(product_id, item);
                orders.push(insert_order(conn, p, price.times(i64::from(item.quantity))).await?);
            }
        }
    }
    let mut orders = orders.into_iter();
    let mut sales = Vec::with_capacity(items.len());
    for (item, a) in items.iter().zip(allocation) {
        sales.push(match a {
            Ok(remaining) => {
                let inserted = orders
                    .next()
                    .ok_or_else(|| StoreError::Other("batch order missing".into()))?;
                let total = price.times(i64::from(item.quantity));
                Sale::Purchased(order_of(
                    purchase_of(product_id, item),
                    product.name.clone(),
                    total,
                    remaining,
                    inserted,
                ))
            }
            Err(available) => Sale::SoldOut { available },
        });
    }
    Ok((sales, Some(product.stock - sold)))
}

fn purchase_of(product_id: i32, item: &BatchItem) -> NewPurchase<'_> {
    NewPurchase {
        product_id,
        user_id: &item.user_id,
        quantity: item.quantity,
    }
}
