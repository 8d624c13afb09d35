//! Idempotency keys on SQLite: the key's row is inserted inside the purchase's `BEGIN
//! IMMEDIATE` transaction, so it commits (or rolls back) with the order.

use sqlx::{SqliteConnection, SqlitePool};

use crate::store::key_row::KeyRow;
use crate::store::sale::KeyLookup;
use crate::store::{KeyRecord, KeyWrite, StoreError};

/// Inserts the key of a purchase inside its transaction; a taken key fails the transaction.
pub(super) async fn insert_purchased(
    conn: &mut SqliteConnection,
    key: KeyRecord<'_>,
    order_id: i64,
    remaining: i32,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO idempotency_keys (key, request_hash, outcome, order_id, remaining_stock)
         VALUES (?1, ?2, 'purchased', ?3, ?4)",
    )
    .bind(key.key)
    .bind(key.request_hash)
    .bind(order_id)
    .bind(remaining)
    .execute(conn)
    .await?;
    Ok(())
}

/// What each of `keys` recorded, with its order and product joined in (the keys passed as
/// one JSON array: one statement text whatever their number).
pub(super) async fn lookup_many(
    readers: &SqlitePool,
    keys: &[String],
) -> Result<Vec<KeyLookup>, StoreError> {
    let keys = serde_json::to_string(keys).map_err(|e| StoreError::Other(e.to_string()))?;
    let rows: Vec<KeyRow> = sqlx::query_as(
        "SELECT k.key, k.request_hash, k.outcome, k.remaining_stock, o.id AS order_id,
                o.product_id, p.name AS product_name, o.quantity,
                o.total_price_cents AS total_cents, o.created_at
         FROM idempotency_keys k
         LEFT JOIN orders o ON o.id = k.order_id
         LEFT JOIN products p ON p.id = o.product_id
         WHERE k.key IN (SELECT value FROM json_each(?1))",
    )
    .bind(keys)
    .fetch_all(readers)
    .await?;
    Ok(rows.into_iter().map(KeyRow::into_keyed).collect())
}

/// Records an outcome unless the key is taken.
pub(super) async fn record(
    writer: &SqlitePool,
    key: KeyRecord<'_>,
    outcome: &str,
    order_id: Option<i64>,
    remaining: Option<i32>,
) -> Result<KeyWrite, StoreError> {
    let done = sqlx::query(
        "INSERT INTO idempotency_keys (key, request_hash, outcome, order_id, remaining_stock)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key.key)
    .bind(key.request_hash)
    .bind(outcome)
    .bind(order_id)
    .bind(remaining)
    .execute(writer)
    .await?;
    Ok(if done.rows_affected() == 0 {
        KeyWrite::Taken
    } else {
        KeyWrite::Recorded
    })
}

/// Deletes up to `limit` key records older than `ttl`; how many went.
pub(super) async fn expire_chunk(
    writer: &SqlitePool,
    ttl: std::time::Duration,
    limit: i64,
) -> Result<u64, StoreError> {
    // `created_at` is written as UTC text that sorts as it reads.
    let done = sqlx::query(
        "DELETE FROM idempotency_keys WHERE rowid IN (
             SELECT rowid FROM idempotency_keys
             WHERE created_at < strftime('%Y-%m-%d %H:%M:%f', 'now', ?1)
             LIMIT ?2
         )",
    )
    .bind(format!("-{} seconds", ttl.as_secs()))
    .bind(limit)
    .execute(writer)
    .await?;
    Ok(done.rows_affected())
}
