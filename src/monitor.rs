//! Samplers: one task per data source (stock, sales, pool, Redis), each sending owned snapshots
//! over a channel, with at most one query in flight per source. A failing source reports the
//! error and retries in [`RETRY`]; nothing here ever ends because a service is down. The core of
//! the dashboard and of `dashboard --once --json`; it knows no terminal. [`api`] holds the same
//! samplers over a deployment's HTTP API (`dashboard --api`).
//!
//! ```text
//!  stock   ── products() every period ──────────────────────────┐
//!  sales   ── baseline once, then orders_since(watermark) ──────┤
//!  pool    ── pool figures + pg_stat_activity every period ─────┼─> mpsc<T: From<Update>>
//!  redis   ── PING every 100 ms, INFO + summary every period ───┘
//!                     all paced by watch<Control> (pause, period)
//! ```

pub mod alerts;
pub mod api;
pub mod error_rate;
pub mod redis;
pub mod sales;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::BackendKind;
use crate::model::Product;
use crate::redact::SecretUrl;
use crate::store::{AcquireStats, ActivityCount, PoolStatus, Store};

pub use alerts::{Alert, Severity, Thresholds};
pub use redis::{LatencySummary, RedisInfo, RedisSnapshot};
pub use sales::{SalesCoverage, SalesSnapshot, SalesTally};

/// How long a failed source waits before trying again.
pub const RETRY: Duration = Duration::from_secs(2);

/// Whether any query of the samplers has succeeded yet.
type Reached = Arc<AtomicBool>;

/// A store error in words. The pool reports a server that refuses connections as "no
/// connection free in time" (it kept trying until the acquire timeout); when no query has ever
/// got through, or no connection is open, that means unreachable, and saying "busy" would send
/// the reader the wrong way.
fn describe(store: &Store, reached: &Reached, e: &crate::store::StoreError) -> String {
    if e.is_busy() && (!reached.load(Ordering::Relaxed) || store.pool_status().size == 0) {
        "database unreachable: cannot connect (is it running?)".into()
    } else {
        e.to_string()
    }
}

/// A data source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Stock,
    Sales,
    Pool,
    Redis,
    /// The server's own report (`/api/health`), over the API.
    Health,
    /// The server's purchase counters (`/metrics`), over the API: its purchase error rate.
    Metrics,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Stock => "stock",
            Source::Sales => "sales",
            Source::Pool => "pool",
            Source::Redis => "redis",
            Source::Health => "health",
            Source::Metrics => "metrics",
        })
    }
}

/// The pool as the pool pane shows it: our figures, and the server's view when there is one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolSnapshot {
    pub backend: BackendKind,
    pub status: PoolStatus,
    pub acquire: AcquireStats,
    /// `pg_stat_activity` by state; `None` for SQLite.
    pub server: Option<Vec<ActivityCount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_error: Option<String>,
}

/// One message from a sampler.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Stock(Vec<Product>),
    Sales(SalesSnapshot),
    Pool(PoolSnapshot),
    Redis(RedisSnapshot),
    /// The server's health report (over the API).
    Health(crate::api::Health),
    /// The server's purchase counters and their growth over the last minute (over the API).
    ServerPurchases(error_rate::Reading),
    /// The source answered but keeps its data to itself (the admin statistics without the
    /// admin token): not a failure, the reason is shown instead of the data.
    Withheld {
        source: Source,
        reason: String,
    },
    /// A query failed; the source tries again after `retry_in`.
    Failed {
        source: Source,
        error: String,
        retry_in: Duration,
    },
}

/// How the samplers are paced: shared by all of them through a watch channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control {
    pub paused: bool,
    pub period: Duration,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            paused: false,
            period: Duration::from_secs(1),
        }
    }
}

/// The handles the samplers read through.
#[derive(Debug, Clone)]
pub struct Monitor {
    /// The store purchases go through: its in-memory pool figures are what the pool pane shows.
    pub purchase_store: Store,
    /// The store the samplers query (a small pool of its own on PostgreSQL, so that a burst
    /// saturating the purchase pool does not blind the dashboard).
    pub store: Store,
    pub redis: Option<RedisTarget>,
}

/// A Redis to watch.
#[derive(Debug, Clone)]
pub struct RedisTarget {
    pub url: SecretUrl,
    pub timeout: Duration,
}

impl Monitor {
    /// Starts one task per source; each stops when the receiver is dropped.
    pub fn spawn<T>(
        &self,
        tx: mpsc::Sender<T>,
        control: watch::Receiver<Control>,
    ) -> Vec<JoinHandle<()>>
    where
        T: From<Update> + Send + 'static,
    {
        let reached = Reached::default();
        let mut tasks = vec![
            tokio::spawn(stock_loop(
                self.store.clone(),
                reached.clone(),
                tx.clone(),
                control.clone(),
            )),
            tokio::spawn(sales_loop(
                self.store.clone(),
                reached.clone(),
                tx.clone(),
                control.clone(),
            )),
            tokio::spawn(pool_loop(
                self.purchase_store.clone(),
                self.store.clone(),
                reached,
                tx.clone(),
                control.clone(),
            )),
        ];
        if let Some(r) = &self.redis {
            tasks.push(tokio::spawn(redis_loop(r.clone(), tx, control)));
        }
        tasks
    }

    /// Every source once, for `--once --json`.
    pub async fn snapshot_once(&self, thresholds: &Thresholds) -> Snapshot {
        let mut errors = std::collections::BTreeMap::new();
        let reached = Reached::default();
        let (stock, sales, pool, redis) = tokio::join!(
            self.store.products(),
            sales_once(&self.store, &reached),
            pool_once(&self.purchase_store, &self.store, &reached),
            async {
                match &self.redis {
                    Some(r) => Some(redis_once(r).await),
                    None => None,
                }
            }
        );
        let stock = stock
            .map_err(|e| errors.insert(Source::Stock, describe(&self.store, &reached, &e)))
            .ok();
        let sales = sales.map_err(|e| errors.insert(Source::Sales, e)).ok();
        if let Some(e) = &pool.server_error {
            errors.insert(Source::Pool, e.clone());
        }
        if let Some(e) = redis.as_ref().and_then(|r| r.error.clone()) {
            errors.insert(Source::Redis, e);
        }
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
            },
            thresholds,
        );
        Snapshot {
            taken_at: Utc::now(),
            stock,
            sales,
            pool,
            redis,
            alerts,
            errors,
        }
    }
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
    pub alerts: Vec<Alert>,
    pub errors: std::collections::BTreeMap<Source, String>,
}

/// Waits between polls; pausing stops polling altogether.
struct Pacer {
    control: watch::Receiver<Control>,
}

impl Pacer {
    /// Returns once not paused; false when the dashboard is gone.
    async fn ready(&mut self) -> bool {
        loop {
            if !self.control.borrow_and_update().paused {
                return true;
            }
            if self.control.changed().await.is_err() {
                return false;
            }
        }
    }

    fn period(&self) -> Duration {
        self.control.borrow().period
    }

    /// Sleeps `d`, cut short by a change of pace (a new period applies at once).
    async fn wait(&mut self, d: Duration) -> bool {
        if d.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            r = self.control.changed() => r.is_ok(),
        }
    }
}

/// Sends the result of one poll; returns the wait before the next, or `None` when the
/// receiver is gone.
async fn report<T: From<Update>>(
    tx: &mpsc::Sender<T>,
    source: Source,
    result: Result<(Update, bool), String>,
    period: Duration,
) -> Option<Duration> {
    let (update, wait) = match result {
        Ok((u, more)) => (u, if more { Duration::ZERO } else { period }),
        Err(error) => {
            tracing::warn!(%source, %error, "sampler failed");
            (
                Update::Failed {
                    source,
                    error,
                    retry_in: RETRY,
                },
                RETRY,
            )
        }
    };
    tx.send(update.into()).await.ok().map(|_| wait)
}

async fn stock_loop<T: From<Update>>(
    store: Store,
    reached: Reached,
    tx: mpsc::Sender<T>,
    control: watch::Receiver<Control>,
) {
    let mut pacer = Pacer { control };
    while pacer.ready().await {
        let result = store
            .products()
            .await
            .map(|p| {
                reached.store(true, Ordering::Relaxed);
                (Update::Stock(p), false)
            })
            .map_err(|e| describe(&store, &reached, &e));
        let Some(wait) = report(&tx, Source::Stock, result, pacer.period()).await else {
            return;
        };
        if !pacer.wait(wait).await {
            return;
        }
    }
}

/// One incremental step: the baseline the first time (or after the table was reset), then only
/// new and missing orders. Returns the snapshot and whether more rows are waiting.
async fn sales_step(
    store: &Store,
    reached: &Reached,
    tally: &mut Option<SalesTally>,
) -> Result<(SalesSnapshot, bool), String> {
    let today = Utc::now().date_naive();
    let since = today - chrono::Days::new((crate::model::REVENUE_DAYS - 1) as u64);
    let mut more = false;
    if let Some(t) = tally {
        // A watermark above the table's highest id means the table was emptied (`db
        // reset`): start again from a fresh baseline.
        let max = store
            .max_order_id()
            .await
            .map_err(|e| describe(store, reached, &e))?;
        if max < t.high() {
            *tally = None;
        } else {
            let rows = store
                .orders_since(t.high(), &t.missing(), sales::BATCH)
                .await
                .map_err(|e| describe(store, reached, &e))?;
            let high = t.high();
            more = rows.iter().filter(|r| r.id > high).count() as i64 >= sales::BATCH;
            t.apply(&rows, Instant::now());
        }
    }
    let t = match tally {
        Some(t) => t,
        None => {
            let b = store
                .sales_baseline(since, sales::GAP_WINDOW)
                .await
                .map_err(|e| describe(store, reached, &e))?;
            tally.insert(SalesTally::from_baseline(&b, Instant::now()))
        }
    };
    reached.store(true, Ordering::Relaxed);
    Ok((t.snapshot(Instant::now(), today), more))
}

async fn sales_once(store: &Store, reached: &Reached) -> Result<SalesSnapshot, String> {
    let mut tally = None;
    sales_step(store, reached, &mut tally).await.map(|(s, _)| s)
}

async fn sales_loop<T: From<Update>>(
    store: Store,
    reached: Reached,
    tx: mpsc::Sender<T>,
    control: watch::Receiver<Control>,
) {
    let mut pacer = Pacer { control };
    let mut tally = None;
    while pacer.ready().await {
        let result = sales_step(&store, &reached, &mut tally)
            .await
            .map(|(s, more)| (Update::Sales(s), more));
        let Some(wait) = report(&tx, Source::Sales, result, pacer.period()).await else {
            return;
        };
        if !pacer.wait(wait).await {
            return;
        }
    }
}

async fn pool_once(purchase_store: &Store, store: &Store, reached: &Reached) -> PoolSnapshot {
    let (server, server_error) = match store.server_activity().await {
        Ok(s) => {
            reached.store(true, Ordering::Relaxed);
            (s, None)
        }
        Err(e) => (None, Some(describe(store, reached, &e))),
    };
    PoolSnapshot {
        backend: purchase_store.kind(),
        status: purchase_store.pool_status(),
        acquire: purchase_store.acquire_stats(),
        server,
        server_error,
    }
}

async fn pool_loop<T: From<Update>>(
    purchase_store: Store,
    store: Store,
    reached: Reached,
    tx: mpsc::Sender<T>,
    control: watch::Receiver<Control>,
) {
    let mut pacer = Pacer { control };
    while pacer.ready().await {
        let snap = pool_once(&purchase_store, &store, &reached).await;
        // The in-memory figures are always good; a failed server query also marks the source.
        let failed = snap.server_error.clone();
        if tx.send(Update::Pool(snap).into()).await.is_err() {
            return;
        }
        let wait = match failed {
            Some(error) => {
                if tx
                    .send(
                        Update::Failed {
                            source: Source::Pool,
                            error,
                            retry_in: RETRY,
                        }
                        .into(),
                    )
                    .await
                    .is_err()
                {
                    return;
                }
                RETRY
            }
            None => pacer.period(),
        };
        if !pacer.wait(wait).await {
            return;
        }
    }
}

async fn redis_once(target: &RedisTarget) -> RedisSnapshot {
    let mut snap = RedisSnapshot {
        url: target.url.to_string(),
        ..RedisSnapshot::default()
    };
    let mut conn = match crate::ratelimit::redis::manager(&target.url, target.timeout) {
        Ok(c) => c,
        Err(e) => {
            snap.error = Some(e.to_string());
            snap.down_since = Some(Utc::now());
            return snap;
        }
    };
    let mut window = redis::LatencyWindow::default();
    for _ in 0..3 {
        match redis::ping(&mut conn, target.timeout).await {
            Ok(rtt) => window.record(Instant::now(), rtt),
            Err(e) => {
                snap.error = Some(e);
                snap.down_since = Some(Utc::now());
                return snap;
            }
        }
    }
    snap.latency = window.summary();
    snap.history_us = window.history_us();
    snap.info = redis::info(&mut conn, target.timeout).await.ok();
    snap
}

async fn redis_loop<T: From<Update>>(
    target: RedisTarget,
    tx: mpsc::Sender<T>,
    control: watch::Receiver<Control>,
) {
    let mut pacer = Pacer { control };
    let url = target.url.to_string();
    let mut conn = match crate::ratelimit::redis::manager(&target.url, target.timeout) {
        Ok(c) => c,
        Err(e) => {
            let snap = RedisSnapshot {
                url,
                down_since: Some(Utc::now()),
                error: Some(e.to_string()),
                ..RedisSnapshot::default()
            };
            let _ = tx.send(Update::Redis(snap).into()).await;
            return;
        }
    };
    let mut window = redis::LatencyWindow::default();
    let mut info = None;
    let mut down_since: Option<DateTime<Utc>> = None;
    let mut last_report: Option<Instant> = None;
    while pacer.ready().await {
        let error = match redis::ping(&mut conn, target.timeout).await {
            Ok(rtt) => {
                window.record(Instant::now(), rtt);
                if down_since.take().is_some() {
                    tracing::info!("redis answers again");
                }
                None
            }
            Err(e) => {
                down_since.get_or_insert_with(Utc::now);
                Some(e)
            }
        };
        let up = error.is_none();
        let due = last_report.is_none_or(|t| t.elapsed() >= pacer.period());
        if due || !up {
            if up {
                info = redis::info(&mut conn, target.timeout).await.ok().or(info);
            }
            let snap = RedisSnapshot {
                url: url.clone(),
                latency: if up { window.summary() } else { None },
                history_us: window.history_us(),
                info: info.clone(),
                down_since,
                error,
            };
            if tx.send(Update::Redis(snap).into()).await.is_err() {
                return;
            }
            last_report = Some(Instant::now());
        }
        let wait = if up { redis::PING_EVERY } else { RETRY };
        if !pacer.wait(wait).await {
            return;
        }
    }
}
