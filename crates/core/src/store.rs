//! The database behind every face. [`Store`] is the one type callers see; it owns what is the
//! same on every engine (each strategy's flow, read retries, the batched strategy's gatherers and
//! sold-out memory, the pool figures) over a [`Backend`] that supplies only its SQL and its
//! connection handling (`postgres`, `sqlite`). Driver errors stop here and become
//! [`StoreError`]s; money crosses as integer cents.

pub mod activity;
mod backend;
pub mod batch;
pub mod error;
pub mod forward;
mod key_lookups;
mod key_row;
pub mod metrics;
mod migrations;
pub mod partitions;
pub mod postgres;
pub mod recent;
pub mod replication;
mod row;
mod sale;
pub mod sales;
pub mod seed;
pub mod sqlite;
mod stats;
mod strategies;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};

pub use error::StoreError;
pub use metrics::{AcquireStats, PoolMetrics};
pub use sale::{KeyRecord, KeyWrite, KeyedSale, NewPurchase, Restock, Sale};
pub use sales::{ActivityCount, DayTotals, OrderRow, ProductTotals, SalesBaseline};
pub use seed::SeedReport;

use crate::config::{BackendKind, DatabaseTarget, PoolSettings};
use crate::model::{Product, ProductDetail, REVENUE_DAYS, Stats};
use crate::strategy::{RaceHook, Strategy};
use backend::Backend;
use row::from_row;

/// How many times a read is tried on connections found closed (a restart, a killed backend):
/// each try discards the dead connection it met, and a pool can hold several.
const READ_TRIES: u32 = 3;

/// What opening an SQLite file may do to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file (and, for the embedded default, its directory), migrate, seed when new.
    Create,
    /// Create the file in a directory that must exist, migrate, seed when new (an explicit
    /// `sqlite://` path: a typo in it must not leave a tree of new folders behind).
    CreateFile,
    /// The file must exist; pending migrations are applied; never seeded (`stock`, `stats` on
    /// an explicit file: a read must not invent a sale).
    Existing,
    /// The file must exist; opened read-only: neither migrated nor seeded (`--read-only`).
    ReadOnly,
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

from_row! {
    /// An order as the audit reads it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct OrderRef {
        pub id: i64,
        pub quantity: i32,
    }
}

/// A database, PostgreSQL or the embedded SQLite. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    batcher: Arc<batch::Batcher>,
    key_lookups: Arc<key_lookups::KeyLookups>,
    metrics: Arc<PoolMetrics>,
    /// Restocks by other processes, heard where the engine can tell (PostgreSQL's `LISTEN`).
    restocks: Option<Arc<postgres::RestockWatch>>,
    /// Batched purchases sent to the process that sells their product (`forward_listen`).
    forwarding: Option<Arc<forward::Forwarding>>,
}

impl Store {
    /// Connects. The embedded database is created (with its directory), migrated and, when
    /// new, seeded here; another SQLite file is created only in a directory that exists;
    /// PostgreSQL is never migrated implicitly. [`Store::open_with`] for the other modes.
    pub async fn open(target: &DatabaseTarget, pool: &PoolSettings) -> Result<Store, StoreError> {
        Self::open_with(target, pool, OpenMode::Create).await
    }

    /// Connects in `mode`: what may be created or written on the way in (SQLite only; a
    /// PostgreSQL database is never created, migrated or seeded by opening it).
    pub async fn open_with(
        target: &DatabaseTarget,
        pool: &PoolSettings,
        mode: OpenMode,
    ) -> Result<Store, StoreError> {
        let metrics = Arc::new(PoolMetrics::new());
        let batcher = Arc::new(batch::Batcher::new(
            pool.batch_max as usize,
            pool.acquire_timeout,
        ));
        match target {
            DatabaseTarget::Postgres(url) => {
                let pg = postgres::PgBackend::connect(url, pool, metrics.clone())?;
                let restocks = Some(Arc::new(pg.restock_watch(pool.listen_url.is_some())));
                let forwarding = match pool.forward_listen {
                    Some(listen) => Some(
                        forward::Forwarding::start(
                            listen,
                            pg.seller_claims(),
                            pg.purchase_deadline(),
                        )
                        .await?,
                    ),
                    None => None,
                };
                let mut store = Store {
                    backend: Arc::new(pg),
                    batcher,
                    key_lookups: Default::default(),
                    metrics,
                    restocks,
                    forwarding: None,
                };
                if let Some((forwarding, listener)) = forwarding {
                    store.forwarding = Some(Arc::clone(&forwarding));
                    forwarding.serve_with(store.clone(), listener);
                }
                Ok(store)
            }
            DatabaseTarget::Sqlite { path, embedded } => {
                if let Some(listen) = pool.forward_listen {
                    tracing::warn!(
                        "forward_listen {listen} ignored: forwarding is for processes sharing a \
                         PostgreSQL database; an SQLite file has one writer"
                    );
                }
                let mode = match mode {
                    OpenMode::Create if !embedded => OpenMode::CreateFile,
                    other => other,
                };
                let (lite, is_new) =
                    sqlite::SqliteBackend::open(path, pool, metrics.clone(), mode).await?;
                let store = Store {
                    backend: Arc::new(lite),
                    batcher,
                    key_lookups: Default::default(),
                    metrics,
                    restocks: None,
                    forwarding: None,
                };
                if mode != OpenMode::ReadOnly {
                    store.migrate().await?;
                }
                if is_new {
                    store.seed().await?;
                }
                Ok(store)
            }
        }
    }

    pub fn kind(&self) -> BackendKind {
        self.backend.kind()
    }

    /// Runs `op` within the engine's client-side deadline for `statements` statements, if it
    /// has one. Past it the operation's future is dropped (a transaction in it closes its
    /// connection) and the answer is [`StoreError::Timeout`]: whether it took effect is unknown.
    async fn within<T>(
        &self,
        statements: u32,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match self.backend.deadline(statements) {
            Some(deadline) => tokio::time::timeout(deadline, op)
                .await
                .unwrap_or(Err(StoreError::Timeout(deadline))),
            None => op.await,
        }
    }

    /// A read, tried again on a fresh connection when the one it got was found closed: reads
    /// are safe to repeat, and a pool that hands out one dead connection per closed backend
    /// would otherwise fail that many reads. Never after a deadline (the database answered too
    /// slowly: asking again would only double the wait), and writes never come here.
    async fn read<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut tries = 1;
        loop {
            match op().await {
                Err(StoreError::Unavailable(why)) if tries < READ_TRIES => {
                    tracing::debug!(%why, tries, "read met a closed connection; trying again");
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    /// Applies the embedded migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.backend.migrate().await
    }

    /// Inserts the reference products and a week of sample orders, unless products exist.
    pub async fn seed(&self) -> Result<SeedReport, StoreError> {
        strategies::seed(self).await
    }

    /// Drops every flashsale table and recreates and reseeds them. A partitioned `orders`
    /// comes back partitioned (its months made again around today).
    pub async fn reset(&self) -> Result<SeedReport, StoreError> {
        let partitioned = self.backend.orders_partitioned().await?;
        self.backend.drop_all().await?;
        self.migrate().await?;
        if partitioned {
            self.backend
                .partition_orders(partitions::PartitionPlan::default())
                .await?;
        }
        self.seed().await
    }

    /// Whether `orders` is partitioned (`db init --partitioned`); false on SQLite.
    pub async fn orders_partitioned(&self) -> Result<bool, StoreError> {
        self.read(|| self.backend.orders_partitioned()).await
    }

    /// Makes `orders` partitioned by month, or adds the months ahead to one that is, as `plan`
    /// says (see [`partitions`]); `None` on SQLite, which has no partitioning.
    pub async fn partition_orders(
        &self,
        plan: partitions::PartitionPlan,
    ) -> Result<Option<partitions::PartitionReport>, StoreError> {
        self.backend.partition_orders(plan).await
    }

    /// Every product, by id.
    pub async fn products(&self) -> Result<Vec<Product>, StoreError> {
        self.read(|| self.backend.products()).await
    }

    pub async fn product_detail(&self, id: i32) -> Result<Option<ProductDetail>, StoreError> {
        self.read(|| self.backend.product_detail(id)).await
    }

    pub async fn stock(&self, id: i32) -> Result<Option<i32>, StoreError> {
        self.read(|| self.backend.stock(id)).await
    }

    /// The stock of each of `ids` that exists, `(id, units)`, in one query (the server's
    /// stock-event poller reads every watched product this way).
    pub async fn stocks(&self, ids: &[i32]) -> Result<Vec<(i32, i32)>, StoreError> {
        self.read(|| self.backend.stocks(ids)).await
    }

    /// Sets a product's stock (restock); false when there is no such product.
    pub async fn set_stock(&self, id: i32, stock: i32) -> Result<bool, StoreError> {
        Ok(self.restock(id, stock).await?.is_some())
    }

    /// Sets a product's stock and says what it replaced; `None` when there is no such product.
    pub async fn restock(&self, id: i32, stock: i32) -> Result<Option<Restock>, StoreError> {
        let done = self.backend.set_stock(id, stock).await?;
        // A restock makes a sold-out product sellable again at once.
        self.batcher.forget(id);
        Ok(done)
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
        match strategy {
            Strategy::RowLock => strategies::row_lock(self, p, key).await,
            Strategy::Atomic => self.backend.purchase_atomic(p, key).await,
            Strategy::Naive => strategies::naive(self, p, race, key).await,
            // A keyed purchase's key is recorded in its batch's transaction.
            Strategy::Batched => strategies::batched(self, p, key).await,
        }
    }

    /// Sets how long the `batched` strategy answers a sold-out product from memory. Tests
    /// lengthen it to show that a restock, not the timer, clears it.
    #[doc(hidden)]
    pub fn set_sold_out_memory(&self, memory: Duration) {
        self.batcher.set_sold_out_memory(memory);
    }

    /// What `key` recorded, if anything: the original order (joined with its product) or the
    /// non-purchase outcome.
    /// Lookups asked at the same moment share one query (see `key_lookups`).
    pub async fn idempotency_lookup(&self, key: &str) -> Result<Option<KeyedSale>, StoreError> {
        self.key_lookups.lookup(&self.backend, key).await
    }

    /// Deletes the idempotency-key records older than `ttl`, a chunk at a time so that no
    /// statement runs long or holds many row locks; how many went. A key is kept at least
    /// `ttl`: a retry within it replays, one after it may run as a new purchase.
    pub async fn expire_idempotency_keys(&self, ttl: Duration) -> Result<u64, StoreError> {
        const CHUNK: i64 = 10_000;
        let mut total = 0;
        loop {
            let n = self.backend.expire_keys_chunk(ttl, CHUNK).await?;
            total += n;
            if n < CHUNK as u64 {
                return Ok(total);
            }
        }
    }

    /// Records a sold-out or not-found outcome under `key` unless the key is taken (then the
    /// earlier record stands: [`KeyWrite::Taken`]). Purchases are recorded by
    /// [`Store::purchase_keyed`] itself, in their transaction.
    pub async fn record_key(
        &self,
        key: KeyRecord<'_>,
        sale: &Sale,
    ) -> Result<KeyWrite, StoreError> {
        let remaining = match sale {
            Sale::Purchased(_) => return Ok(KeyWrite::Recorded),
            Sale::SoldOut { available } => Some(*available),
            Sale::NotFound => None,
        };
        self.backend
            .record_key(key, sale.stored_name(), None, remaining)
            .await
    }

    /// The statistics of the reference admin endpoint, computed from the whole orders table.
    /// One-shot use only (CLI, HTTP): the dashboard aggregates incrementally instead.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let today = Utc::now().date_naive();
        let since = today - chrono::Days::new((REVENUE_DAYS - 1) as u64);
        let parts = self.read(|| self.backend.stats_parts(since)).await?;
        Ok(parts.into_stats(since, today))
    }

    /// The highest order id so far (0 when none): every order created later has a larger id.
    pub async fn max_order_id(&self) -> Result<i64, StoreError> {
        self.read(|| self.backend.max_order_id()).await
    }

    /// Orders of `product_id` with an id above `after_id` whose user id starts with `prefix`.
    pub async fn orders_after(
        &self,
        product_id: i32,
        after_id: i64,
        prefix: &str,
    ) -> Result<Vec<OrderRef>, StoreError> {
        let pattern = stats::like_prefix(prefix);
        self.read(|| self.backend.orders_after(product_id, after_id, &pattern))
            .await
    }

    /// The latest `limit` orders of `product_id` (at most [`recent::RECENT_MAX`]), newest
    /// first; none for a product with no orders or no such product.
    pub async fn recent_orders(
        &self,
        product_id: i32,
        limit: i64,
    ) -> Result<Vec<recent::RecentOrder>, StoreError> {
        let limit = limit.clamp(0, recent::RECENT_MAX);
        let rows = self
            .read(|| self.backend.recent_orders(product_id, limit))
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A round trip to the database, timed.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let start = Instant::now();
        self.backend.ping().await?;
        Ok(start.elapsed())
    }

    pub fn pool_status(&self) -> PoolStatus {
        self.backend.pool_status()
    }

    /// Waits for connections on the purchase path over the last minute.
    pub fn acquire_stats(&self) -> AcquireStats {
        self.metrics.snapshot()
    }

    /// PostgreSQL's WAL syncs so far (`pg_stat_wal.wal_sync`), for benchmarks; `None` on SQLite.
    pub async fn wal_syncs(&self) -> Result<Option<i64>, StoreError> {
        self.backend.wal_syncs().await
    }

    /// Where the server is in its WAL (a primary's write position, a standby's replay
    /// position); `None` for SQLite. Tried again on a closed connection, like every read.
    pub async fn wal_position(&self) -> Result<Option<replication::WalPosition>, StoreError> {
        self.read(|| self.backend.wal_position()).await
    }

    /// What the server's backends of this database are doing (two samples of the commit
    /// counters [`activity::RATE_INTERVAL`] apart, so this takes about that long); `None` for
    /// SQLite, which has no server.
    pub async fn activity(&self) -> Result<Option<activity::Activity>, StoreError> {
        self.backend.activity().await
    }

    /// Cancels a backend's query or ends its session; `None` for SQLite.
    pub async fn signal_backend(
        &self,
        pid: i32,
        signal: activity::Signal,
    ) -> Result<Option<activity::Signalled>, StoreError> {
        self.backend.signal(pid, signal).await
    }

    /// Closes every connection, after giving up the products this process sold for others.
    pub async fn close(&self) {
        if let Some(forwarding) = &self.forwarding {
            forwarding.close().await;
        }
        self.backend.close().await
    }

    /// Sells a purchase another process forwarded here (`forward`).
    pub(crate) async fn sell_forwarded(
        &self,
        product_id: i32,
        item: sale::BatchItem,
    ) -> Result<Sale, StoreError> {
        strategies::batched_forwarded(self, product_id, item).await
    }

    /// The dashboard's starting sales aggregates and order-id watermark, from one snapshot.
    /// Reads the whole orders table once; afterwards use [`Store::orders_since`].
    pub async fn sales_baseline(
        &self,
        since: NaiveDate,
        gap_window: i64,
    ) -> Result<SalesBaseline, StoreError> {
        self.backend.sales_baseline(since, gap_window).await
    }

    /// Orders with an id above `after` (at most `limit` of them, lowest ids first) plus any
    /// whose id is in `missing`: the incremental step, whose cost follows the new rows only.
    pub async fn orders_since(
        &self,
        after: i64,
        missing: &[i64],
        limit: i64,
    ) -> Result<Vec<OrderRow>, StoreError> {
        self.backend.orders_since(after, missing, limit).await
    }

    /// The server's own view of connections to this database, by state; `None` for SQLite,
    /// which has no server.
    pub async fn server_activity(&self) -> Result<Option<Vec<ActivityCount>>, StoreError> {
        self.backend.server_activity().await
    }
}
