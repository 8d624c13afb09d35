//! PostgreSQL: the production backend, on the reference system's schema.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, Postgres};
use sqlx::{Connection, Executor};

mod idempotency;

use super::batch::{self, BatchItem, Batcher};
use super::metrics::PoolMetrics;
use super::sales::{ActivityCount, OrderRow, SalesBaseline};
use super::{
    DetailRow, KeyRecord, NewPurchase, OrderRef, PoolStatus, Sale, SeedReport, StatsParts,
    StoreError, seed,
};
use crate::config::PoolSettings;
use crate::model::{Order, Product, ProductDetail};
use crate::money::Money;
use crate::purchase::RaceHook;
use crate::redact::SecretUrl;

/// Connections idle longer than this are pinged before use; fresher ones are trusted, which
/// keeps the ping's round trip off the hot path of a storm.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The guarded decrement and the order insert from its RETURNING row, in one statement.
const ATOMIC: &str = "WITH p AS (
         UPDATE products SET stock = stock - $2, updated_at = CURRENT_TIMESTAMP
         WHERE id = $1 AND stock >= $2
         RETURNING id, name, stock, price
     ), o AS (
         INSERT INTO orders (user_id, product_id, quantity, total_price)
         SELECT $3, p.id, $2, p.price * $2 FROM p
         RETURNING id, total_price, created_at
     )
     SELECT o.id::int8 AS id, p.name, p.stock, (o.total_price * 100)::int8 AS total_cents,
            o.created_at
     FROM o, p";

/// A PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    metrics: Arc<PoolMetrics>,
    batcher: Arc<Batcher>,
}

#[derive(sqlx::FromRow)]
struct LockedProduct {
    name: String,
    stock: i32,
    price_cents: i64,
}

#[derive(sqlx::FromRow)]
struct InsertedOrder {
    id: i64,
    created_at: NaiveDateTime,
}

#[derive(sqlx::FromRow)]
struct BatchRow {
    id: i64,
    user_id: String,
    quantity: i32,
    total_cents: i64,
    created_at: NaiveDateTime,
    name: String,
    stock: i32,
}

#[derive(sqlx::FromRow)]
struct AtomicRow {
    id: i64,
    name: String,
    stock: i32,
    total_cents: i64,
    created_at: NaiveDateTime,
}

impl PgStore {
    /// Builds the pool without connecting: a database that is down shows as errors on use, so
    /// the dashboard can start and wait for it.
    pub fn connect(url: &SecretUrl, settings: &PoolSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url.expose())
            .map_err(|_| StoreError::Other(format!("invalid PostgreSQL URL {url}")))?
            .application_name("flashsale")
            .options([
                (
                    "statement_timeout",
                    settings.statement_timeout.as_millis().to_string(),
                ),
                // Timestamps are stored without a zone; ours are UTC.
                ("TimeZone", "UTC".to_string()),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(0)
            .acquire_timeout(settings.acquire_timeout)
            .idle_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            metrics: Arc::new(PoolMetrics::new()),
            batcher: Arc::new(Batcher::new(
                settings.batch_max as usize,
                settings.acquire_timeout,
            )),
        })
    }

    /// The pool, for callers in this crate that need a raw query (samplers).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(super) fn metrics(&self) -> &PoolMetrics {
        &self.metrics
    }

    pub(super) fn batcher(&self) -> &Batcher {
        &self.batcher
    }

    /// A connection for the purchase path, its wait recorded for the pool pane.
    async fn acquire(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        let wait = self.metrics.start_wait();
        let result = self.pool.acquire().await;
        wait.finish(matches!(result, Err(sqlx::Error::PoolTimedOut)));
        Ok(result?)
    }

    /// A connection known to be alive, for a batch: a ping first (one short round trip, spread
    /// over the whole batch). A pooled connection whose backend was closed while it sat idle
    /// (a restart, `pg_terminate_backend`) would otherwise fail every purchase of the batch at
    /// once; a dead one is dropped and the next one tried.
    async fn acquire_live(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        for _ in 0..3 {
            let mut conn = self.acquire().await?;
            if conn.ping().await.is_ok() {
                return Ok(conn);
            }
            // Not back into the pool: it is dead.
            drop(conn.detach());
        }
        self.acquire().await
    }

    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub(super) async fn seed(&self) -> Result<SeedReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Serialize concurrent seeders: the second one then sees the first one's products.
        tx.execute("LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE")
            .await?;
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
            let id: i32 = sqlx::query_scalar(
                "INSERT INTO products (name, description, image_url, stock, price)
                 VALUES ($1, $2, $3, $4, $5::int8::numeric / 100) RETURNING id",
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
                "INSERT INTO orders (user_id, product_id, quantity, total_price, created_at)
                 VALUES ($1, $2, $3, $4::int8::numeric / 100,
                         date_trunc('day', CURRENT_TIMESTAMP::timestamp)
                           - make_interval(days => $5) + make_interval(hours => $6))",
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
        self.pool
            .execute(
                "DROP TABLE IF EXISTS idempotency_keys, orders, products, _sqlx_migrations CASCADE",
            )
            .await?;
        Ok(())
    }

    pub(super) async fn products(&self) -> Result<Vec<Product>, StoreError> {
        let rows: Vec<(i32, String, i64, i32)> =
            sqlx::query_as("SELECT id, name, (price * 100)::int8, stock FROM products ORDER BY id")
                .fetch_all(&self.pool)
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
            "SELECT id, name, description, image_url, stock, (price * 100)::int8 AS price_cents
             FROM products WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(ProductDetail::from))
    }

    pub(super) async fn stock(&self, id: i32) -> Result<Option<i32>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub(super) async fn set_stock(&self, id: i32, stock: i32) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE products SET stock = $2, updated_at = CURRENT_TIMESTAMP WHERE id = $1",
        )
        .bind(id)
        .bind(stock)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// BEGIN; SELECT ... FOR UPDATE; guarded UPDATE; INSERT; COMMIT — all on one connection,
    /// which is what the reference system got wrong.
    /// With a key, its row is inserted last, in the same transaction.
    pub(super) async fn purchase_row_lock(
        &self,
        p: NewPurchase<'_>,
        key: Option<KeyRecord<'_>>,
    ) -> Result<Sale, StoreError> {
        let mut conn = self.acquire().await?;
        let mut tx = conn.begin().await?;
        let product: Option<LockedProduct> = sqlx::query_as(
            "SELECT name, stock, (price * 100)::int8 AS price_cents
             FROM products WHERE id = $1 FOR UPDATE",
        )
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
        // The guard is redundant under the lock and kept anyway: a decrement that could go
        // wrong silently is worth one comparison.
        let remaining: Option<i32> = sqlx::query_scalar(
            "UPDATE products SET stock = stock - $2, updated_at = CURRENT_TIMESTAMP
             WHERE id = $1 AND stock >= $2 RETURNING stock",
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
        let order: InsertedOrder = sqlx::query_as(
            "INSERT INTO orders (user_id, product_id, quantity, total_price)
             VALUES ($1, $2, $3, $4::int8::numeric / 100) RETURNING id::int8 AS id, created_at",
        )
        .bind(p.user_id)
        .bind(p.product_id)
        .bind(p.quantity)
        .bind(total.cents())
        .fetch_one(&mut *tx)
        .await?;
        if let Some(key) = key {
            idempotency::insert_purchased(&mut tx, key, order.id, remaining).await?;
        }
        tx.commit().await?;
        Ok(Sale::Purchased(Order {
            id: order.id,
            product_id: p.product_id,
            product_name: product.name,
            quantity: p.quantity,
            total_price: total,
            remaining_stock: remaining,
            created_at: order.created_at,
        }))
    }

    /// One statement: the guarded decrement and the insert of the order from its RETURNING row.
    /// With a key, the statement carries one more CTE inserting the key (see `idempotency`).
    pub(super) async fn purchase_atomic(
        &self,
        p: NewPurchase<'_>,
        key: Option<KeyRecord<'_>>,
    ) -> Result<Sale, StoreError> {
        let sql = match key {
            Some(_) => idempotency::ATOMIC_KEYED,
            None => ATOMIC,
        };
        let mut query = sqlx::query_as::<_, AtomicRow>(sql)
            .bind(p.product_id)
            .bind(p.quantity)
            .bind(p.user_id);
        if let Some(k) = key {
            query = query.bind(k.key).bind(k.request_hash);
        }
        let mut conn = self.acquire().await?;
        let row = query.fetch_optional(&mut *conn).await?;
        match row {
            Some(r) => Ok(Sale::Purchased(Order {
                id: r.id,
                product_id: p.product_id,
                product_name: r.name,
                quantity: p.quantity,
                total_price: Money::from_cents(r.total_cents),
                remaining_stock: r.stock,
                created_at: r.created_at,
            })),
            // Nothing was written; only now is it worth a second query to say why.
            None => Ok(
                match sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
                    .bind(p.product_id)
                    .fetch_optional(&mut *conn)
                    .await?
                {
                    Some(available) => Sale::SoldOut { available },
                    None => Sale::NotFound,
                },
            ),
        }
    }

    /// UNSAFE by design: the reference system's lost update. Reads, waits on the race hook,
    /// then writes the value computed here, each statement on whatever pooled connection.
    /// A key is recorded after the order, best effort: there is no transaction to join.
    pub(super) async fn purchase_naive(
        &self,
        p: NewPurchase<'_>,
        race: Option<&RaceHook>,
        key: Option<KeyRecord<'_>>,
    ) -> Result<Sale, StoreError> {
        let mut conn = self.acquire().await?;
        let product: Option<LockedProduct> = sqlx::query_as(
            "SELECT name, stock, (price * 100)::int8 AS price_cents FROM products WHERE id = $1",
        )
        .bind(p.product_id)
        .fetch_optional(&mut *conn)
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
        sqlx::query("UPDATE products SET stock = $2, updated_at = CURRENT_TIMESTAMP WHERE id = $1")
            .bind(p.product_id)
            .bind(remaining)
            .execute(&mut *conn)
            .await?;
        let total = Money::from_cents(product.price_cents).times(i64::from(p.quantity));
        let order: InsertedOrder = sqlx::query_as(
            "INSERT INTO orders (user_id, product_id, quantity, total_price)
             VALUES ($1, $2, $3, $4::int8::numeric / 100) RETURNING id::int8 AS id, created_at",
        )
        .bind(p.user_id)
        .bind(p.product_id)
        .bind(p.quantity)
        .bind(total.cents())
        .fetch_one(&mut *conn)
        .await?;
        if let Some(key) = key
            && let Err(e) = self
                .record_key_for_order(key, "purchased", Some(order.id), Some(remaining))
                .await
        {
            tracing::warn!(error = %e, "naive purchase: idempotency key not recorded");
        }
        Ok(Sale::Purchased(Order {
            id: order.id,
            product_id: p.product_id,
            product_name: product.name,
            quantity: p.quantity,
            total_price: total,
            remaining_stock: remaining,
            created_at: order.created_at,
        }))
    }

    /// The `batched` strategy. First, optimistically, one statement: when the batch's total fits
    /// in the stock (the common case while a sale lasts), a guarded decrement of the total and
    /// the insert of every order, one round trip, no explicit transaction. Otherwise (or for an
    /// unknown product) the locked path allocates in arrival order.
    pub(super) async fn apply_batch(
        &self,
        product_id: i32,
        items: &[BatchItem],
    ) -> Result<(Vec<Sale>, Option<i32>), StoreError> {
        let mut conn = self.acquire_live().await?;
        let total: i64 = items.iter().map(|i| i64::from(i.quantity)).sum();
        let Ok(total) = i32::try_from(total) else {
            return self.apply_batch_locked(&mut conn, product_id, items).await;
        };
        let users: Vec<&str> = items.iter().map(|i| i.user_id.as_str()).collect();
        let quantities: Vec<i32> = items.iter().map(|i| i.quantity).collect();
        let rows: Vec<BatchRow> = sqlx::query_as(
            "WITH u AS (
                 UPDATE products SET stock = stock - $2, updated_at = CURRENT_TIMESTAMP
                 WHERE id = $1 AND stock >= $2
                 RETURNING id, name, stock, price
             ), o AS (
                 INSERT INTO orders (user_id, product_id, quantity, total_price)
                 SELECT t.user_id, u.id, t.quantity, u.price * t.quantity
                 FROM u, unnest($3::text[], $4::int4[]) WITH ORDINALITY AS t(user_id, quantity, ord)
                 ORDER BY t.ord
                 RETURNING id, user_id, quantity, total_price, created_at
             )
             SELECT o.id::int8 AS id, o.user_id, o.quantity, (o.total_price * 100)::int8 AS total_cents,
                    o.created_at, u.name, u.stock
             FROM o CROSS JOIN u ORDER BY o.id",
        )
        .bind(product_id)
        .bind(total)
        .bind(&users)
        .bind(&quantities)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return self.apply_batch_locked(&mut conn, product_id, items).await;
        }
        // Ids come from one sequence in insertion order, and insertion follows arrival order;
        // check rather than trust, because a mismatch would hand one buyer another's order. The
        // statement has committed by now, so a mismatch is reported, never silently absorbed.
        let in_order = rows.len() == items.len()
            && rows
                .iter()
                .zip(items)
                .all(|(r, item)| r.user_id == item.user_id && r.quantity == item.quantity);
        if !in_order {
            tracing::error!(product_id, "batch rows out of order; orders were committed");
            return Err(StoreError::Other("batch result out of order".into()));
        }
        let stock_left = rows[0].stock;
        let mut remaining = stock_left + total;
        let sales = rows
            .into_iter()
            .map(|r| {
                remaining -= r.quantity;
                Sale::Purchased(Order {
                    id: r.id,
                    product_id,
                    product_name: r.name,
                    quantity: r.quantity,
                    total_price: Money::from_cents(r.total_cents),
                    remaining_stock: remaining,
                    created_at: r.created_at,
                })
            })
            .collect();
        Ok((sales, Some(stock_left)))
    }

    /// The batch when its total does not fit: lock the row, allocate in arrival order (each as
    /// if alone), one guarded decrement, one multi-row insert, in one transaction.
    async fn apply_batch_locked(
        &self,
        conn: &mut PoolConnection<Postgres>,
        product_id: i32,
        items: &[BatchItem],
    ) -> Result<(Vec<Sale>, Option<i32>), StoreError> {
        let mut tx = conn.begin().await?;
        let product: Option<(String, i32, i64, NaiveDateTime)> = sqlx::query_as(
            "SELECT name, stock, (price * 100)::int8, CURRENT_TIMESTAMP::timestamp
             FROM products WHERE id = $1 FOR UPDATE",
        )
        .bind(product_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((name, stock, price_cents, now)) = product else {
            tx.rollback().await?;
            return Ok((items.iter().map(|_| Sale::NotFound).collect(), None));
        };
        let (allocation, sold) = batch::allocate(stock, items);
        let price = Money::from_cents(price_cents);
        let accepted: Vec<&BatchItem> = items
            .iter()
            .zip(&allocation)
            .filter(|(_, a)| a.is_ok())
            .map(|(i, _)| i)
            .collect();
        let mut ids = Vec::with_capacity(accepted.len());
        if !accepted.is_empty() {
            let users: Vec<&str> = accepted.iter().map(|i| i.user_id.as_str()).collect();
            let quantities: Vec<i32> = accepted.iter().map(|i| i.quantity).collect();
            let totals: Vec<i64> = accepted
                .iter()
                .map(|i| price.times(i64::from(i.quantity)).cents())
                .collect();
            let rows: Vec<(i64, String, i32)> = sqlx::query_as(
                "WITH u AS (
                     UPDATE products SET stock = stock - $2, updated_at = CURRENT_TIMESTAMP
                     WHERE id = $1 AND stock >= $2 RETURNING id
                 )
                 INSERT INTO orders (user_id, product_id, quantity, total_price)
                 SELECT t.user_id, u.id, t.quantity, t.cents::numeric / 100
                 FROM u, unnest($3::text[], $4::int4[], $5::int8[]) WITH ORDINALITY
                      AS t(user_id, quantity, cents, ord)
                 ORDER BY t.ord
                 RETURNING id::int8, user_id, quantity",
            )
            .bind(product_id)
            .bind(sold)
            .bind(&users)
            .bind(&quantities)
            .bind(&totals)
            .fetch_all(&mut *tx)
            .await?;
            // PostgreSQL returns inserted rows in the order the SELECT fed them; check it rather
            // than trust it, because a mismatch would hand one buyer another's order.
            let in_order = rows.len() == accepted.len()
                && rows
                    .iter()
                    .zip(&accepted)
                    .all(|((_, u, q), item)| *u == item.user_id && *q == item.quantity);
            if !in_order {
                tx.rollback().await?;
                return Err(StoreError::Other(
                    "batch insert did not line up; rolled back".into(),
                ));
            }
            ids = rows.into_iter().map(|(id, _, _)| id).collect();
        }
        tx.commit().await?;
        let mut ids = ids.into_iter();
        let mut sales = Vec::with_capacity(items.len());
        for (item, a) in items.iter().zip(allocation) {
            sales.push(match a {
                Ok(remaining) => Sale::Purchased(Order {
                    id: ids
                        .next()
                        .ok_or_else(|| StoreError::Other("batch order missing".into()))?,
                    product_id,
                    product_name: name.clone(),
                    quantity: item.quantity,
                    total_price: price.times(i64::from(item.quantity)),
                    remaining_stock: remaining,
                    created_at: now,
                }),
                Err(available) => Sale::SoldOut { available },
            });
        }
        Ok((sales, Some(stock - sold)))
    }

    pub(super) async fn stats_parts(&self, since: NaiveDate) -> Result<StatsParts, StoreError> {
        let since = since.and_hms_opt(0, 0, 0).unwrap_or_default();
        let (total_revenue_cents, total_units): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE((SUM(total_price) * 100)::int8, 0), COALESCE(SUM(quantity), 0)::int8
             FROM orders",
        )
        .fetch_one(&self.pool)
        .await?;
        let top = sqlx::query_as(
            "SELECT p.id, p.name, t.units, t.cents FROM (
                 SELECT product_id, SUM(quantity)::int8 AS units,
                        (SUM(total_price) * 100)::int8 AS cents
                 FROM orders GROUP BY product_id
             ) t JOIN products p ON p.id = t.product_id
             ORDER BY t.units DESC, p.id LIMIT 3",
        )
        .fetch_all(&self.pool)
        .await?;
        let days = sqlx::query_as(
            "SELECT to_char(created_at, 'YYYY-MM-DD') AS day,
                    (SUM(total_price) * 100)::int8, SUM(quantity)::int8
             FROM orders WHERE created_at >= $1 GROUP BY day ORDER BY day",
        )
        .bind(since)
        .fetch_all(&self.pool)
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
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0)::int8 FROM orders")
                .fetch_one(&self.pool)
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
            "SELECT id::int8 AS id, quantity FROM orders
             WHERE id > $2 AND product_id = $1 AND user_id LIKE $3 ESCAPE '\\' ORDER BY id",
        )
        .bind(product_id)
        .bind(after_id)
        .bind(pattern)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        conn.ping().await?;
        Ok(())
    }

    pub(super) fn pool_status(&self) -> PoolStatus {
        PoolStatus {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }

    /// The dashboard's starting aggregates, all from one REPEATABLE READ snapshot so that the
    /// totals and the watermark agree.
    pub(super) async fn sales_baseline(
        &self,
        since: NaiveDate,
        gap_window: i64,
    ) -> Result<SalesBaseline, StoreError> {
        let since = since.and_hms_opt(0, 0, 0).unwrap_or_default();
        let mut tx = self.pool.begin().await?;
        tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let max_id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0)::int8 FROM orders")
            .fetch_one(&mut *tx)
            .await?;
        let per_product = sqlx::query_as(
            "SELECT product_id, SUM(quantity)::int8 AS units,
                    (SUM(total_price) * 100)::int8 AS cents
             FROM orders GROUP BY product_id ORDER BY product_id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let per_day = sqlx::query_as(
            "SELECT to_char(created_at, 'YYYY-MM-DD') AS day,
                    (SUM(total_price) * 100)::int8 AS cents, SUM(quantity)::int8 AS units
             FROM orders WHERE created_at >= $1 GROUP BY day ORDER BY day",
        )
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        let present_near_top = sqlx::query_scalar(
            "SELECT id::int8 FROM orders WHERE id > $1 AND id <= $2 ORDER BY id",
        )
        .bind(max_id.saturating_sub(gap_window))
        .bind(max_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SalesBaseline {
            max_id,
            per_product,
            per_day,
            present_near_top,
        })
    }

    /// Orders above `after` (the first `limit` of them, by id) and those among `missing`. Two
    /// index range scans in a UNION ALL: an `OR` would let the planner walk the whole primary key.
    pub(super) async fn orders_since(
        &self,
        after: i64,
        missing: &[i64],
        limit: i64,
    ) -> Result<Vec<OrderRow>, StoreError> {
        Ok(sqlx::query_as(ORDERS_SINCE_SQL)
            .bind(after)
            .bind(missing)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// `pg_stat_activity` for this database, counted by state.
    pub(super) async fn server_activity(&self) -> Result<Vec<ActivityCount>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT COALESCE(state, 'background') AS state, count(*)::int8 AS count
             FROM pg_stat_activity WHERE datname = current_database()
             GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

/// The dashboard's incremental step ($1 watermark, $2 missing ids, $3 batch). Public so that
/// tests can check its plan: two index scans, never a scan of the table.
pub const ORDERS_SINCE_SQL: &str =
    "(SELECT id::int8 AS id, product_id, quantity, (total_price * 100)::int8 AS cents,
                     to_char(created_at, 'YYYY-MM-DD') AS day
              FROM orders WHERE id > $1 ORDER BY id LIMIT $3)
             UNION ALL
             (SELECT id::int8, product_id, quantity, (total_price * 100)::int8,
                     to_char(created_at, 'YYYY-MM-DD')
              FROM orders WHERE id = ANY($2))";
