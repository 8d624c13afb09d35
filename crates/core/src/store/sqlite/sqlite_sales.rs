//! The dashboard's queries on SQLite: every product with its stock, the baseline read once and
//! the incremental step.

use chrono::NaiveDate;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnection, SqlitePool};

use crate::model::Product;
use crate::store::StoreError;
use crate::store::sales::{OrderRow, SalesBaseline};
use crate::store::stats::StatsParts;

/// Every product with its stock, by id.
pub(super) async fn products(readers: &SqlitePool) -> Result<Vec<Product>, StoreError> {
    let rows: Vec<crate::store::row::ProductRow> =
        sqlx::query_as("SELECT id, name, price_cents, stock FROM products ORDER BY id")
            .fetch_all(readers)
            .await?;
    Ok(rows.into_iter().map(crate::store::row::product).collect())
}

/// The dashboard's starting aggregates, read in one transaction (one WAL snapshot).
pub(super) async fn baseline(
    conn: &mut SqliteConnection,
    since: NaiveDate,
    gap_window: i64,
) -> Result<SalesBaseline, StoreError> {
    let since = since.format("%Y-%m-%d").to_string();
    let mut tx = conn.begin().await?;
    let max_id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM orders")
        .fetch_one(&mut *tx)
        .await?;
    let per_product = sqlx::query_as(
        "SELECT product_id, SUM(quantity) AS units, SUM(total_price_cents) AS cents
         FROM orders WHERE status = 'completed' GROUP BY product_id ORDER BY product_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let per_day = sqlx::query_as(
        "SELECT substr(created_at, 1, 10) AS day, SUM(total_price_cents) AS cents,
                SUM(quantity) AS units
         FROM orders WHERE status = 'completed' AND created_at >= ?1 GROUP BY day ORDER BY day",
    )
    .bind(since)
    .fetch_all(&mut *tx)
    .await?;
    let present_near_top =
        sqlx::query_scalar("SELECT id FROM orders WHERE id > ?1 AND id <= ?2 ORDER BY id")
            .bind(max_id.saturating_sub(gap_window))
            .bind(max_id)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(SalesBaseline {
        max_id,
        per_product,
        per_day,
        present_near_top,
    })
}

/// Orders above `after` (the first `limit`, by id) and those among `missing`, each part a rowid
/// range or lookup.
pub(super) async fn orders_since(
    readers: &SqlitePool,
    after: i64,
    missing: &[i64],
    limit: i64,
) -> Result<Vec<OrderRow>, StoreError> {
    let missing = serde_json::to_string(missing).unwrap_or_else(|_| "[]".into());
    Ok(sqlx::query_as(
        "SELECT * FROM (SELECT id, product_id,
                               CASE WHEN status = 'completed' THEN quantity ELSE 0 END
                                   AS quantity,
                               CASE WHEN status = 'completed' THEN total_price_cents ELSE 0 END
                                   AS cents,
                               substr(created_at, 1, 10) AS day
                        FROM orders WHERE id > ?1 ORDER BY id LIMIT ?3)
         UNION ALL
         SELECT id, product_id,
                CASE WHEN status = 'completed' THEN quantity ELSE 0 END,
                CASE WHEN status = 'completed' THEN total_price_cents ELSE 0 END,
                substr(created_at, 1, 10)
         FROM orders WHERE id IN (SELECT value FROM json_each(?2))",
    )
    .bind(after)
    .bind(missing)
    .bind(limit)
    .fetch_all(readers)
    .await?)
}

/// The stats endpoint's parts: totals, the top three products and revenue by day, of
/// completed orders.
pub(super) async fn stats_parts(
    readers: &SqlitePool,
    since: NaiveDate,
) -> Result<StatsParts, StoreError> {
    let since = since.format("%Y-%m-%d").to_string();
    let (total_revenue_cents, total_units): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(total_price_cents), 0), COALESCE(SUM(quantity), 0) FROM orders
         WHERE status = 'completed'",
    )
    .fetch_one(readers)
    .await?;
    let top = sqlx::query_as(
        "SELECT p.id, p.name, t.units, t.cents FROM (
             SELECT product_id, SUM(quantity) AS units, SUM(total_price_cents) AS cents
             FROM orders WHERE status = 'completed' GROUP BY product_id
         ) t JOIN products p ON p.id = t.product_id
         ORDER BY t.units DESC, p.id LIMIT 3",
    )
    .fetch_all(readers)
    .await?;
    let days = sqlx::query_as(
        "SELECT substr(created_at, 1, 10) AS day, SUM(total_price_cents), SUM(quantity)
         FROM orders WHERE status = 'completed' AND created_at >= ?1 GROUP BY day ORDER BY day",
    )
    .bind(since)
    .fetch_all(readers)
    .await?;
    Ok(StatsParts {
        total_revenue_cents,
        total_units,
        top,
        days,
    })
}
