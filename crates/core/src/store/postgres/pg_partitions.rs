//! A partitioned `orders` on PostgreSQL (see `store/partitions.rs`): an ordinary table rebuilt
//! partitioned (empty, or copying every order), the months added ahead, and the rows the
//! default partition took for a month moved into that month's partition when it is created.
//!
//! A partitioned table's unique constraints must contain the partition key, so its primary key
//! is `(id, created_at)`: ids stay unique because only the table's sequence hands them out, and
//! the key's index still leads with `id` (the dashboard's `MAX(id)` and `id > $1` scans). No
//! foreign key can reference `orders(id)` alone any more: the idempotency keys' is dropped (see
//! ARCHITECTURE.md, "Orders partitioned by month").

use std::collections::HashSet;
use std::time::Duration;

use chrono::NaiveDate;
use sqlx::postgres::{PgConnection, Postgres};
use sqlx::{AssertSqlSafe, Connection, Executor, Transaction};

use super::{Route, pg_route};
use crate::store::StoreError;
use crate::store::partitions::{
    Conversion, DEFAULT_PARTITION, PartitionPlan, PartitionReport, month_of, months_wanted,
    next_month, partition_name,
};

// Every statement here is parsed unnamed (`persistent(false)`): behind a transaction pooler a
// named one could meet another server connection, and an operator's command gains nothing from
// a cached plan.

/// How long adding a month waits for its lock on `orders` (it needs the table to itself for a
/// moment): past it, the run fails rather than queue every purchase behind it.
const LOCK_WAIT: &str = "5s";

/// The columns an order has (the reference schema's): a table with others is not copied, as
/// they would be lost.
const COLUMNS: [&str; 7] = [
    "id",
    "user_id",
    "product_id",
    "quantity",
    "total_price",
    "status",
    "created_at",
];

/// Whether `orders` exists and is partitioned.
pub(super) async fn is_partitioned(conn: &mut PgConnection) -> Result<bool, StoreError> {
    Ok(relkind(conn).await?.as_deref() == Some("p"))
}

/// Converts `orders` as `plan` allows, then creates the months it wants that are missing.
pub(super) async fn apply(
    conn: &mut PgConnection,
    route: Route,
    statement_timeout: Duration,
    plan: PartitionPlan,
    today: NaiveDate,
) -> Result<PartitionReport, StoreError> {
    let mut report = PartitionReport::default();
    match relkind(conn).await?.as_deref() {
        None => return Err(StoreError::NoSchema),
        Some("p") => check_partitioned_by_month(conn).await?,
        Some(_) if plan.conversion == Conversion::Never => {
            return Err(StoreError::Invalid(
                "orders is an ordinary table, not partitioned: `flashsale db init \
                 --partitioned` makes it so"
                    .into(),
            ));
        }
        Some(_) => {
            let mut tx = begin(conn, route, statement_timeout).await?;
            // A copy takes as long as it takes: an operator's command, not a purchase.
            tx.execute("SET LOCAL statement_timeout = 0").await?;
            let copied = convert(&mut tx, plan, today, &mut report.created).await?;
            tx.commit().await?;
            report.converted = Some(copied);
        }
    }
    let existing = monthly_partitions(conn).await?;
    for month in months_wanted(today, None, plan.months_ahead) {
        let name = partition_name(month);
        if existing.contains(&name) {
            continue;
        }
        let mut tx = begin(conn, route, statement_timeout).await?;
        report.moved_from_default += add_month(&mut tx, month).await?;
        tx.commit().await?;
        report.created.push(name);
    }
    let all = monthly_partitions(conn).await?;
    report.months = all.len();
    report.last_month = all.iter().filter_map(|n| month_from_name(n)).max();
    report.in_default = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {DEFAULT_PARTITION}"
    )))
    .persistent(false)
    .fetch_one(&mut *conn)
    .await?;
    Ok(report)
}

async fn relkind(conn: &mut PgConnection) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE oid = to_regclass('orders')")
            .persistent(false)
            .fetch_optional(conn)
            .await?,
    )
}

/// A transaction in the route's way, waiting at most [`LOCK_WAIT`] for any lock.
async fn begin<'c>(
    conn: &'c mut PgConnection,
    route: Route,
    statement_timeout: Duration,
) -> Result<Transaction<'c, Postgres>, StoreError> {
    let begin = match route {
        Route::Direct => "BEGIN".to_string(),
        Route::Pooled => pg_route::begin_pooled(statement_timeout),
    };
    let mut tx = conn.begin_with(AssertSqlSafe(begin)).await?;
    tx.execute(AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = '{LOCK_WAIT}'"
    )))
    .await?;
    Ok(tx)
}

/// An existing partitioned `orders` is one we can add months to: by range of `created_at`, with
/// a default partition (created here when it has none).
async fn check_partitioned_by_month(conn: &mut PgConnection) -> Result<(), StoreError> {
    let (key, has_default): (String, bool) = sqlx::query_as(
        "SELECT pg_get_partkeydef(partrelid), partdefid <> 0
         FROM pg_partitioned_table WHERE partrelid = 'orders'::regclass",
    )
    .persistent(false)
    .fetch_one(&mut *conn)
    .await?;
    if key != "RANGE (created_at)" {
        return Err(StoreError::Invalid(format!(
            "orders is partitioned by {key}, not RANGE (created_at): flashsale adds no months to it"
        )));
    }
    if !has_default {
        conn.execute(AssertSqlSafe(format!(
            "CREATE TABLE {DEFAULT_PARTITION} PARTITION OF orders DEFAULT"
        )))
        .await?;
    }
    Ok(())
}

/// The names of `orders`' partitions other than the default.
async fn monthly_partitions(conn: &mut PgConnection) -> Result<HashSet<String>, StoreError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'orders'::regclass AND c.relname <> $1",
    )
    .persistent(false)
    .bind(DEFAULT_PARTITION)
    .fetch_all(conn)
    .await?;
    Ok(names.into_iter().collect())
}

/// The month of a partition we named (`orders_p2026_12`), `None` for another's.
fn month_from_name(name: &str) -> Option<NaiveDate> {
    let (year, month) = name.strip_prefix("orders_p")?.split_once('_')?;
    NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, 1)
}

/// `FOR VALUES FROM (..) TO (..)` of a month. The dates are ours, never a caller's text.
fn bounds(month: NaiveDate) -> String {
    format!(
        "FOR VALUES FROM ('{}') TO ('{}')",
        month_of(month).format("%Y-%m-%d"),
        next_month(month).format("%Y-%m-%d")
    )
}

/// Creates `month`'s partition, first taking out of the default partition the orders it took
/// for that month (PostgreSQL refuses a partition whose rows the default holds), then putting
/// them back through `orders`, into the new month; how many moved. `orders` is locked first,
/// the lock the partition's creation needs anyway: taken later, it could deadlock with a
/// purchase holding the default partition.
async fn add_month(tx: &mut PgConnection, month: NaiveDate) -> Result<u64, StoreError> {
    tx.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        .await?;
    let (from, to) = (
        month_of(month).and_hms_opt(0, 0, 0).unwrap_or_default(),
        next_month(month).and_hms_opt(0, 0, 0).unwrap_or_default(),
    );
    let stranded: bool = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE created_at >= $1 AND created_at < $2)"
    )))
    .persistent(false)
    .bind(from)
    .bind(to)
    .fetch_one(&mut *tx)
    .await?;
    if stranded {
        tx.execute("CREATE TEMP TABLE flashsale_moving (LIKE orders) ON COMMIT DROP")
            .await?;
        sqlx::query(AssertSqlSafe(format!(
            "WITH moved AS (DELETE FROM {DEFAULT_PARTITION}
                            WHERE created_at >= $1 AND created_at < $2 RETURNING *)
             INSERT INTO flashsale_moving SELECT * FROM moved"
        )))
        .persistent(false)
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?;
    }
    tx.execute(AssertSqlSafe(format!(
        "CREATE TABLE {} PARTITION OF orders {}",
        partition_name(month),
        bounds(month)
    )))
    .await?;
    if !stranded {
        return Ok(0);
    }
    let moved = tx
        .execute("INSERT INTO orders SELECT * FROM flashsale_moving")
        .await?;
    Ok(moved.rows_affected())
}

/// Rebuilds the ordinary `orders` partitioned, in the caller's transaction: checks that nothing
/// would be lost, builds `orders_partitioned` with its months and default, copies every order
/// (ids kept, the same sequence after), swaps the names, and only then adds the keys and
/// indexes (one build each, not one insert per row). How many orders were copied; the months
/// created are pushed onto `created`.
async fn convert(
    tx: &mut PgConnection,
    plan: PartitionPlan,
    today: NaiveDate,
    created: &mut Vec<String>,
) -> Result<u64, StoreError> {
    tx.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        .await?;
    let (count, undated, oldest): (i64, i64, Option<NaiveDate>) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE created_at IS NULL), min(created_at)::date
         FROM orders",
    )
    .persistent(false)
    .fetch_one(&mut *tx)
    .await?;
    if count > 0 && plan.conversion == Conversion::IfEmpty {
        return Err(StoreError::Invalid(format!(
            "orders is an ordinary table holding {count} orders, left as it is; \
             `flashsale db init --partitioned --copy-orders` rebuilds it partitioned, copying \
             every order in one transaction (purchases wait until it commits)"
        )));
    }
    if undated > 0 {
        return Err(StoreError::Invalid(format!(
            "{undated} of the {count} orders have no created_at, which a partition by month \
             needs; nothing was changed (give them one, e.g. UPDATE orders SET created_at = \
             '2000-01-01' WHERE created_at IS NULL, to keep them in the default partition)"
        )));
    }
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute
         WHERE attrelid = 'orders'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    )
    .persistent(false)
    .fetch_all(&mut *tx)
    .await?;
    let unknown: Vec<&str> = columns
        .iter()
        .map(String::as_str)
        .filter(|c| !COLUMNS.contains(c))
        .collect();
    if !unknown.is_empty() || columns.len() != COLUMNS.len() {
        return Err(StoreError::Invalid(format!(
            "orders has columns {columns:?}, not the reference schema's {COLUMNS:?}: copying \
             would lose or invent some; nothing was changed"
        )));
    }
    let references: Vec<(String, String)> = sqlx::query_as(
        "SELECT conrelid::regclass::text, conname::text FROM pg_constraint
         WHERE contype = 'f' AND confrelid = 'orders'::regclass ORDER BY 1, 2",
    )
    .persistent(false)
    .fetch_all(&mut *tx)
    .await?;
    if let Some((table, name)) = references.iter().find(|(t, _)| t != "idempotency_keys") {
        return Err(StoreError::Invalid(format!(
            "{table} references orders (foreign key {name}), which no foreign key can once \
             orders is partitioned; nothing was changed"
        )));
    }
    let sequence: Option<String> =
        sqlx::query_scalar("SELECT pg_get_serial_sequence('orders', 'id')")
            .persistent(false)
            .fetch_one(&mut *tx)
            .await?;
    let Some(sequence) = sequence else {
        return Err(StoreError::Invalid(
            "orders.id is not fed by a sequence (SERIAL): nothing was changed".into(),
        ));
    };
    for (_, name) in &references {
        tx.execute(AssertSqlSafe(format!(
            "ALTER TABLE idempotency_keys DROP CONSTRAINT \"{}\"",
            name.replace('"', "\"\"")
        )))
        .await?;
    }
    tx.execute(AssertSqlSafe(format!(
        "CREATE TABLE orders_partitioned (
             id INTEGER NOT NULL DEFAULT nextval('{}'::regclass),
             user_id VARCHAR(255) NOT NULL,
             product_id INTEGER NOT NULL,
             quantity INTEGER NOT NULL,
             total_price DECIMAL(10, 2) NOT NULL,
             status VARCHAR(50) DEFAULT 'completed',
             created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
         ) PARTITION BY RANGE (created_at);
         CREATE TABLE {DEFAULT_PARTITION} PARTITION OF orders_partitioned DEFAULT",
        sequence.replace('\'', "''")
    )))
    .await?;
    for month in months_wanted(today, oldest, plan.months_ahead) {
        let name = partition_name(month);
        tx.execute(AssertSqlSafe(format!(
            "CREATE TABLE {name} PARTITION OF orders_partitioned {}",
            bounds(month)
        )))
        .await?;
        created.push(name);
    }
    let list = COLUMNS.join(", ");
    let copied = tx
        .execute(AssertSqlSafe(format!(
            "INSERT INTO orders_partitioned ({list}) SELECT {list} FROM orders"
        )))
        .await?
        .rows_affected();
    if copied != count as u64 {
        return Err(StoreError::Other(format!(
            "copied {copied} of {count} orders; rolled back, nothing was changed"
        )));
    }
    tx.execute(AssertSqlSafe(format!(
        "ALTER SEQUENCE {sequence} OWNED BY orders_partitioned.id;
         DROP TABLE orders;
         ALTER TABLE orders_partitioned RENAME TO orders;
         ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id, created_at);
         ALTER TABLE orders ADD CONSTRAINT orders_product_id_fkey
             FOREIGN KEY (product_id) REFERENCES products(id);
         CREATE INDEX idx_orders_product_id ON orders(product_id);
         CREATE INDEX idx_orders_created_at ON orders(created_at);
         ALTER TABLE orders ADD CONSTRAINT orders_quantity_positive CHECK (quantity > 0) NOT VALID"
    )))
    .await?;
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_read_back_from_its_partition_name_only() {
        assert_eq!(
            month_from_name("orders_p2027_01"),
            NaiveDate::from_ymd_opt(2027, 1, 1)
        );
        assert_eq!(month_from_name("orders_default"), None);
        assert_eq!(month_from_name("orders_week_3"), None);
    }

    #[test]
    fn bounds_run_from_the_first_of_the_month_to_the_first_of_the_next() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 17).expect("date");
        assert_eq!(
            bounds(d),
            "FOR VALUES FROM ('2026-12-01') TO ('2027-01-01')"
        );
    }
}
