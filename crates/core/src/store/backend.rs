//! What a database engine supplies to the [`Store`](super::Store): its SQL and its connection
//! handling, nothing more. The flows over them (each strategy's steps, read retries, the
//! batched strategy's gatherers and sold-out memory, seeding) are written once, in the store;
//! an engine that cannot do something says so in the type (`Option`), never with a stub.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;

use super::activity::{Activity, Signal, Signalled};
use super::partitions::{PartitionPlan, PartitionReport};
use super::replication::WalPosition;
use super::sale::{Applied, InsertedOrder, KeyLookup, ProductBatch, ProductForSale};
use super::sales::{ActivityCount, OrderRow, SalesBaseline};
use super::seed::{SeedOrder, SeedProduct};
use super::stats::StatsParts;
use super::{KeyRecord, KeyWrite, NewPurchase, OrderRef, PoolStatus, Restock, Sale, StoreError};
use crate::config::BackendKind;
use crate::model::{Product, ProductDetail};
use crate::money::Money;

/// A database engine.
#[async_trait]
pub(crate) trait Backend: Send + Sync + Debug {
    fn kind(&self) -> BackendKind;

    /// The client-side bound on an operation of `statements` statements, for an engine reached
    /// over a network (a stalled connection would otherwise never answer); `None` for one that
    /// answers or fails by itself.
    fn deadline(&self, statements: u32) -> Option<Duration>;

    async fn migrate(&self) -> Result<(), StoreError>;
    /// Drops every flashsale table.
    async fn drop_all(&self) -> Result<(), StoreError>;
    /// Whether `orders` is a partitioned table (never on an engine without partitioning).
    async fn orders_partitioned(&self) -> Result<bool, StoreError>;
    /// Makes or keeps `orders` partitioned by month as `plan` says; `None` for an engine
    /// without partitioning.
    async fn partition_orders(
        &self,
        plan: PartitionPlan,
    ) -> Result<Option<PartitionReport>, StoreError>;

    async fn products(&self) -> Result<Vec<Product>, StoreError>;
    async fn product_detail(&self, id: i32) -> Result<Option<ProductDetail>, StoreError>;
    async fn stock(&self, id: i32) -> Result<Option<i32>, StoreError>;
    /// `(id, units available)` of those of `ids` that exist, in one query.
    async fn stocks(&self, ids: &[i32]) -> Result<Vec<(i32, i32)>, StoreError>;
    async fn stats_parts(&self, since: NaiveDate) -> Result<StatsParts, StoreError>;
    async fn max_order_id(&self) -> Result<i64, StoreError>;
    /// Orders of `product_id` above `after_id` whose user id matches the LIKE `pattern`.
    async fn orders_after(
        &self,
        product_id: i32,
        after_id: i64,
        pattern: &str,
    ) -> Result<Vec<OrderRef>, StoreError>;
    /// The latest `limit` orders of `product_id`, newest first.
    async fn recent_orders(
        &self,
        product_id: i32,
        limit: i64,
    ) -> Result<Vec<super::recent::RecentRow>, StoreError>;
    async fn sales_baseline(
        &self,
        since: NaiveDate,
        gap_window: i64,
    ) -> Result<SalesBaseline, StoreError>;
    async fn orders_since(
        &self,
        after: i64,
        missing: &[i64],
        limit: i64,
    ) -> Result<Vec<OrderRow>, StoreError>;
    /// The server's view of connections to this database; `None` for an engine with no server.
    async fn server_activity(&self) -> Result<Option<Vec<ActivityCount>>, StoreError>;
    /// What the server's backends of this database are doing; `None` for an engine with no
    /// server.
    async fn activity(&self) -> Result<Option<Activity>, StoreError>;
    /// Sends `signal` to backend `pid` of this database; `None` for an engine with no server.
    async fn signal(&self, pid: i32, signal: Signal) -> Result<Option<Signalled>, StoreError>;
    /// WAL syncs so far, for benchmarks; `None` for an engine that does not count them.
    async fn wal_syncs(&self) -> Result<Option<i64>, StoreError>;
    /// Where the server is in its WAL; `None` for an engine with no replication.
    async fn wal_position(&self) -> Result<Option<WalPosition>, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    fn pool_status(&self) -> PoolStatus;
    async fn close(&self);

    /// Sets a product's stock, saying what it was (the units available just before, in the
    /// same transaction); `None` when there is no such product. An engine that can tell other
    /// processes does so in the same statement.
    async fn set_stock(&self, id: i32, stock: i32) -> Result<Option<Restock>, StoreError>;
    /// A transaction on one connection, able to hold a product's write lock from its first
    /// read: the row-lock strategy and seeding run their steps in it.
    async fn begin(&self) -> Result<Box<dyn Transaction>, StoreError>;
    /// The atomic strategy: the guarded decrement and the order (and the key's row) committed
    /// together, in as few round trips as the engine allows.
    async fn purchase_atomic(
        &self,
        p: NewPurchase<'_>,
        key: Option<KeyRecord<'_>>,
    ) -> Result<Sale, StoreError>;
    /// The batched strategy's write for the purchases of several products gathered together:
    /// each product's items allocated in arrival order, as if alone, sharing one commit where
    /// the engine allows. One answer per batch, in their order: a product's failure is its own.
    async fn apply_batches(&self, batches: &[ProductBatch]) -> Vec<Applied>;
    /// The naive strategy's read: no lock, no transaction.
    async fn read_unlocked(&self, id: i32) -> Result<Option<ProductForSale>, StoreError>;
    /// The naive strategy's write: the stock as an absolute value, then the order, each
    /// statement on its own (UNSAFE by design: the reference system's lost update).
    async fn write_unlocked(
        &self,
        p: NewPurchase<'_>,
        stock: i32,
        total: Money,
    ) -> Result<InsertedOrder, StoreError>;

    /// What each of `keys` recorded, for those that have a record: the key, its request's
    /// fingerprint and the sale (orders and products joined), or why that record cannot be
    /// read. One query for all of them.
    async fn idempotency_lookup_many(&self, keys: &[String]) -> Result<Vec<KeyLookup>, StoreError>;
    /// Records an outcome under `key` unless the key is taken (the record already there wins).
    async fn record_key(
        &self,
        key: KeyRecord<'_>,
        outcome: &str,
        order_id: Option<i64>,
        remaining: Option<i32>,
    ) -> Result<KeyWrite, StoreError>;
    /// Deletes up to `limit` key records older than `ttl`; how many went.
    async fn expire_keys_chunk(&self, ttl: Duration, limit: i64) -> Result<u64, StoreError>;
}

/// One transaction of a [`Backend`], in its SQL. Dropped without [`Transaction::commit`] or
/// [`Transaction::rollback`] (a deadline passed, the caller went away), it rolls back, and a
/// connection that may be stalled mid-statement is closed rather than reused.
#[async_trait]
pub(crate) trait Transaction: Send {
    /// Reads the product and holds its write lock until the end of the transaction.
    async fn lock_product(&mut self, id: i32) -> Result<Option<ProductForSale>, StoreError>;
    /// Takes `quantity` from the stock if that much is there; the stock left, or `None`.
    async fn decrement(&mut self, id: i32, quantity: i32) -> Result<Option<i32>, StoreError>;
    async fn insert_order(
        &mut self,
        p: NewPurchase<'_>,
        total: Money,
    ) -> Result<InsertedOrder, StoreError>;
    /// Records a purchase's idempotency key; a key already taken fails the transaction.
    async fn insert_key(
        &mut self,
        key: KeyRecord<'_>,
        order_id: i64,
        remaining: i32,
    ) -> Result<(), StoreError>;
    /// Counts the products, holding off any other seeder until the end of the transaction.
    async fn count_products_exclusively(&mut self) -> Result<i64, StoreError>;
    async fn insert_seed_product(&mut self, p: &SeedProduct) -> Result<i32, StoreError>;
    /// Inserts a sample order `o.days_ago` days before today at `o.hour`.
    async fn insert_seed_order(
        &mut self,
        o: &SeedOrder,
        product_id: i32,
        total: Money,
    ) -> Result<(), StoreError>;
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
    async fn rollback(self: Box<Self>) -> Result<(), StoreError>;
}
