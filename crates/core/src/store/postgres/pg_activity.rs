//! `flashsale activity` on PostgreSQL: `pg_stat_activity` for our database (every backend but
//! the one asking), two samples of `pg_stat_database` for the commit rates, `pg_locks` on
//! `products`, and `pg_cancel_backend` / `pg_terminate_backend` for one of them.

use std::time::Instant;

use super::*;
use crate::store::activity::{
    Activity, BackendRow, ProductLock, RATE_INTERVAL, Rates, Signal, Signalled,
};

const BACKENDS: &str = "SELECT a.pid, COALESCE(a.application_name, '') AS application,
        a.usename::text AS user_name, host(a.client_addr) AS client,
        COALESCE(a.backend_type, '') AS backend_type, a.state,
        COALESCE(a.query, '') AS query,
        (EXTRACT(EPOCH FROM (CASE WHEN a.state = 'active' THEN clock_timestamp()
                                  ELSE a.state_change END) - a.query_start) * 1000)::float8
            AS query_ms,
        a.wait_event_type, a.wait_event,
        pg_blocking_pids(a.pid) AS blocked_by,
        (EXTRACT(EPOCH FROM clock_timestamp() - a.xact_start) * 1000)::float8 AS transaction_ms,
        CASE WHEN a.state LIKE 'idle in transaction%'
             THEN (EXTRACT(EPOCH FROM clock_timestamp() - a.state_change) * 1000)::float8
        END AS idle_in_transaction_ms
    FROM pg_stat_activity a
    WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
    ORDER BY a.xact_start NULLS LAST, a.pid";

const PRODUCT_LOCKS: &str = "SELECT l.pid, l.locktype, l.mode, l.granted FROM pg_locks l
    WHERE l.relation = to_regclass('products')::oid
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.pid IS DISTINCT FROM pg_backend_pid()
    ORDER BY l.granted, l.pid, l.mode";

const COUNTERS: &str = "SELECT current_database()::text, xact_commit::int8, xact_rollback::int8
    FROM pg_stat_database WHERE datname = current_database()";

impl PgBackend {
    /// Samples the counters, lists the backends and locks, and samples the counters again
    /// [`RATE_INTERVAL`] after the first sample. Each step its own operation: no connection
    /// or transaction is held across the wait.
    pub(super) async fn database_activity(&self) -> Result<Activity, StoreError> {
        let first = self.counters().await?;
        let started = Instant::now();
        let (backends, product_locks) = self
            .bounded(2, async |conn, route| {
                let backends: Vec<BackendRow> = sqlx::query_as(BACKENDS)
                    .persistent(route.persistent())
                    .fetch_all(&mut *conn)
                    .await?;
                let locks: Vec<ProductLock> = sqlx::query_as(PRODUCT_LOCKS)
                    .persistent(route.persistent())
                    .fetch_all(&mut *conn)
                    .await?;
                Ok((backends, locks))
            })
            .await?;
        tokio::time::sleep(RATE_INTERVAL.saturating_sub(started.elapsed())).await;
        let second = self.counters().await?;
        let elapsed = started.elapsed();
        let per_s = |a: i64, b: i64| (b - a).max(0) as f64 / elapsed.as_secs_f64().max(1e-3);
        Ok(Activity {
            database: second.0,
            backends,
            rates: Rates {
                commits_per_s: per_s(first.1, second.1),
                rollbacks_per_s: per_s(first.2, second.2),
                interval_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            },
            product_locks,
        })
    }

    async fn counters(&self) -> Result<(String, i64, i64), StoreError> {
        self.bounded(1, async |conn, route| {
            Ok(sqlx::query_as(COUNTERS)
                .persistent(route.persistent())
                .fetch_one(conn)
                .await?)
        })
        .await
    }

    /// Sends `signal` to backend `pid` of this database (never to the connection asking).
    pub(super) async fn signal_backend(
        &self,
        pid: i32,
        signal: Signal,
    ) -> Result<Signalled, StoreError> {
        let call = match signal {
            Signal::Cancel => {
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
                 WHERE pid = $1 AND datname = current_database() AND pid <> pg_backend_pid()"
            }
            Signal::Terminate => {
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE pid = $1 AND datname = current_database() AND pid <> pg_backend_pid()"
            }
        };
        self.bounded(2, async |conn, route| {
            let role: String = sqlx::query_scalar("SELECT current_user::text")
                .persistent(route.persistent())
                .fetch_one(&mut *conn)
                .await?;
            let sent: Result<Option<bool>, sqlx::Error> = sqlx::query_scalar(call)
                .persistent(route.persistent())
                .bind(pid)
                .fetch_optional(&mut *conn)
                .await;
            match sent {
                Ok(None) => Ok(Signalled::NoSuchBackend),
                Ok(Some(true)) => Ok(Signalled::Sent),
                Ok(Some(false)) => Ok(Signalled::Refused),
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => {
                    Ok(Signalled::NotPermitted {
                        role,
                        message: e.message().to_string(),
                    })
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }
}
