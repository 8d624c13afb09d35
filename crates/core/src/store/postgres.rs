//! PostgreSQL: the production engine, on the reference system's schema. This file holds the
//! connection handling (the pool, client-side deadlines, the pool's wait figures) and the reads;
//! the purchase statements, the batch, idempotency keys, the dashboard's queries and the restock
//! listener have a file each.

mod pg_activity;
mod pg_batch;
mod pg_connect;
mod pg_keys;
mod pg_leases;
mod pg_loopback;
mod pg_partitions;
mod pg_pool;
mod pg_replication;
mod pg_restocks;
mod pg_route;
mod pg_sales;
mod pg_sellers;
mod pg_stats;
mod pg_tx;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, Postgres};
use sqlx::{Connection, Executor};

pub use pg_leases::{EXPIRY as LEASE_EXPIRY, IDLE_RETURN as LEASE_IDLE_RETURN};
use pg_leases::{lease_aware, leased, pick, writer};
pub use pg_loopback::{loopback_without_sslmode, transport};
pub use pg_restocks::RestockWatch;
use pg_route::{PoolerState, Route};
pub use pg_sales::ORDERS_SINCE_SQL;
pub use pg_sellers::CLAIM_EXPIRY;
pub(crate) use pg_sellers::{Claim, SellerClaims};

use super::activity::{Activity, Signal, Signalled};
use super::backend::{Backend, Transaction};
use super::metrics::PoolMetrics;
use super::partitions::{PartitionPlan, PartitionReport};
use super::recent::{self, RecentRow};
use super::replication::WalPosition;
use super::sale::DetailRow;
use super::sale::KeyLookup;
use super::sale::{Applied, ProductBatch};
use super::sale::{InsertedOrder, ProductForSale};
use super::sales::{ActivityCount, OrderRow, SalesBaseline};
use super::stats::StatsParts;
use super::{KeyRecord, KeyWrite, NewPurchase, OrderRef, PoolStatus, Restock, Sale, StoreError};
use crate::config::{BackendKind, PoolSettings};
use crate::model::{Product, ProductDetail};
use crate::money::Money;
use crate::redact::SecretUrl;

/// Connections idle longer than this are pinged before use; fresher ones are trusted, which
/// keeps the ping's round trip off the hot path of a storm.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// A PostgreSQL database.
#[derive(Debug, Clone)]
pub(crate) struct PgBackend {
    pool: PgPool,
    /// The store's pool figures: every acquire's wait is recorded here.
    metrics: Arc<PoolMetrics>,
    /// The server's bound on one statement; the client-side deadlines are built from it.
    statement_timeout: Duration,
    /// Whether a transaction pooler is in between (`pg_route`), learnt on the first connection.
    pooler: Arc<PoolerState>,
    /// How to connect once a pooler is known: without the startup parameters it refuses.
    pooled_options: PgConnectOptions,
    /// Where the restock listener connects: `database_listen_url` if given, else the database.
    listen_options: PgConnectOptions,
    /// The stock this process holds off the products' rows (`pg_leases`).
    leases: Arc<pg_leases::Leases>,
    /// The configured acquire timeout and pool ceiling, for the words of a failed acquire.
    acquire_timeout: Duration,
    max_connections: u32,
    /// Why the last acquire that timed out did (`pg_connect`).
    diagnosis: Arc<pg_connect::Diagnosis>,
}

#[async_trait]
impl Backend for PgBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Postgres
    }

    fn deadline(&self, statements: u32) -> Option<Duration> {
        Some(self.deadline_for(statements))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // Acquired first, so a pooler is detected before the migrator picks its way.
        let mut conn = self.acquire().await?;
        match self.route() {
            Route::Direct => {
                drop(conn);
                super::migrations::postgres().run(&self.pool).await?;
            }
            // sqlx's migrator takes a session advisory lock and prepares named statements:
            // neither may outlive a transaction behind a pooler. So one transaction for all of
            // it, serialized by a transaction-level lock, its statements deallocated before the
            // commit, and the connection (with its client-side statement cache) closed after.
            Route::Pooled => {
                conn.close_on_drop();
                let mut migrator = super::migrations::postgres();
                migrator.set_locking(false);
                let begin = pg_route::begin_pooled(self.statement_timeout);
                let mut tx = conn.begin_with(sqlx::AssertSqlSafe(begin)).await?;
                tx.execute("SELECT pg_advisory_xact_lock(hashtext('flashsale migrations'))")
                    .await?;
                // `run_direct` is `run` on a connection in hand (sqlx's way round a lifetime
                // bound that `run(&mut conn)` cannot meet inside a boxed future).
                migrator.run_direct(None, &mut *tx, false).await?;
                tx.execute("DEALLOCATE ALL").await?;
                tx.commit().await?;
            }
        }
        // Leases that processes killed since left behind go back to their rows now, not only
        // when another running process's keeper gets to them.
        self.leases.learn(true);
        pg_leases::reclaim_expired(&self.pool, self.deadline_for(1)).await
    }

    async fn drop_all(&self) -> Result<(), StoreError> {
        let mut conn = self.acquire().await?;
        conn.execute(
            "DROP TABLE IF EXISTS product_sellers, stock_leases, idempotency_keys, orders, products,
                 _sqlx_migrations CASCADE;
             DROP FUNCTION IF EXISTS flashsale_stock_set_elsewhere()",
        )
        .await?;
        Ok(())
    }

    async fn orders_partitioned(&self) -> Result<bool, StoreError> {
        self.bounded(1, async |conn, _| pg_partitions::is_partitioned(conn).await)
            .await
    }

    async fn partition_orders(
        &self,
        plan: PartitionPlan,
    ) -> Result<Option<PartitionReport>, StoreError> {
        // Not `bounded`: copying a table of orders outlasts any purchase's deadline, and each
        // step is a transaction of its own (`pg_partitions` sets its own timeouts).
        let mut conn = self.acquire().await?;
        let today = chrono::Utc::now().date_naive();
        let report =
            pg_partitions::apply(&mut conn, self.route(), self.statement_timeout, plan, today)
                .await?;
        Ok(Some(report))
    }

    async fn products(&self) -> Result<Vec<Product>, StoreError> {
        self.bounded(1, async |conn, route| {
            const PRODUCTS: [&str; 2] = lease_aware!(
                "SELECT id, name, (price * 100)::int8, stock + ",
                (leased "products.id"),
                " FROM products ORDER BY id"
            );
            let rows: Vec<super::row::ProductRow> =
                sqlx::query_as(pick(&PRODUCTS, self.leases.on()))
                    .persistent(route.persistent())
                    .fetch_all(conn)
                    .await?;
            Ok(rows.into_iter().map(super::row::product).collect())
        })
        .await
    }

    async fn product_detail(&self, id: i32) -> Result<Option<ProductDetail>, StoreError> {
        self.bounded(1, async |conn, route| {
            const DETAIL: [&str; 2] = lease_aware!(
                "SELECT id, name, description, image_url, stock + ",
                (leased "products.id"),
                " AS stock, (price * 100)::int8 AS price_cents FROM products WHERE id = $1"
            );
            let row: Option<DetailRow> = sqlx::query_as(pick(&DETAIL, self.leases.on()))
                .persistent(route.persistent())
                .bind(id)
                .fetch_optional(conn)
                .await?;
            Ok(row.map(ProductDetail::from))
        })
        .await
    }

    async fn stock(&self, id: i32) -> Result<Option<i32>, StoreError> {
        self.bounded(1, async |conn, route| {
            Ok(sqlx::query_scalar(pick(&pg_tx::STOCK, self.leases.on()))
                .persistent(route.persistent())
                .bind(id)
                .fetch_optional(conn)
                .await?)
        })
        .await
    }

    async fn stocks(&self, ids: &[i32]) -> Result<Vec<(i32, i32)>, StoreError> {
        self.bounded(1, async |conn, route| {
            Ok(sqlx::query_as(pick(&pg_tx::STOCKS, self.leases.on()))
                .persistent(route.persistent())
                .bind(ids)
                .fetch_all(conn)
                .await?)
        })
        .await
    }

    async fn stats_parts(&self, since: NaiveDate) -> Result<StatsParts, StoreError> {
        self.bounded(3, async |conn, route| {
            pg_stats::parts(conn, route, since).await
        })
        .await
    }

    async fn max_order_id(&self) -> Result<i64, StoreError> {
        self.bounded(1, async |conn, route| {
            Ok(
                sqlx::query_scalar("SELECT COALESCE(MAX(id), 0)::int8 FROM orders")
                    .persistent(route.persistent())
                    .fetch_one(conn)
                    .await?,
            )
        })
        .await
    }

    async fn orders_after(
        &self,
        product_id: i32,
        after_id: i64,
        pattern: &str,
    ) -> Result<Vec<OrderRef>, StoreError> {
        self.bounded(1, async |conn, route| {
            Ok(sqlx::query_as(
                "SELECT id::int8 AS id, quantity FROM orders
                 WHERE id > $2 AND product_id = $1 AND user_id LIKE $3 ESCAPE '\\' ORDER BY id",
            )
            .persistent(route.persistent())
            .bind(product_id)
            .bind(after_id)
            .bind(pattern)
            .fetch_all(conn)
            .await?)
        })
        .await
    }

    async fn recent_orders(
        &self,
        product_id: i32,
        limit: i64,
    ) -> Result<Vec<RecentRow>, StoreError> {
        self.bounded(1, async |conn, route| {
            Ok(sqlx::query_as(recent::PG_SQL)
                .persistent(route.persistent())
                .bind(product_id)
                .bind(limit)
                .fetch_all(conn)
                .await?)
        })
        .await
    }

    async fn sales_baseline(
        &self,
        since: NaiveDate,
        gap_window: i64,
    ) -> Result<SalesBaseline, StoreError> {
        self.bounded(4, async |conn, route| {
            pg_sales::baseline(conn, route, since, gap_window).await
        })
        .await
    }

    async fn orders_since(
        &self,
        after: i64,
        missing: &[i64],
        limit: i64,
    ) -> Result<Vec<OrderRow>, StoreError> {
        self.bounded(1, async |conn, route| {
            pg_sales::orders_since(conn, route, after, missing, limit).await
        })
        .await
    }

    async fn server_activity(&self) -> Result<Option<Vec<ActivityCount>>, StoreError> {
        self.bounded(1, async |conn, route| {
            pg_sales::activity(conn, route).await.map(Some)
        })
        .await
    }

    async fn activity(&self) -> Result<Option<Activity>, StoreError> {
        self.database_activity().await.map(Some)
    }

    async fn signal(&self, pid: i32, signal: Signal) -> Result<Option<Signalled>, StoreError> {
        self.signal_backend(pid, signal).await.map(Some)
    }

    async fn wal_syncs(&self) -> Result<Option<i64>, StoreError> {
        self.bounded(1, async |c, r| pg_replication::syncs(c, r).await.map(Some))
            .await
    }

    async fn wal_position(&self) -> Result<Option<WalPosition>, StoreError> {
        self.bounded(1, async |c, r| {
            pg_replication::position(c, r).await.map(Some)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.acquire().await?;
        conn.ping().await?;
        Ok(())
    }

    fn pool_status(&self) -> PoolStatus {
        PoolStatus {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }

    async fn close(&self) {
        self.leases
            .return_all(&self.pool, self.deadline_for(1))
            .await;
        self.pool.close().await;
    }

    async fn set_stock(&self, id: i32, stock: i32) -> Result<Option<Restock>, StoreError> {
        self.bounded(1, async |conn, route| {
            pg_restocks::set_stock(conn, route, self.leases.on(), id, stock).await
        })
        .await
    }

    async fn begin(&self) -> Result<Box<dyn Transaction>, StoreError> {
        let conn = self.acquire().await?;
        // Open from before its BEGIN: one that fails or stalls is dropped open, which closes
        // its connection.
        let route = self.route();
        let mut tx = pg_tx::PgTransaction::new(conn, route, self.leases.on());
        let deadline = self.deadline_for(1);
        let begin = match route {
            Route::Direct => "BEGIN".to_string(),
            Route::Pooled => pg_route::begin_pooled(self.statement_timeout),
        };
        let begun = tx.connection().execute(sqlx::AssertSqlSafe(begin));
        match tokio::time::timeout(deadline, begun).await {
            Ok(Ok(_)) => Ok(Box::new(tx)),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(StoreError::Timeout(deadline)),
        }
    }

    async fn purchase_atomic(
        &self,
        p: NewPurchase<'_>,
        key: Option<KeyRecord<'_>>,
    ) -> Result<Sale, StoreError> {
        self.bounded(2, async |conn, route| {
            pg_tx::atomic(conn, route, self.leases.on(), p, key).await
        })
        .await
    }

    async fn apply_batches(&self, batches: &[ProductBatch]) -> Vec<Applied> {
        let every = |e: StoreError| batches.iter().map(|_| Err(e.clone())).collect();
        // A batch of several checks its connection first, so a backend closed while idle does
        // not fail all of them; a lone purchase skips the ping, like `atomic`.
        let items: usize = batches.iter().map(|b| b.items.len()).sum();
        let conn = if items > 1 {
            self.acquire_live().await
        } else {
            self.acquire().await
        };
        let conn = match conn {
            Ok(conn) => conn,
            Err(e) => return every(e),
        };
        // The shared statement, then at most the locked path's three per product that did not
        // fit (bounded: a hang guard, not a budget).
        let others = u32::try_from(batches.len().saturating_sub(1)).unwrap_or(u32::MAX);
        let statements = 5 + 3 * others.min(8);
        self.leases.ensure_keeper(&self.pool, self.deadline_for(1));
        let keyed = super::sale::any_keyed(batches);
        let applied = self
            .bounded_on(conn, statements + 3, async |conn, route| {
                if !keyed {
                    return Ok(pg_batch::apply_many(conn, route, &self.leases, batches).await);
                }
                // The keys commit with the orders, or neither does (a taken key: 23505): in
                // the selling statement itself for one product that fits, else in a
                // transaction around the batch.
                if let [only] = batches
                    && let Some(applied) =
                        pg_batch::sell_keyed_if_fits(conn, route, &self.leases, only).await?
                {
                    return Ok(vec![applied]);
                }
                let mut tx = conn.begin().await?;
                let applied = pg_batch::apply_many(&mut tx, route, &self.leases, batches).await;
                let keys = super::sale::purchased_keys(batches, &applied);
                pg_keys::insert_purchased_many(&mut tx, route, &keys).await?;
                tx.commit().await?;
                Ok(applied)
            })
            .await;
        applied.unwrap_or_else(every)
    }

    async fn read_unlocked(&self, id: i32) -> Result<Option<ProductForSale>, StoreError> {
        self.bounded(1, async |conn, route| {
            Ok(sqlx::query_as(
                "SELECT name, stock, (price * 100)::int8 AS price_cents FROM products WHERE id = $1",
            )
.persistent(route.persistent())
            .bind(id)
            .fetch_optional(conn)
            .await?)
        })
        .await
    }

    async fn write_unlocked(
        &self,
        p: NewPurchase<'_>,
        stock: i32,
        total: Money,
    ) -> Result<InsertedOrder, StoreError> {
        self.bounded(2, async |conn, route| {
            sqlx::query(concat!(
                "UPDATE products SET stock = $2, updated_at = CURRENT_TIMESTAMP WHERE id = $1 AND ",
                writer!()
            ))
            .persistent(route.persistent())
            .bind(p.product_id)
            .bind(stock)
            .execute(&mut *conn)
            .await?;
            pg_tx::insert_order(conn, route, p, total).await
        })
        .await
    }

    async fn idempotency_lookup_many(&self, keys: &[String]) -> Result<Vec<KeyLookup>, StoreError> {
        self.bounded(1, async |conn, route| {
            pg_keys::lookup_many(conn, route, keys).await
        })
        .await
    }

    async fn record_key(
        &self,
        key: KeyRecord<'_>,
        outcome: &str,
        order_id: Option<i64>,
        remaining: Option<i32>,
    ) -> Result<KeyWrite, StoreError> {
        self.bounded(1, async |conn, route| {
            pg_keys::record(conn, route, key, outcome, order_id, remaining).await
        })
        .await
    }

    async fn expire_keys_chunk(&self, ttl: Duration, limit: i64) -> Result<u64, StoreError> {
        self.bounded(1, async |conn, route| {
            pg_keys::expire_chunk(conn, route, ttl, limit).await
        })
        .await
    }
}
