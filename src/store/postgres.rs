//! PostgreSQL: the production backend, on the reference system's schema.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, Postgres};
use sqlx::{Connection, Executor};

/// Runs `$body` with `$conn`, a pooled connection, under a client-side deadline: the statement
/// timeout for each of the operation's `statements` (one unless said), plus network slack. The
/// server's `statement_timeout` cannot fire for a query that never reaches it (a stalled
/// network, a black-holed connection): without this, such a purchase would wait for ever. A
/// connection that ran past the deadline is in an unknown state and is closed, never reused.
/// Whether the operation took effect is unknown too: it ends as `Unavailable` with
/// [`NO_ANSWER`] (a purchase: `Failed`), which reads do not retry.
macro_rules! bounded {
    ($self:ident, $conn:ident = $get:expr => $body:block) => {
        bounded!($self, statements = 1, $conn = $get => $body)
    };
    ($self:ident, statements = $n:expr, $conn:ident = $get:expr => $body:block) => {{
        #[allow(unused_mut)]
        let mut $conn = $get;
        let deadline = $self.deadline($n);
        let result = tokio::time::timeout(deadline, async $body).await;
        match result {
            Ok(r) => r,
            Err(_) => {
                $conn.close_on_drop();
                Err(StoreError::Unavailable(format!(
                    "{} {} ms",
                    $crate::store::postgres::NO_ANSWER,
                    deadline.as_millis()
                )))
            }
        }
    }};
}

/// How a client-side deadline's error begins (reads do not retry it: the database was slow,
/// not gone).
pub(in crate::store) const NO_ANSWER: &str = "no answer from the database within";

mod batched;
mod idempotency;
mod restocks;
mod sales;

pub use sales::ORDERS_SINCE_SQL;

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
    /// Hears restocks made by other processes (started the first time a remembered sold-out
    /// is looked up).
    restocks: Arc<restocks::RestockWatch>,
    /// The server's bound on one statement; the client-side deadlines are built from it.
    statement_timeout: Duration,
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
            statement_timeout: settings.statement_timeout,
            restocks: Arc::default(),
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

    /// Makes sure restocks by other processes clear the sold-out memory as they happen.
    pub(super) fn watch_restocks(&self) {
        self.restocks
            .ensure(|| (*self.pool.connect_options()).clone(), &self.batcher);
    }

    /// The client-side bound of an operation of `statements` statements: each may run up to
    /// the statement timeout on the server; one second of network slack on top.
    fn deadline(&self, statements: u32) -> Duration {
        self.statement_timeout * statements + Duration::from_secs(1)
    }

    /// A pooled connection, its wait recorded for the pool pane (every operation's: purchases,
    /// reads and restocks share the pool, so they share its figures).
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
            match tokio::time::timeout(self.deadline(1), conn.ping()).await {
                Ok(Ok(())) => return Ok(conn),
                // Not back into the pool: it is dead.
                Ok(Err(_)) => drop(conn.detach()),
                // Stalled: closed, never reused.
                Err(_) => conn.close_on_drop(),
            }
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
        bounded!(self, conn = self.acquire().await? => {
            let rows: Vec<(i32, String, i64, i32)> =
                sqlx::query_as("SELECT id, name, (price * 100)::int8, stock FROM products ORDER BY id")
                    .fetch_all(&mut *conn)
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
        })
    }

    pub(super) async fn product_detail(
        &self,
        id: i32,
    ) -> Result<Option<ProductDetail>, StoreError> {
        bounded!(self, conn = self.acquire().await? => {
            let row: Option<DetailRow> = sqlx::query_as(
                "SELECT id, name, description, image_url, stock, (price * 100)::int8 AS price_cents
                 FROM products WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            Ok(row.map(ProductDetail::from))
        })
    }

    pub(super) async fn stock(&self, id: i32) -> Result<Option<i32>, StoreError> {
        bounded!(self, conn = self.acquire().await? => {
            Ok(
                sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?,
            )
        })
    }

    pub(super) async fn set_stock(&self, id: i32, stock: i32) -> Result<bool, StoreError> {
        bounded!(self, conn = self.acquire().await? => {
            // The notification goes out with the commit, to every store remembering the
            // product sold out (see `restocks`).
            let done: Vec<(i32,)> = sqlx::query_as(
                "WITH restocked AS (
                     UPDATE products SET stock = $2, updated_at = CURRENT_TIMESTAMP WHERE id = $1
                     RETURNING id
                 )
                 SELECT id FROM restocked, pg_notify($3, id::text)",
            )
            .bind(id)
            .bind(stock)
            .bind(restocks::CHANNEL)
            .fetch_all(&mut *conn)
            .await?;
            Ok(done.len() == 1)
        })
    }

    /// BEGIN; SELECT ... FOR UPDATE; guarded UPDATE; INSERT; COMMIT — all on one connection,
    /// which is what the reference system got wrong.
    /// With a key, its row is inserted last, in the same transaction.
    pub(super) async fn purchase_row_lock(
        &self,
        p: NewPurchase<'_>,
        key: Option<KeyRecord<'_>>,
    ) -> Result<Sale, StoreError> {
        bounded!(self, statements = 6, conn = self.acquire().await? => {
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
            let order = insert_order(&mut tx, &p, product, remaining).await?;
            if let Some(key) = key {
                idempotency::insert_purchased(&mut tx, key, order.id, remaining).await?;
            }
            tx.commit().await?;
            Ok(Sale::Purchased(order))
        })
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
        bounded!(self, statements = 2, conn = self.acquire().await? => {
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
        })
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
        // The read and the write are bounded apart: the race hook between them may wait as
        // long as a demonstration asks (or for its peers), which is no database's fault.
        let product: Option<LockedProduct> = bounded!(self, conn = self.acquire().await? => {
            Ok(sqlx::query_as(
                "SELECT name, stock, (price * 100)::int8 AS price_cents FROM products WHERE id = $1",
            )
            .bind(p.product_id)
            .fetch_optional(&mut *conn)
            .await?)
        })?;
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
        bounded!(self, statements = 3, conn = self.acquire().await? => {
            let remaining = product.stock - p.quantity;
            sqlx::query("UPDATE products SET stock = $2, updated_at = CURRENT_TIMESTAMP WHERE id = $1")
                .bind(p.product_id)
                .bind(remaining)
                .execute(&mut *conn)
                .await?;
            let order = insert_order(&mut conn, &p, product, remaining).await?;
            if let Some(key) = key
                && let Err(e) = self
                    .record_key_for_order(key, "purchased", Some(order.id), Some(remaining))
                    .await
            {
                tracing::warn!(error = %e, "naive purchase: idempotency key not recorded");
            }
            Ok(Sale::Purchased(order))
        })
    }

    pub(super) async fn stats_parts(&self, since: NaiveDate) -> Result<StatsParts, StoreError> {
        bounded!(self, statements = 3, conn = self.acquire().await? => {
            let since = since.and_hms_opt(0, 0, 0).unwrap_or_default();
            let (total_revenue_cents, total_units): (i64, i64) = sqlx::query_as(
                "SELECT COALESCE((SUM(total_price) * 100)::int8, 0), COALESCE(SUM(quantity), 0)::int8
                 FROM orders",
            )
            .fetch_one(&mut *conn)
            .await?;
            let top = sqlx::query_as(
                "SELECT p.id, p.name, t.units, t.cents FROM (
                     SELECT product_id, SUM(quantity)::int8 AS units,
                            (SUM(total_price) * 100)::int8 AS cents
                     FROM orders GROUP BY product_id
                 ) t JOIN products p ON p.id = t.product_id
                 ORDER BY t.units DESC, p.id LIMIT 3",
            )
            .fetch_all(&mut *conn)
            .await?;
            let days = sqlx::query_as(
                "SELECT to_char(created_at, 'YYYY-MM-DD') AS day,
                        (SUM(total_price) * 100)::int8, SUM(quantity)::int8
                 FROM orders WHERE created_at >= $1 GROUP BY day ORDER BY day",
            )
            .bind(since)
            .fetch_all(&mut *conn)
            .await?;
            Ok(StatsParts {
                total_revenue_cents,
                total_units,
                top,
                days,
            })
        })
    }

    pub(super) async fn max_order_id(&self) -> Result<i64, StoreError> {
        bounded!(self, conn = self.acquire().await? => {
            Ok(
                sqlx::query_scalar("SELECT COALESCE(MAX(id), 0)::int8 FROM orders")
                    .fetch_one(&mut *conn)
                    .await?,
            )
        })
    }

    pub(super) async fn orders_after(
        &self,
        product_id: i32,
        after_id: i64,
        pattern: &str,
    ) -> Result<Vec<OrderRef>, StoreError> {
        bounded!(self, conn = self.acquire().await? => {
            Ok(sqlx::query_as(
                "SELECT id::int8 AS id, quantity FROM orders
                 WHERE id > $2 AND product_id = $1 AND user_id LIKE $3 ESCAPE '\\' ORDER BY id",
            )
            .bind(product_id)
            .bind(after_id)
            .bind(pattern)
            .fetch_all(&mut *conn)
            .await?)
        })
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
}

/// Inserts the order of `p` for `product` (read before the decrement that left `remaining`)
/// and returns it whole: the row-lock strategy's insert (inside its transaction) and the naive
/// one's (on its bare connection).
async fn insert_order(
    conn: &mut sqlx::PgConnection,
    p: &NewPurchase<'_>,
    product: LockedProduct,
    remaining: i32,
) -> Result<Order, StoreError> {
    let total = Money::from_cents(product.price_cents).times(i64::from(p.quantity));
    let inserted: InsertedOrder = sqlx::query_as(
        "INSERT INTO orders (user_id, product_id, quantity, total_price)
         VALUES ($1, $2, $3, $4::int8::numeric / 100) RETURNING id::int8 AS id, created_at",
    )
    .bind(p.user_id)
    .bind(p.product_id)
    .bind(p.quantity)
    .bind(total.cents())
    .fetch_one(conn)
    .await?;
    Ok(Order {
        id: inserted.id,
        product_id: p.product_id,
        product_name: product.name,
        quantity: p.quantity,
        total_price: total,
        remaining_stock: remaining,
        created_at: inserted.created_at,
    })
}
