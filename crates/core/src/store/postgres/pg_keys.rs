//! Idempotency keys on PostgreSQL: the key's row is written by the purchase's own transaction
//! (an extra CTE of the atomic statement, or one more INSERT of the row-lock transaction).

use sqlx::PgConnection;

use super::Route;
use super::pg_leases::{decrement, lease_aware, leased, writer};

use crate::store::key_row::KeyRow;
use crate::store::sale::BatchKey;
use crate::store::sale::KeyLookup;
use crate::store::{KeyRecord, KeyWrite, StoreError};

/// The atomic purchase with one more data-modifying CTE: the key's row, built from the order's
/// RETURNING row. PostgreSQL runs every data-modifying CTE to completion, so a taken key fails
/// the whole statement (23505) and the decrement and the order roll back with it.
pub(super) const ATOMIC_KEYED: [&str; 2] = lease_aware!(
    (decrement),
    ", o AS (
         INSERT INTO orders (user_id, product_id, quantity, total_price)
         SELECT $3, p.id, $2, p.price * $2 FROM p
         RETURNING id, total_price, created_at
     ), k AS (
         INSERT INTO idempotency_keys (key, request_hash, outcome, order_id, remaining_stock)
         SELECT $4, $5, 'purchased', o.id, p.stock FROM o, p
     )
     SELECT o.id::int8 AS id, p.name, p.stock, (o.total_price * 100)::int8 AS total_cents,
            o.created_at
     FROM o, p"
);

/// A CTE `k` after a batch's orders `o` (and its product `p`): the idempotency key of every item
/// that carries one (`$keys`, `$hashes`: one entry per item, `NULL` for none), with its order
/// and the stock left after it (`$stock` after the whole batch, plus the later items). An
/// order is matched to its item by position (ids follow arrival order, as the batch's own
/// check relies on) and by buyer (`$users`), so a misaligned row records no key rather than
/// another's. A taken key fails the whole statement (23505): nothing of it commits.
macro_rules! record_keys {
    ($keys:literal, $hashes:literal, $users:literal, $stock:literal) => {
        concat!(
            ", k AS (
                 INSERT INTO idempotency_keys (key, request_hash, outcome, order_id, remaining_stock)
                 SELECT x.key, x.hash, 'purchased', n.id::int4, n.remaining::int4
                 FROM (SELECT o.id, o.user_id, row_number() OVER (ORDER BY o.id) AS ord, ",
            $stock,
            " + sum(o.quantity) OVER () - sum(o.quantity) OVER (ORDER BY o.id) AS remaining
                       FROM o CROSS JOIN p) n
                 JOIN unnest(",
            $keys,
            "::text[], ",
            $hashes,
            "::text[], ",
            $users,
            "::text[]) WITH ORDINALITY AS x(key, hash, user_id, ord)
                   ON x.ord = n.ord AND x.user_id = n.user_id
                 WHERE x.key IS NOT NULL
             )"
        )
    };
}
pub(super) use record_keys;

/// Inserts the key of a purchase inside its transaction; a taken key fails the transaction.
pub(super) async fn insert_purchased(
    conn: &mut PgConnection,
    route: Route,
    key: KeyRecord<'_>,
    order_id: i64,
    remaining: i32,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO idempotency_keys (key, request_hash, outcome, order_id, remaining_stock)
         VALUES ($1, $2, 'purchased', $3, $4)",
    )
    .persistent(route.persistent())
    .bind(key.key)
    .bind(key.request_hash)
    .bind(i32::try_from(order_id).map_err(|_| StoreError::Other("order id out of range".into()))?)
    .bind(remaining)
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts the keys of a batch's purchases inside its transaction, in one statement; a taken
/// key fails the transaction.
pub(super) async fn insert_purchased_many(
    conn: &mut PgConnection,
    route: Route,
    keys: &[(&BatchKey, i64, i32)],
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = keys.iter().map(|(k, _, _)| k.key.as_str()).collect();
    let hashes: Vec<&str> = keys
        .iter()
        .map(|(k, _, _)| k.request_hash.as_str())
        .collect();
    let orders: Vec<i64> = keys.iter().map(|(_, id, _)| *id).collect();
    let remaining: Vec<i32> = keys.iter().map(|(_, _, left)| *left).collect();
    sqlx::query(
        "INSERT INTO idempotency_keys (key, request_hash, outcome, order_id, remaining_stock)
         SELECT k.key, k.request_hash, 'purchased', k.order_id::int4, k.remaining
         FROM unnest($1::text[], $2::text[], $3::int8[], $4::int4[])
              AS k(key, request_hash, order_id, remaining)",
    )
    .persistent(route.persistent())
    .bind(&names)
    .bind(&hashes)
    .bind(&orders)
    .bind(&remaining)
    .execute(conn)
    .await?;
    Ok(())
}

/// What each of `keys` recorded, with its order and product joined in.
pub(super) async fn lookup_many(
    conn: &mut PgConnection,
    route: Route,
    keys: &[String],
) -> Result<Vec<KeyLookup>, StoreError> {
    let rows: Vec<KeyRow> = sqlx::query_as(
        "SELECT k.key, k.request_hash, k.outcome, k.remaining_stock, o.id::int8 AS order_id,
                o.product_id, p.name AS product_name, o.quantity,
                (o.total_price * 100)::int8 AS total_cents, o.created_at
         FROM idempotency_keys k
         LEFT JOIN orders o ON o.id = k.order_id
         LEFT JOIN products p ON p.id = o.product_id
         WHERE k.key = ANY($1::text[])",
    )
    .persistent(route.persistent())
    .bind(keys)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(KeyRow::into_keyed).collect())
}

/// Records an outcome unless the key is taken (by a purchase that committed meanwhile, whose
/// record must win).
pub(super) async fn record(
    conn: &mut PgConnection,
    route: Route,
    key: KeyRecord<'_>,
    outcome: &str,
    order_id: Option<i64>,
    remaining: Option<i32>,
) -> Result<KeyWrite, StoreError> {
    let order_id = order_id
        .map(i32::try_from)
        .transpose()
        .map_err(|_| StoreError::Other("order id out of range".into()))?;
    let done = sqlx::query(
        "INSERT INTO idempotency_keys (key, request_hash, outcome, order_id, remaining_stock)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
    )
    .persistent(route.persistent())
    .bind(key.key)
    .bind(key.request_hash)
    .bind(outcome)
    .bind(order_id)
    .bind(remaining)
    .execute(conn)
    .await?;
    Ok(if done.rows_affected() == 0 {
        KeyWrite::Taken
    } else {
        KeyWrite::Recorded
    })
}

/// Deletes up to `limit` key records older than `ttl`; how many went.
pub(super) async fn expire_chunk(
    conn: &mut PgConnection,
    route: Route,
    ttl: std::time::Duration,
    limit: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM idempotency_keys WHERE key IN (
             SELECT key FROM idempotency_keys
             WHERE created_at < LOCALTIMESTAMP - make_interval(secs => $1)
             LIMIT $2
         )",
    )
    .persistent(route.persistent())
    .bind(ttl.as_secs_f64())
    .bind(limit)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
