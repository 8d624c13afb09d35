//! SQLite: the embedded, zero-setup backend. One writer connection serializes every write in
//! this process (SQLite allows one writer at a time anyway, and queueing in the pool is cheaper
//! and fairer than SQLite's busy-sleep loop); readers use their own pool and see committed data
//! through WAL without blocking the writer.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Executor};

mod batched;
mod idempotency;
mod sales;

use super::batch::Batcher;
use super::metrics::PoolMetrics;
use super::{
    DetailRow, KeyRecord, NewPurchase, OrderRef, PoolStatus, Sale, SeedReport, StatsParts,
    StoreError, seed,
};
use crate::config::PoolSettings;
use crate::model::{Order, Product, ProductDetail};
use crate::money::Money;
use crate::purchase::RaceHook;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READERS: u32 = 4;

/// An SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    writer: SqlitePool,
    readers: SqlitePool,
    metrics: Arc<PoolMetrics>,
    batcher: Arc<Batcher>,
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    name: String,
    stock: i32,
    price_cents: i64,
}

#[derive(sqlx::FromRow)]
struct InsertedOrder {
    id: i64,
    created_at: NaiveDateTime,
}

impl SqliteStore {
    /// Opens (creating it and its directory when missing) and migrates the file; a new file is
    /// also seeded, so the first run has a sale to show.
    pub async fn open(path: &Path, settings: &PoolSettings) -> Result<Self, StoreError> {
        let is_new = !path.exists();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Other(format!("cannot create {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before a purchase is acknowledged.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
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
        let store = Self {
            path: path.to_path_buf(),
            writer,
            readers,
            metrics: Arc::new(PoolMetrics::new()),
            batcher: Arc::new(Batcher::new(
                settings.batch_max as usize,
                settings.acquire_timeout,
            )),
        };
        store.migrate().await?;
        if is_new {
            store.seed().await?;
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn metrics(&self) -> &PoolMetrics {
        &self.metrics
    }

    pub(super) fn batcher(&self) -> &Batcher {
        &self.batcher
    }

    /// Nothing to listen to: SQLite has no notifications. A restock by another process on the
    /// same file is seen when the sold-out memory expires.
    pub(super) fn watch_restocks(&self) {}

    /// The writer connection for the purchase path, its wait recorded for the pool pane.
    async fn acquire_writer(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        let wait = self.metrics.start_wait();
        let result = self.writer.acquire().await;
        wait.finish(matches!(result, Err(sqlx::Error::PoolTimedOut)));
        Ok(result?)
    }

    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    pub(super) async fn seed(&self) -> Result<SeedReport, StoreError> {
        let mut conn = self.writer.acquire().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
            .fetch_one(&mut *tx)
            .await?;
        if existing > 0 {
            return Ok(SeedReport {
                products: 0,
                orders: 0,
                already_seeded: true,
            });
        }
        let mut ids = Vec::with_capacity(seed::PRODUCTS.len());
        for p in &seed::PRODUCTS {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO products (name, description, image_url, stock, price_cents)
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
            )
            .bind(p.name)
            .bind(p.description)
            .bind(p.image_url)
            .bind(p.stock)
            .bind(p.price.cents())
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        for o in &seed::ORDERS {
            let product = &seed::PRODUCTS[o.product];
            sqlx::query(
                "INSERT INTO orders (user_id, product_id, quantity, total_price_cents, created_at)
                 VALUES (?1, ?2, ?3, ?4,
                         strftime('%Y-%m-%d %H:%M:%f', 'now', 'start of day',
                                  printf('-%d days', ?5), printf('+%d hours', ?6)))",
            )
            .bind(o.user)
            .bind(ids[o.product])
            .bind(o.quantity)
            .bind(product.price.times(i64::from(o.quantity)).cents())
            .bind(o.days_ago)
            .bind(o.hour)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(SeedReport {
            products: ids.len(),
            orders: seed::ORDERS.len(),
            already_seeded: false,
        })
    }

    pub(super) async fn drop_all(&self) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await?;
        conn.execute(
            "DROP TABLE IF EXISTS idempotency_keys; DROP TABLE IF EXISTS orders;
             DROP TABLE IF EXISTS products;
             DROP TABLE IF EXISTS _sqlx_migrations;",
        )
        .await?;
        Ok(())
    }

    pub(super) async fn products(&self) -> Result<Vec<Product>, StoreError> {
        let rows: Vec<(i32, String, i64, i32)> =
            sqlx::query_as("SELECT id, name, price_cents, stock FROM products ORDER BY id")
                .fetch_all(&self.readers)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, cents, stock)| Product {
                id,
                name,
                price: Money::from_cents(cents),
                stock,
            })
            .collect())
    }

    pub(super) async fn product_detail(
        &self,
        id: i32,
    ) -> Result<Option<ProductDetail>, StoreError> {
        let row: Option<DetailRow> = sqlx::query_as(
            "SELECT id, name, description, image_url, stock, price_cents FROM products WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.readers)
        .await?;
        Ok(row.map(ProductDetail::from))
    }

    pub(super) async fn stock(&self, id: i32) -> Result<Option<i32>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT stock FROM products WHERE id = ?1")
                .bind(id)
                .fetch_optional(&self.readers)
                .await?,
        )
    }

    pub(super) async fn set_stock(&self, id: i32, stock: i32) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE products SET stock = ?2, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
             WHERE id = ?1",
        )
        .bind(id)
        .bind(stock)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_order(
        conn: &mut sqlx::SqliteConnection,
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

    fn order(
        p: NewPurchase<'_>,
        name: String,
        total: Money,
        remaining: i32,
        o: InsertedOrder,
    ) -> Order {
        Order {
            id: o.id,
            product_id: p.product_id,
            product_name: name,
            quantity: p.quantity,
            total_price: total,
            remaining_stock: remaining,
            created_at: o.created_at,
        }
    }

    /// SQLite has no row locks: `BEGIN IMMEDIATE` takes the database's write lock up front,
    /// then the same read, guarded update and insert as on PostgreSQL.
    pub(super) async fn purchase_row_lock(
        &self,
        p: NewPurchase<'_>,
        key: Option<KeyRecord<'_>>,
    ) -> Result<Sale, StoreError> {
        let mut conn = self.acquire_writer().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let product: Option<ProductRow> =
            sqlx::query_as("SELECT name, stock, price_cents FROM products WHERE id = ?1")
                .bind(p.product_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(product) = product else {
            tx.rollback().await?;
            return Ok(Sale::NotFound);
        };
        if product.stock < p.quantity {
            tx.rollback().await?;
            return Ok(Sale::SoldOut {
                available: product.stock,
            });
        }
        let remaining: Option<i32> = sqlx::query_scalar(
            "UPDATE products SET stock = stock - ?2, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
             WHERE id = ?1 AND stock >= ?2 RETURNING stock",
        )
        .bind(p.product_id)
        .bind(p.quantity)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(remaining) = remaining else {
            tx.rollback().await?;
            return Ok(Sale::SoldOut {
                available: product.stock,
            });
        };
        let total = Money::from_cents(product.price_cents).times(i64::from(p.quantity));
        let order = Self::insert_order(&mut tx, p, total).await?;
        if let Some(key) = key {
            idempotency::insert_purchased(&mut tx, key, order.id, remaining).await?;
        }
        tx.commit().await?;
        Ok(Sale::Purchased(Self::order(
            p,
            product.name,
            total,
            remaining,
            order,
        )))
    }

    /// `BEGIN IMMEDIATE`, then the guarded decrement with RETURNING and the insert.
    pub(super) async fn purchase_atomic(
        &self,
        p: NewPurchase<'_>,
        key: Option<KeyRecord<'_>>,
    ) -> Result<Sale, StoreError> {
        let mut conn = self.acquire_writer().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let updated: Option<ProductRow> = sqlx::query_as(
            "UPDATE products SET stock = stock - ?2, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
             WHERE id = ?1 AND stock >= ?2 RETURNING name, stock, price_cents",
        )
        .bind(p.product_id)
        .bind(p.quantity)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(product) = updated else {
            let stock: Option<i32> = sqlx::query_scalar("SELECT stock FROM products WHERE id = ?1")
                .bind(p.product_id)
                .fetch_optional(&mut *tx)
                .await?;
            tx.rollback().await?;
            return Ok(match stock {
                Some(available) => Sale::SoldOut { available },
                None => Sale::NotFound,
            });
        };
        let total = Money::from_cents(product.price_cents).times(i64::from(p.quantity));
        let order = Self::insert_order(&mut tx, p, total).await?;
        if let Some(key) = key {
            idempotency::insert_purchased(&mut tx, key, order.id, product.stock).await?;
        }
        tx.commit().await?;
        Ok(Sale::Purchased(Self::order(
            p,
            product.name,
            total,
            product.stock,
            order,
        )))
    }

    /// UNSAFE by design: reads through a reader connection, waits on the race hook, then writes
    /// the absolute value computed here.
    /// A key is recorded after the order, best effort: there is no transaction to join.
    pub(super) async fn purchase_naive(
        &self,
        p: NewPurchase<'_>,
        race: Option<&RaceHook>,
        key: Option<KeyRecord<'_>>,
    ) -> Result<Sale, StoreError> {
        let product: Option<ProductRow> =
            sqlx::query_as("SELECT name, stock, price_cents FROM products WHERE id = ?1")
                .bind(p.product_id)
                .fetch_optional(&self.readers)
                .await?;
        let Some(product) = product else {
            return Ok(Sale::NotFound);
        };
        if product.stock < p.quantity {
            return Ok(Sale::SoldOut {
                available: product.stock,
            });
        }
        if let Some(hook) = race {
            hook.wait().await;
        }
        let remaining = product.stock - p.quantity;
        let mut conn = self.acquire_writer().await?;
        sqlx::query("UPDATE products SET stock = ?2 WHERE id = ?1")
            .bind(p.product_id)
            .bind(remaining)
            .execute(&mut *conn)
            .await?;
        let total = Money::from_cents(product.price_cents).times(i64::from(p.quantity));
        let order = Self::insert_order(&mut conn, p, total).await?;
        drop(conn);
        if let Some(key) = key
            && let Err(e) = self
                .record_key_for_order(key, "purchased", Some(order.id), Some(remaining))
                .await
        {
            tracing::warn!(error = %e, "naive purchase: idempotency key not recorded");
        }
        Ok(Sale::Purchased(Self::order(
            p,
            product.name,
            total,
            remaining,
            order,
        )))
    }

    pub(super) async fn stats_parts(&self, since: NaiveDate) -> Result<StatsParts, StoreError> {
        let since = since.format("%Y-%m-%d").to_string();
        let (total_revenue_cents, total_units): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(total_price_cents), 0), COALESCE(SUM(quantity), 0) FROM orders",
        )
        .fetch_one(&self.readers)
        .await?;
        let top = sqlx::query_as(
            "SELECT p.id, p.name, t.units, t.cents FROM (
                 SELECT product_id, SUM(quantity) AS units, SUM(total_price_cents) AS cents
                 FROM orders GROUP BY product_id
             ) t JOIN products p ON p.id = t.product_id
             ORDER BY t.units DESC, p.id LIMIT 3",
        )
        .fetch_all(&self.readers)
        .await?;
        let days = sqlx::query_as(
            "SELECT substr(created_at, 1, 10) AS day, SUM(total_price_cents), SUM(quantity)
             FROM orders WHERE created_at >= ?1 GROUP BY day ORDER BY day",
        )
        .bind(since)
        .fetch_all(&self.readers)
        .await?;
        Ok(StatsParts {
            total_revenue_cents,
            total_units,
            top,
            days,
        })
    }

    pub(super) async fn max_order_id(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM orders")
                .fetch_one(&self.readers)
                .await?,
        )
    }

    pub(super) async fn orders_after(
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

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.readers.acquire().await?;
        conn.ping().await?;
        Ok(())
    }

    pub(super) fn pool_status(&self) -> PoolStatus {
        let size = self.writer.size() + self.readers.size();
        let idle = self.writer.num_idle() + self.readers.num_idle();
        PoolStatus {
            size,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max: self.writer.options().get_max_connections()
                + self.readers.options().get_max_connections(),
        }
    }

    pub(super) async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }
}
