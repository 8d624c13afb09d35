//! The dashboard's queries on PostgreSQL: the baseline read once, the incremental step, and the
//! server's view of our connections.

use chrono::NaiveDate;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor};

use super::Route;

use crate::store::StoreError;
use crate::store::sales::{ActivityCount, OrderRow, SalesBaseline};

/// The dashboard's starting aggregates, all from one REPEATABLE READ snapshot so that the
/// totals and the watermark agree. Behind a pooler the operation's own transaction (nothing
/// read in it yet) is the one set to REPEATABLE READ: a savepoint could not be.
pub(super) async fn baseline(
    conn: &mut PgConnection,
    route: Route,
    since: NaiveDate,
    gap_window: i64,
) -> Result<SalesBaseline, StoreError> {
    match route {
        Route::Direct => {
            let mut tx = conn.begin().await?;
            let baseline = baseline_in(&mut tx, route, since, gap_window).await?;
            tx.commit().await?;
            Ok(baseline)
        }
        Route::Pooled => baseline_in(conn, route, since, gap_window).await,
    }
}

async fn baseline_in(
    tx: &mut PgConnection,
    route: Route,
    since: NaiveDate,
    gap_window: i64,
) -> Result<SalesBaseline, StoreError> {
    let since = since.and_hms_opt(0, 0, 0).unwrap_or_default();
    (&mut *tx)
        .execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let max_id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0)::int8 FROM orders")
        .persistent(route.persistent())
        .fetch_one(&mut *tx)
        .await?;
    let per_product = sqlx::query_as(
        "SELECT product_id, SUM(quantity)::int8 AS units,
                (SUM(total_price) * 100)::int8 AS cents
         FROM orders WHERE status = 'completed' GROUP BY product_id ORDER BY product_id",
    )
    .persistent(route.persistent())
    .fetch_all(&mut *tx)
    .await?;
    let per_day = sqlx::query_as(
        "SELECT to_char(created_at, 'YYYY-MM-DD') AS day,
                (SUM(total_price) * 100)::int8 AS cents, SUM(quantity)::int8 AS units
         FROM orders WHERE status = 'completed' AND created_at >= $1 GROUP BY day ORDER BY day",
    )
    .persistent(route.persistent())
    .bind(since)
    .fetch_all(&mut *tx)
    .await?;
    let present_near_top =
        sqlx::query_scalar("SELECT id::int8 FROM orders WHERE id > $1 AND id <= $2 ORDER BY id")
            .persistent(route.persistent())
            .bind(max_id.saturating_sub(gap_window))
            .bind(max_id)
            .fetch_all(&mut *tx)
            .await?;
    Ok(SalesBaseline {
        max_id,
        per_product,
        per_day,
        present_near_top,
    })
}

/// Orders above `after` (the first `limit` of them, by id) and those among `missing`. Two index
/// range scans in a UNION ALL: an `OR` would let the planner walk the whole primary key.
pub(super) async fn orders_since(
    conn: &mut PgConnection,
    route: Route,
    after: i64,
    missing: &[i64],
    limit: i64,
) -> Result<Vec<OrderRow>, StoreError> {
    Ok(sqlx::query_as(ORDERS_SINCE_SQL)
        .persistent(route.persistent())
        .bind(after)
        .bind(missing)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

/// `pg_stat_activity` for this database, counted by state.
pub(super) async fn activity(
    conn: &mut PgConnection,
    route: Route,
) -> Result<Vec<ActivityCount>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT COALESCE(state, 'background') AS state, count(*)::int8 AS count
         FROM pg_stat_activity WHERE datname = current_database()
         GROUP BY 1 ORDER BY 1",
    )
    .persistent(route.persistent())
    .fetch_all(conn)
    .await?)
}

/// The dashboard's incremental step ($1 watermark, $2 missing ids, $3 batch). Public so that
/// tests can check its plan: two index scans, never a scan of the table.
pub const ORDERS_SINCE_SQL: &str = "(SELECT id::int8 AS id, product_id,
                     CASE WHEN status = 'completed' THEN quantity ELSE 0 END AS quantity,
                     CASE WHEN status = 'completed' THEN (total_price * 100)::int8 ELSE 0 END
                         AS cents,
                     to_char(created_at, 'YYYY-MM-DD') AS day
              FROM orders WHERE id > $1 ORDER BY id LIMIT $3)
             UNION ALL
             (SELECT id::int8, product_id,
                     CASE WHEN status = 'completed' THEN quantity ELSE 0 END,
                     CASE WHEN status = 'completed' THEN (total_price * 100)::int8 ELSE 0 END,
                     to_char(created_at, 'YYYY-MM-DD')
              FROM orders WHERE id = ANY($2))";
