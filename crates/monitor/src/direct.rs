//! The samplers of a deployment reached directly (its database and Redis): [`Monitor`] starts
//! them under the driver, and assembles their first reports into the [`Snapshot`] of
//! `dashboard --once --json`.

mod activity_sampler;
mod read_replica_sampler;
mod read_route;
mod redis_sampler;
mod store_samplers;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::alerts::{self, Alert, Thresholds};
use crate::driver::{self, Control, Report};
use crate::read_replica::ReadReplicaSnapshot;
use crate::redis::RedisSnapshot;
use crate::sales::SalesSnapshot;
use crate::{Source, Update};
pub use activity_sampler::ActivitySampler;
use flashsale_core::model::Product;
use flashsale_core::redact::SecretUrl;
use flashsale_core::store::Store;
pub use read_replica_sampler::ReadReplicaSampler;
pub use read_route::ReadRoute;
pub use redis_sampler::{ONCE_PINGS, RedisSampler};
use store_samplers::Reached;
pub use store_samplers::{PoolSampler, PoolSnapshot, SalesSampler, StockSampler};

/// The handles the samplers read through.
#[derive(Debug, Clone)]
pub struct Monitor {
    /// The store purchases go through: its in-memory pool figures are what the pool pane shows.
    pub purchase_store: Store,
    /// Where the samplers' queries go: a small pool of their own on PostgreSQL, so that a burst
    /// saturating the purchase pool does not blind the dashboard; the stock and sales reads on
    /// the read replica, when one is configured.
    pub reads: ReadRoute,
    pub redis: Option<RedisTarget>,
}

/// A Redis to watch.
#[derive(Debug, Clone)]
pub struct RedisTarget {
    pub url: SecretUrl,
    pub timeout: Duration,
    /// The limiter's key prefix: the Redis pane counts the live `{prefix}rate_limit:*` keys.
    pub key_prefix: String,
}

/// Every pane's data at one moment (`dashboard --once --json`). A source that failed is `null`
/// and its error is in `errors`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub taken_at: DateTime<Utc>,
    pub stock: Option<Vec<Product>>,
    pub sales: Option<SalesSnapshot>,
    pub pool: PoolSnapshot,
    /// `null` when no Redis is configured (the in-process limiter).
    pub redis: Option<RedisSnapshot>,
    /// `null` when no read replica is configured.
    pub read_replica: Option<ReadReplicaSnapshot>,
    pub alerts: Vec<Alert>,
    pub errors: BTreeMap<Source, String>,
}

impl Monitor {
    /// The store samplers, sharing one idea of whether the database was ever reached.
    fn store_samplers(&self) -> (StockSampler, SalesSampler, PoolSampler) {
        let reached = Reached::default();
        (
            StockSampler::new(self.reads.clone(), reached.clone()),
            SalesSampler::new(self.reads.clone(), reached.clone()),
            PoolSampler::new(
                self.purchase_store.clone(),
                self.reads.primary().clone(),
                reached,
            ),
        )
    }

    /// Starts one task per source; each stops when the receiver is dropped.
    pub fn spawn<T>(
        &self,
        tx: mpsc::Sender<T>,
        control: watch::Receiver<Control>,
    ) -> Vec<JoinHandle<()>>
    where
        T: From<Update> + Send + 'static,
    {
        let (stock, sales, pool) = self.store_samplers();
        let mut tasks = vec![
            driver::spawn(stock, tx.clone(), control.clone()),
            driver::spawn(sales, tx.clone(), control.clone()),
            driver::spawn(pool, tx.clone(), control.clone()),
        ];
        if self.reads.replica().is_some() {
            let replica = ReadReplicaSampler::new(self.reads.clone());
            tasks.push(driver::spawn(replica, tx.clone(), control.clone()));
        }
        if let Some(r) = &self.redis {
            tasks.push(driver::spawn(RedisSampler::new(r.clone(), 1), tx, control));
        }
        tasks
    }

    /// Every source once, for `--once --json`: each source's first report, as the samplers
    /// would send it (Redis after [`ONCE_PINGS`] PINGs, for a latency of more than one).
    pub async fn snapshot_once(&self, thresholds: &Thresholds) -> Snapshot {
        // The replica first: whether it answers decides where the stock and sales are read.
        let read_replica = match self.reads.replica() {
            Some(_) => {
                let report = driver::once(&mut ReadReplicaSampler::new(self.reads.clone())).await;
                Some(report)
            }
            None => None,
        };
        let (mut stock, mut sales, mut pool) = self.store_samplers();
        let mut redis = self.redis.clone().map(|r| RedisSampler::new(r, ONCE_PINGS));
        let (stock_report, sales_report, pool_report, redis_report) = tokio::join!(
            driver::once(&mut stock),
            driver::once(&mut sales),
            driver::once(&mut pool),
            async {
                match &mut redis {
                    Some(r) => Some(driver::once(r).await),
                    None => None,
                }
            }
        );
        let mut errors = BTreeMap::new();
        let stock = keep(&mut errors, Source::Stock, stock_report);
        let sales = keep(&mut errors, Source::Sales, sales_report);
        let pool = keep(&mut errors, Source::Pool, pool_report).unwrap_or_else(|| {
            // A failed pool poll carries the in-memory figures: this is for a sampler that
            // would not.
            pool.figures(None, errors.get(&Source::Pool).cloned())
        });
        let redis = redis_report.and_then(|r| keep(&mut errors, Source::Redis, r));
        let read_replica = read_replica.and_then(|r| keep(&mut errors, Source::ReadReplica, r));
        let alerts = alerts::evaluate(
            &alerts::Inputs {
                redis: redis.as_ref(),
                // Bursts are the dashboard's: a one-off snapshot has fired none. Purchases other
                // processes make are not counted here: a failed one leaves no row to see.
                purchases_last_minute: None,
                server_purchases_last_minute: None,
                acquire: Some(&pool.acquire),
                products: stock.as_deref().unwrap_or_default(),
                server: None,
                database_error: errors.get(&Source::Stock).map(String::as_str),
                // Kept in a file, not in the database: the caller adds them (`oversells`).
                oversold: &[],
                replicas: &[],
                read_replica: read_replica.as_ref(),
            },
            thresholds,
        );
        Snapshot {
            taken_at: Utc::now(),
            stock,
            sales,
            pool,
            redis,
            read_replica,
            alerts,
            errors,
        }
    }
}

/// The data of a report; its error (or the reason withheld) goes into `errors`.
fn keep<D>(errors: &mut BTreeMap<Source, String>, source: Source, report: Report<D>) -> Option<D> {
    let (data, why) = report.into_parts();
    if let Some(why) = why {
        errors.insert(source, why);
    }
    data
}
