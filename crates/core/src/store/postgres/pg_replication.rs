//! The WAL figures of a server: its fsyncs (for benchmarks) and its position (for a read
//! replica's lag).

use sqlx::postgres::PgConnection;

use super::StoreError;
use super::pg_route::Route;
use crate::store::replication::{WalPosition, parse_lsn};

/// WAL syncs so far (`pg_stat_wal`).
pub(super) async fn syncs(conn: &mut PgConnection, route: Route) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT wal_sync::int8 FROM pg_stat_wal")
        .persistent(route.persistent())
        .fetch_one(conn)
        .await?)
}

/// One query for either role: `pg_current_wal_lsn()` fails during recovery, so a standby
/// gives its replay position instead (CASE evaluates only the branch taken).
const POSITION_SQL: &str = "SELECT pg_is_in_recovery(),
    (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text,
    pg_last_wal_receive_lsn()::text,
    (EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::float8";

/// Where this server is in its WAL.
pub(super) async fn position(
    conn: &mut PgConnection,
    route: Route,
) -> Result<WalPosition, StoreError> {
    let (in_recovery, lsn, received, age_ms): (bool, Option<String>, Option<String>, Option<f64>) =
        sqlx::query_as(POSITION_SQL)
            .persistent(route.persistent())
            .fetch_one(conn)
            .await?;
    let read = |text: String| {
        parse_lsn(&text)
            .ok_or_else(|| StoreError::Other(format!("unreadable WAL position '{text}'")))
    };
    Ok(WalPosition {
        in_recovery,
        // A standby that has replayed nothing yet has no replay position: it is at the start.
        lsn: lsn.map(read).transpose()?.unwrap_or(0),
        received: received.map(read).transpose()?,
        // A clock a little behind the primary's can make a fresh commit look from the future.
        replay_age: age_ms.map(|ms| std::time::Duration::from_millis(ms.max(0.0) as u64)),
    })
}
