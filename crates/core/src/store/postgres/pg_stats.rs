//! The reference admin statistics on PostgreSQL (`flashsale stats`, `/api/admin/stats`): three
//! aggregates over the whole orders table, one-shot use only (the dashboard tallies instead).

use chrono::NaiveDate;
use sqlx::postgres::PgConnection;

use super::Route;
use crate::store::StoreError;
use crate::store::stats::StatsParts;

/// Totals, the top three products and revenue by day since `since`, on one connection.
pub(super) async fn parts(
    conn: &mut PgConnection,
    route: Route,
    since: NaiveDate,
) -> Result<StatsParts, StoreError> {
    let since = since.and_hms_opt(0, 0, 0).unwrap_or_default();
    let (total_revenue_cents, total_units): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE((SUM(total_price) * 100)::int8, 0), COALESCE(SUM(quantity), 0)::int8
         FROM orders WHERE status = 'completed'",
    )
    .persistent(route.persistent())
    .fetch_one(&mut *conn)
    .await?;
    let top = sqlx::query_as(
        "SELECT p.id, p.name, t.units, t.cents FROM (
             SELECT product_id, SUM(quantity)::int8 AS units,
                    (SUM(total_price) * 100)::int8 AS cents
             FROM orders WHERE status = 'completed' GROUP BY product_id
         ) t JOIN products p ON p.id = t.product_id
         ORDER BY t.units DESC, p.id LIMIT 3",
    )
    .persistent(route.persistent())
    .fetch_all(&mut *conn)
    .await?;
    // On a partitioned table the `created_at` bound prunes the months before `since`.
    let days = sqlx::query_as(
        "SELECT to_char(created_at, 'YYYY-MM-DD') AS day,
                (SUM(total_price) * 100)::int8, SUM(quantity)::int8
         FROM orders WHERE status = 'completed' AND created_at >= $1 GROUP BY day ORDER BY day",
    )
    .persistent(route.persistent())
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    Ok(StatsParts {
        total_revenue_cents,
        total_units,
        top,
        days,
    })
}
