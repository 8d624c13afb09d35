//! The database behind every face: one enum, one implementation per engine. Driver errors stop
//! here and become [`StoreError`]s; money crosses as integer cents.

pub mod batch;
pub mod error;
mod key_row;
pub mod metrics;
pub mod postgres;
pub mod sales;
pub mod seed;
pub mod sqlite;

use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};

pub use error::StoreError;
pub use metrics::{AcquireStats, PoolMetrics};
pub use postgres::PgStore;
pub use sales::{ActivityCount, DayTotals, OrderRow, ProductTotals, SalesBaseline};
pub use seed::SeedReport;
pub use sqlite::SqliteStore;

use crate::config::{BackendKind, DatabaseTarget, PoolSettings};
use crate::model::{DayRevenue, Order, Product, ProductDetail, REVENUE_DAYS, Stats};
use crate::money::Money;
use crate::purchase::{RaceHook, Strategy};

/// A validated purchase, ready for the database.
#[derive(Debug, Clone, Copy)]
pub struct NewPurchase<'a> {
    pub product_id: i32,
    pub user_id: &'a str,
    pub quantity: i32,
}

/// An idempotency key to commit with a purchase, and the fingerprint of the request it was
/// first used with.
#[derive(Debug, Clone, Copy)]
pub struct KeyRecord<'a> {
    pub key: &'a str,
    /// Hex SHA-256 of the request (see [`crate::purchase::IdempotencyKey`]).
    pub request_hash: &'a str,
}

/// What an idempotency key recorded: the request it was used with and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedSale {
    pub request_hash: String,
    pub sale: Sale,
}

/// The stored name of a recorded sale.
pub(crate) fn sale_name(sale: &Sale) -> &'static str {
    match sale {
        Sale::Purchased(_) => "purchased",
        Sale::SoldOut { .. } => "sold_out",
        Sale::NotFound => "not_found",
    }
}

/// What the database did with a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sale {
    Purchased(Order),
    SoldOut { available: i32 },
    NotFound,
}

/// The pool as the dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct PoolStatus {
    /// Open connections.
    pub size: u32,
    /// Open and idle.
    pub idle: u32,
    /// The configured ceiling.
    pub max: u32,
}

/// An order as the audit reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct OrderRef {
    pub id: i64,
    pub quantity: i32,
}

/// A product row with its descriptive fields, as both backends read it (price in cents).
#[derive(sqlx::FromRow)]
pub(crate) struct DetailRow {
    id: i32,
    name: String,
    description: Option<String>,
    image_url: Option<String>,
    stock: i32,
    price_cents: i64,
}

impl From<DetailRow> for ProductDetail {
    fn from(r: DetailRow) -> Self {
        ProductDetail {
            id: r.id,
            name: r.name,
            description: r.description,
            image_url: r.image_url,
            stock: r.stock,
            price: Money::from_cents(r.price_cents),
        }
    }
}

/// A database, PostgreSQL or the embedded SQLite.
#[derive(Debug, Clone)]
pub enum Store {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

/// A read that meets a connection the server has closed (a restart, `pg_terminate_backend`, an
/// idle timeout) is tried once more on a fresh one: reads are safe to repeat, and a pool that
/// hands out one dead connection per closed backend would otherwise fail that many reads.
/// Writes are never retried here.
macro_rules! read {
    ($self:ident, $s:ident => $body:expr) => {{
        match dispatch!($self, $s => $body) {
            // Once, on a connection found closed; not after a deadline (the database answered
            // too slowly: asking again would only double the wait).
            Err(StoreError::Unavailable(m)) if !m.starts_with(postgres::NO_ANSWER) => {
                dispatch!($self, $s => $body)
            }
            other => other,
        }
    }};
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $body:expr) => {
        match $self {
            Store::Postgres($s) => $body,
            Store::Sqlite($s) => $body,
        }
    };
}

impl Store {
    /// Connects. The embedded database (any SQLite file) is created, migrated and, when new,
    /// seeded here; PostgreSQL is never migrated implicitly.
    pub async fn open(target: &DatabaseTarget, pool: &PoolSettings) -> Result<Store, StoreError> {
        match target {
            DatabaseTarget::Postgres(url) => Ok(Store::Postgres(PgStore::connect(url, pool)?)),
            DatabaseTarget::Sqlite { path, .. } => {
                Ok(Store::Sqlite(SqliteStore::open(path, pool).await?))
            }
        }
    }

    pub fn kind(&self) -> BackendKind {
        match self {
            Store::Postgres(_) => BackendKind::Postgres,
            Store::Sqlite(_) => BackendKind::Sqlite,
        }
    }

    /// Applies the embedded migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.migrate().await)
    }

    /// Inserts the reference products and a week of sample orders, unless products exist.
    pub async fn seed(&self) -> Result<SeedReport, StoreError> {
        dispatch!(self, s => s.seed().await)
    }

    /// Drops every flashsale table and recreates and reseeds them.
    pub async fn reset(&self) -> Result<SeedReport, StoreError> {
        dispatch!(self, s => s.drop_all().await)?;
        self.migrate().await?;
        self.seed().await
    }

    /// Every product, by id.
    pub async fn products(&self) -> Result<Vec<Product>, StoreError> {
        read!(self, s => s.products().await)
    }

    pub async fn product_detail(&self, id: i32) -> Result<Option<ProductDetail>, StoreError> {
        read!(self, s => s.product_detail(id).await)
    }

    pub async fn stock(&self, id: i32) -> Result<Option<i32>, StoreError> {
        read!(self, s => s.stock(id).await)
    }

    /// Sets a product's stock (restock); false when there is no such product.
    pub async fn set_stock(&self, id: i32, stock: i32) -> Result<bool, StoreError> {
        let found = dispatch!(self, s => s.set_stock(id, stock).await)?;
        // A restock makes a sold-out product sellable again at once.
        self.batcher().forget(id);
        Ok(found)
    }

    /// Runs one purchase with one strategy, once (the caller retries conflicts).
    pub async fn purchase(
        &self,
        p: NewPurchase<'_>,
        strategy: Strategy,
        race: Option<&RaceHook>,
    ) -> Result<Sale, StoreError> {
        self.purchase_keyed(p, strategy, race, None).await
    }

    /// [`Store::purchase`], committing `key` with the order in the same transaction (`row-lock`,
    /// `atomic`). A key already taken is [`StoreError::Duplicate`], with nothing written. The
    /// `naive` strategy has no transaction: it records the key after the order, best effort.
    pub async fn purchase_keyed(
        &self,
        p: NewPurchase<'_>,
        strategy: Strategy,
        race: Option<&RaceHook>,
        key: Option<KeyRecord<'_>>,
    ) -> Result<Sale, StoreError> {
        dispatch!(self, s => match strategy {
            Strategy::RowLock => s.purchase_row_lock(p, key).await,
            Strategy::Atomic => s.purchase_atomic(p, key).await,
            Strategy::Naive => s.purchase_naive(p, race, key).await,
            // A keyed purchase needs its key in its own transaction: it goes the atomic way.
            Strategy::Batched if key.is_some() => s.purchase_atomic(p, key).await,
            Strategy::Batched => {
                // A sold-out product costs no lock and no write: memory, or one plain read.
                let known = s.batcher().sold_out(p.product_id);
                if known != batch::SoldOut::Unknown {
                    // The memory is in use: let restocks elsewhere clear it.
                    s.watch_restocks();
                }
                match known {
                    batch::SoldOut::Known => return Ok(Sale::SoldOut { available: 0 }),
                    batch::SoldOut::Stale => match s.stock(p.product_id).await {
                        Ok(Some(0)) => {
                            s.batcher().remember_sold_out(p.product_id);
                            return Ok(Sale::SoldOut { available: 0 });
                        }
                        Ok(Some(available)) => {
                            s.batcher().forget(p.product_id);
                            if available < p.quantity {
                                return Ok(Sale::SoldOut { available });
                            }
                        }
                        Ok(None) => {
                            s.batcher().forget(p.product_id);
                            return Ok(Sale::NotFound);
                        }
                        Err(e) => {
                            // Let the next purchase try the confirming read again.
                            s.batcher().confirm_failed(p.product_id);
                            return Err(e);
                        }
                    },
                    batch::SoldOut::Unknown => {}
                }
                let item = batch::BatchItem { user_id: p.user_id.to_string(), quantity: p.quantity };
                s.batcher().submit(self, p.product_id, item).await
            }
        })
    }

    /// Applies a batch of purchases of one product in one transaction; the sales in the items'
    /// order and the stock left (`None` when the product does not exist).
    pub(crate) async fn apply_batch(
        &self,
        product_id: i32,
        items: &[batch::BatchItem],
    ) -> Result<(Vec<Sale>, Option<i32>), StoreError> {
        dispatch!(self, s => s.apply_batch(product_id, items).await)
    }

    pub(crate) fn batcher(&self) -> &batch::Batcher {
        dispatch!(self, s => s.batcher())
    }

    /// Sets how long the `batched` strategy answers a sold-out product from memory. Tests
    /// lengthen it to show that a restock, not the timer, clears it.
    #[doc(hidden)]
    pub fn set_sold_out_memory(&self, memory: std::time::Duration) {
        self.batcher().set_sold_out_memory(memory);
    }

    /// What `key` recorded, if anything: the original order (joined with its product) or the
    /// non-purchase outcome.
    pub async fn idempotency_lookup(&self, key: &str) -> Result<Option<KeyedSale>, StoreError> {
        dispatch!(self, s => s.idempotency_lookup(key).await)
    }

    /// Deletes the idempotency-key records older than `ttl`, a chunk at a time so that no
    /// statement runs long or holds many row locks; how many went. A key is kept at least
    /// `ttl`: a retry within it replays, one after it may run as a new purchase.
    pub async fn expire_idempotency_keys(
        &self,
        ttl: std::time::Duration,
    ) -> Result<u64, StoreError> {
        const CHUNK: i64 = 10_000;
        let mut total = 0;
        loop {
            let n = dispatch!(self, s => s.expire_keys_chunk(ttl, CHUNK).await)?;
            total += n;
            if n < CHUNK as u64 {
                return Ok(total);
            }
        }
    }

    /// Records a sold-out or not-found outcome under `key` unless the key is taken. Purchases
    /// are recorded by [`Store::purchase_keyed`] itself.
    pub async fn record_key(&self, key: KeyRecord<'_>, sale: &Sale) -> Result<(), StoreError> {
        let remaining = match sale {
            Sale::Purchased(_) => return Ok(()),
            Sale::SoldOut { available } => Some(*available),
            Sale::NotFound => None,
        };
        dispatch!(self, s => s.record_key(key, sale_name(sale), remaining).await)
    }

    /// The statistics of the reference admin endpoint, computed from the whole orders table.
    /// One-shot use only (CLI, HTTP): the dashboard aggregates incrementally instead.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let today = Utc::now().date_naive();
        let since = today - chrono::Days::new((REVENUE_DAYS - 1) as u64);
        let totals = read!(self, s => s.stats_parts(since).await)?;
        Ok(totals.into_stats(since, today))
    }

    /// The highest order id so far (0 when none): every order created later has a larger id.
    pub async fn max_order_id(&self) -> Result<i64, StoreError> {
        read!(self, s => s.max_order_id().await)
    }

    /// Orders of `product_id` with an id above `after_id` whose user id starts with `prefix`.
    pub async fn orders_after(
        &self,
        product_id: i32,
        after_id: i64,
        prefix: &str,
    ) -> Result<Vec<OrderRef>, StoreError> {
        read!(self, s => s.orders_after(product_id, after_id, &like_prefix(prefix)).await)
    }

    /// A round trip to the database, timed.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let start = Instant::now();
        dispatch!(self, s => s.ping().await)?;
        Ok(start.elapsed())
    }

    pub fn pool_status(&self) -> PoolStatus {
        dispatch!(self, s => s.pool_status())
    }

    /// Waits for connections on the purchase path over the last minute.
    pub fn acquire_stats(&self) -> AcquireStats {
        dispatch!(self, s => s.metrics().snapshot())
    }

    /// PostgreSQL's WAL syncs so far (`pg_stat_wal.wal_sync`), for benchmarks; `None` on SQLite.
    pub async fn wal_syncs(&self) -> Result<Option<i64>, StoreError> {
        match self {
            Store::Postgres(pg) => Ok(Some(
                sqlx::query_scalar("SELECT wal_sync::int8 FROM pg_stat_wal")
                    .fetch_one(pg.pool())
                    .await?,
            )),
            Store::Sqlite(_) => Ok(None),
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        dispatch!(self, s => s.close().await)
    }

    /// The dashboard's starting sales aggregates and order-id watermark, from one snapshot.
    /// Reads the whole orders table once; afterwards use [`Store::orders_since`].
    pub async fn sales_baseline(
        &self,
        since: NaiveDate,
        gap_window: i64,
    ) -> Result<SalesBaseline, StoreError> {
        dispatch!(self, s => s.sales_baseline(since, gap_window).await)
    }

    /// Orders with an id above `after` (at most `limit` of them, lowest ids first) plus any
    /// whose id is in `missing`: the incremental step, whose cost follows the new rows only.
    pub async fn orders_since(
        &self,
        after: i64,
        missing: &[i64],
        limit: i64,
    ) -> Result<Vec<OrderRow>, StoreError> {
        dispatch!(self, s => s.orders_since(after, missing, limit).await)
    }

    /// The server's own view of connections to this database, by state; `None` for SQLite,
    /// which has no server.
    pub async fn server_activity(&self) -> Result<Option<Vec<ActivityCount>>, StoreError> {
        match self {
            Store::Postgres(s) => s.server_activity().await.map(Some),
            Store::Sqlite(_) => Ok(None),
        }
    }
}

/// A LIKE pattern matching strings that start with `prefix`, with `\` as the escape.
fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The raw pieces of [`Stats`] as each backend reads them.
#[derive(Debug, Default)]
pub(crate) struct StatsParts {
    pub total_revenue_cents: i64,
    pub total_units: i64,
    /// (id, name, units, revenue cents), best first, at most three.
    pub top: Vec<(i32, String, i64, i64)>,
    /// (YYYY-MM-DD, revenue cents, units) for days on or after `since` that had sales.
    pub days: Vec<(String, i64, i64)>,
}

impl StatsParts {
    fn into_stats(self, since: NaiveDate, today: NaiveDate) -> Stats {
        let revenue_by_day = since
            .iter_days()
            .take_while(|d| *d <= today)
            .map(|d| {
                let date = d.format("%Y-%m-%d").to_string();
                let (revenue, units) = self
                    .days
                    .iter()
                    .find(|(day, _, _)| *day == date)
                    .map(|(_, r, u)| (*r, *u))
                    .unwrap_or((0, 0));
                DayRevenue {
                    date,
                    revenue: Money::from_cents(revenue),
                    units,
                }
            })
            .collect();
        Stats {
            total_revenue: Money::from_cents(self.total_revenue_cents),
            total_units_sold: self.total_units,
            top_products: self
                .top
                .into_iter()
                .map(|(id, name, total_sold, revenue)| crate::model::TopProduct {
                    id,
                    name,
                    total_sold,
                    revenue: Money::from_cents(revenue),
                })
                .collect(),
            revenue_by_day,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_prefix_escapes_wildcards() {
        assert_eq!(like_prefix("burst_1%"), "burst\\_1\\%%");
        assert_eq!(like_prefix("b-1-"), "b-1-%");
    }

    #[test]
    fn stats_fill_every_day_oldest_first() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let since = today - chrono::Days::new(6);
        let parts = StatsParts {
            days: vec![("2026-11-23".into(), 500, 2)],
            ..Default::default()
        };
        let stats = parts.into_stats(since, today);
        assert_eq!(stats.revenue_by_day.len(), 7);
        assert_eq!(stats.revenue_by_day[0].date, "2026-11-19");
        assert_eq!(stats.revenue_by_day[6].date, "2026-11-25");
        assert_eq!(stats.revenue_by_day[4].revenue, Money::from_cents(500));
        assert_eq!(stats.revenue_by_day[5].revenue, Money::ZERO);
    }
}
