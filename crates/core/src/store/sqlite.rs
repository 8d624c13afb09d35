//! SQLite: the embedded, zero-setup engine. One writer connection serializes every write in
//! this process (SQLite allows one writer at a time anyway, and queueing in the pool is cheaper
//! and fairer than SQLite's busy-sleep loop); readers use their own pool and see committed data
//! through WAL without blocking the writer. This file holds the connection handling, the reads
//! and the transaction; the batch, idempotency keys and the dashboard's queries have a file each.

mod sqlite_batch;
mod sqlite_keys;
mod sqlite_sales;
mod sqlite_tx;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Executor};

use super::activity::{Activity, Signal, Signalled};
use super::backend::{Backend, Transaction};
use super::metrics::PoolMetrics;
use super::partitions::{PartitionPlan, PartitionReport};
use super::recent::{self, RecentRow};
use super::replication::WalPosition;
use super::sale::{Applied, ProductBatch};
use super::sale::{DetailRow, order_of};
use super::sale::{InsertedOrder, KeyLookup, ProductForSale};
use super::sales::{ActivityCount, OrderRow, SalesBaseline};
use super::stats::StatsParts;
use super::{
    KeyRecord, KeyWrite, NewPurchase, OpenMode, OrderRef, PoolStatus, Restock, Sale, StoreError,
};
use crate::config::{BackendKind, PoolSettings};
use crate::model::{Product, ProductDetail};
use crate::money::Money;
use sqlite_tx::SqliteTransaction;

/// How long a statement waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READERS: u32 = 4;
/// The stock decrement every strategy uses: guarded, returning what the buyer is told.
const DECREMENT: &str = "UPDATE products
     SET stock = stock - ?2, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
     WHERE id = ?1 AND stock >= ?2 RETURNING name, stock, price_cents";

/// An SQLite database file.
#[derive(Debug, Clone)]
pub(crate) struct SqliteBackend {
    writer: SqlitePool,
    readers: SqlitePool,
    /// The store's pool figures: the writer's waits are recorded here.
    metrics: Arc<PoolMetrics>,
}

impl SqliteBackend {
    /// Opens the file as `mode` allows (creating it, and for the embedded default its
    /// directory, when missing); whether it was created (the store then seeds it, so the first
    /// run has a sale to show).
    pub(crate) async fn open(
        path: &Path,
        settings: &PoolSettings,
        metrics: Arc<PoolMetrics>,
        mode: OpenMode,
    ) -> Result<(Self, bool), StoreError> {
        let is_new = !path.exists();
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        match mode {
            OpenMode::Create => {
                if let Some(dir) = dir {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Other(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
            }
            OpenMode::CreateFile => {
                if let Some(dir) = dir.filter(|d| !d.is_dir()) {
                    return Err(StoreError::Other(format!(
                        "cannot create the SQLite database {}: the directory {} does not exist \
                         (create it first, or check the path)",
                        path.display(),
                        dir.display()
                    )));
                }
            }
            OpenMode::Existing | OpenMode::ReadOnly if is_new => {
                return Err(StoreError::Other(format!(
                    "no SQLite database at {} (not created: this command only reads)",
                    path.display()
                )));
            }
            OpenMode::Existing | OpenMode::ReadOnly => {}
        }
        let read_only = mode == OpenMode::ReadOnly;
        let mut options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(matches!(mode, OpenMode::Create | OpenMode::CreateFile))
            .read_only(read_only)
            // FULL: a commit is on disk before a purchase is acknowledged.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        if !read_only {
            options = options.journal_mode(SqliteJournalMode::Wal);
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS.min(settings.max_connections.max(1)))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        let backend = Self {
            writer,
            readers,
            metrics,
        };
        Ok((backend, is_new))
    }

    /// The writer connection for the purchase path, its wait recorded for the pool pane.
    async fn acquire_writer(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        let wait = self.metrics.start_wait();
        let result = self.writer.acquire().await;
        wait.finish(matches!(result, Err(sqlx::Error::PoolTimedOut)));
        Ok(result?)
    }

    /// A transaction holding the database's write lock from its start (`BEGIN IMMEDIATE`):
    /// SQLite has no row locks, so this is what "holding the product's lock" means here.
    async fn begin_immediate(&self) -> Result<SqliteTransaction, StoreError> {
        let mut tx = SqliteTransaction::new(self.acquire_writer().await?);
        tx.conn.execute("BEGIN IMMEDIATE").await?;
        Ok(tx)
    }

    /// Runs `steps` in a `BEGIN IMMEDIATE` transaction: committed when they succeed, rolled
    /// back when one fails (a taken idempotency key, say), the connection kept either way.
    async fn in_transaction<T>(
        &self,
        steps: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tx = Box::new(self.begin_immediate().await?);
        match steps(&mut tx.conn).await {
            Ok(v) => {
                tx.commit().await?;
                Ok(v)
            }
            Err(e) => {
                if let Err(again) = tx.rollback().await {
                    tracing::debug!(error = %again, "rollback after a failed step failed too");
                }
                Err(e)
            }
        }
    }
}

/// Inserts the order of `p` at `total` on `conn` (inside a transaction, or alone for naive).
pub(super) async fn insert_order(
    conn: &mut SqliteConnection,
    p: NewPurchase<'_>,
    total: Money,
) -> Result<InsertedOrder, StoreError> {
    Ok(sqlx::query_as(
        "INSERT INTO orders (user_id, product_id, quantity, total_price_cents)
         VALUES (?1, ?2, ?3, ?4) RETURNING id, created_at",
    )
    .bind(p.user_id)
    .bind(p.product_id)
    .bind(p.quantity)
    .bind(total.cents())
    .fetch_one(conn)
    .await?)
}

#[async_trait]
impl Backend for SqliteBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Sqlite
    }

    /// None: a local file answers or fails by itself (a lock held elsewhere is bounded by
    /// [`BUSY_TIMEOUT`]).
    fn deadline(&self, _statements: u32) -> Option<Duration> {
        None
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        super::migrations::sqlite().run(&self.writer).await?;
        Ok(())
    }

    async fn drop_all(&self) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await?;
        conn.execute(
            "DROP TABLE IF EXISTS idempotency_keys; DROP TABLE IF EXISTS orders;
             DROP TABLE IF EXISTS products;
             DROP TABLE IF EXISTS _sqlx_migrations;",
        )
        .await?;
        Ok(())
    }

    async fn orders_partitioned(&self) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn partition_orders(
        &self,
        _: PartitionPlan,
    ) -> Result<Option<PartitionReport>, StoreError> {
        Ok(None)
    }

    async fn products(&self) -> Result<Vec<Product>, StoreError> {
        sqlite_sales::products(&self.readers).await
    }

    async fn product_detail(&self, id: i32) -> Result<Option<ProductDetail>, StoreError> {
        let row: Option<DetailRow> = sqlx::query_as(
            "SELECT id, name, description, image_url, stock, price_cents FROM products WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.readers)
        .await?;
        Ok(row.map(ProductDetail::from))
    }

    async fn stock(&self, id: i32) -> Result<Option<i32>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT stock FROM products WHERE id = ?1")
                .bind(id)
                .fetch_optional(&self.readers)
                .await?,
        )
    }

    async fn stocks(&self, ids: &[i32]) -> Result<Vec<(i32, i32)>, StoreError> {
        let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        Ok(sqlx::query_as(
            "SELECT id, stock FROM products WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(list)
        .fetch_all(&self.readers)
        .await?)
    }

    async fn stats_parts(&self, since: NaiveDate) -> Result<StatsParts, StoreError> {
        sqlite_sales::stats_parts(&self.readers, since).await
    }

    async fn max_order_id(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM orders")
                .fetch_one(&self.readers)
                .await?,
        )
    }

    async fn orders_after(
        &self,
        product_id: i32,
        after_id: i64,
        pattern: &str,
    ) -> Result<Vec<OrderRef>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, quantity FROM orders
             WHERE id > ?2 AND product_id = ?1 AND user_id LIKE ?3 ESCAPE '\\' ORDER BY id",
        )
        .bind(product_id)
        .bind(after_id)
        .bind(pattern)
        .fetch_all(&self.readers)
        .await?)
    }

    async fn recent_orders(
        &self,
        product_id: i32,
        limit: i64,
    ) -> Result<Vec<RecentRow>, StoreError> {
        Ok(sqlx::query_as(recent::SQLITE_SQL)
            .bind(product_id)
            .bind(limit)
            .fetch_all(&self.readers)
            .await?)
    }

    async fn sales_baseline(
        &self,
        since: NaiveDate,
        gap_window: i64,
    ) -> Result<SalesBaseline, StoreError> {
        let mut conn = self.readers.acquire().await?;
        sqlite_sales::baseline(&mut conn, since, gap_window).await
    }

    async fn orders_since(
        &self,
        after: i64,
        missing: &[i64],
        limit: i64,
    ) -> Result<Vec<OrderRow>, StoreError> {
        sqlite_sales::orders_since(&self.readers, after, missing, limit).await
    }

    /// None: SQLite has no server to ask.
    async fn server_activity(&self) -> Result<Option<Vec<ActivityCount>>, StoreError> {
        Ok(None)
    }

    /// None: SQLite's WAL has no sync counter to read.
    async fn activity(&self) -> Result<Option<Activity>, StoreError> {
        Ok(None)
    }

    async fn signal(&self, _pid: i32, _signal: Signal) -> Result<Option<Signalled>, StoreError> {
        Ok(None)
    }

    async fn wal_syncs(&self) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }

    async fn wal_position(&self) -> Result<Option<WalPosition>, StoreError> {
        Ok(None)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.readers.acquire().await?;
        conn.ping().await?;
        Ok(())
    }

    fn pool_status(&self) -> PoolStatus {
        let size = self.writer.size() + self.readers.size();
        let idle = self.writer.num_idle() + self.readers.num_idle();
        PoolStatus {
            size,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max: self.writer.options().get_max_connections()
                + self.readers.options().get_max_connections(),
        }
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }

    async fn set_stock(&self, id: i32, stock: i32) -> Result<Option<Restock>, StoreError> {
        // On the writer, in one transaction: the stock read is the one replaced.
        self.in_transaction(async |conn| {
            let before: Option<(String, i32)> =
                sqlx::query_as("SELECT name, stock FROM products WHERE id = ?1")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
            let Some((name, previous_stock)) = before else {
                return Ok(None);
            };
            sqlx::query(
                "UPDATE products SET stock = ?2, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
                 WHERE id = ?1",
            )
            .bind(id)
            .bind(stock)
            .execute(&mut *conn)
            .await?;
            Ok(Some(Restock {
                product_id: id,
                name,
                stock,
                previous_stock,
            }))
        })
        .await
    }

    async fn begin(&self) -> Result<Box<dyn Transaction>, StoreError> {
        Ok(Box::new(self.begin_immediate().await?))
    }

    /// `BEGIN IMMEDIATE`, then the guarded decrement with RETURNING and the insert.
    async fn purchase_atomic(
        &self,
        p: NewPurchase<'_>,
        key: Option<KeyRecord<'_>>,
    ) -> Result<Sale, StoreError> {
        self.in_transaction(async |conn| {
            let updated: Option<ProductForSale> = sqlx::query_as(DECREMENT)
                .bind(p.product_id)
                .bind(p.quantity)
                .fetch_optional(&mut *conn)
                .await?;
            let Some(product) = updated else {
                // Nothing was written: the commit ends an empty transaction.
                let stock: Option<i32> =
                    sqlx::query_scalar("SELECT stock FROM products WHERE id = ?1")
                        .bind(p.product_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                return Ok(match stock {
                    Some(available) => Sale::SoldOut { available },
                    None => Sale::NotFound,
                });
            };
            let total = Money::from_cents(product.price_cents).times(i64::from(p.quantity));
            let inserted = insert_order(conn, p, total).await?;
            if let Some(key) = key {
                sqlite_keys::insert_purchased(conn, key, inserted.id, product.stock).await?;
            }
            Ok(Sale::Purchased(order_of(
                p,
                product.name,
                total,
                product.stock,
                inserted,
            )))
        })
        .await
    }

    async fn apply_batches(&self, batches: &[ProductBatch]) -> Vec<Applied> {
        // One writer: every product of the batch in one `BEGIN IMMEDIATE`, one commit.
        let all = self
            .in_transaction(async |conn| {
                let mut applied = Vec::with_capacity(batches.len());
                for b in batches {
                    applied.push(Ok(sqlite_batch::apply(conn, b.product_id, &b.items).await?));
                }
                // The keys commit with the orders, or nothing does (a taken key fails it all).
                for (key, order_id, remaining) in super::sale::purchased_keys(batches, &applied) {
                    sqlite_keys::insert_purchased(conn, key.record(), order_id, remaining).await?;
                }
                Ok(applied)
            })
            .await;
        match all {
            Ok(applied) => applied,
            Err(e) => batches.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    async fn read_unlocked(&self, id: i32) -> Result<Option<ProductForSale>, StoreError> {
        Ok(
            sqlx::query_as("SELECT name, stock, price_cents FROM products WHERE id = ?1")
                .bind(id)
                .fetch_optional(&self.readers)
                .await?,
        )
    }

    async fn write_unlocked(
        &self,
        p: NewPurchase<'_>,
        stock: i32,
        total: Money,
    ) -> Result<InsertedOrder, StoreError> {
        let mut conn = self.acquire_writer().await?;
        sqlx::query("UPDATE products SET stock = ?2 WHERE id = ?1")
            .bind(p.product_id)
            .bind(stock)
            .execute(&mut *conn)
            .await?;
        insert_order(&mut conn, p, total).await
    }

    async fn idempotency_lookup_many(&self, keys: &[String]) -> Result<Vec<KeyLookup>, StoreError> {
        sqlite_keys::lookup_many(&self.readers, keys).await
    }

    async fn record_key(
        &self,
        key: KeyRecord<'_>,
        outcome: &str,
        order_id: Option<i64>,
        remaining: Option<i32>,
    ) -> Result<KeyWrite, StoreError> {
        sqlite_keys::record(&self.writer, key, outcome, order_id, remaining).await
    }

    async fn expire_keys_chunk(&self, ttl: Duration, limit: i64) -> Result<u64, StoreError> {
        sqlite_keys::expire_chunk(&self.writer, ttl, limit).await
    }
}
