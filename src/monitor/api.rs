//! Samplers over a deployment's HTTP API alone (`dashboard --api`): the same tasks, pacing and
//! updates as the direct samplers, fed by `GET /api/products/{id}`, `/api/stock/{id}`,
//! `/api/admin/stats`, `/api/health` and `/metrics`.
//!
//! ```text
//!  stock   ── discover ids 1.. (every 30 s), then /api/stock/{id} per product every period ─┐
//!  sales   ── /api/admin/stats every period (401/403: Withheld, asked again every 10 s) ─────┤
//!  health  ── /api/health every period (503 is an answer: what is down) ────────────────────┼─> mpsc
//!  metrics ── /metrics every period: purchase counters into a one-minute window ─────────────┘
//!             (401/403/404: Withheld, asked again every 10 s; no counters: unreadable)
//! ```
//!
//! The reference API has no product list, so products are found by probing
//! `GET /api/products/{id}` for ids 1, 2, 3, ... until [`Probe::max_misses`] ids in a row are
//! missing, and never beyond [`Probe::max_id`]: a catalogue with a gap of five ids or more, or
//! ids above 200, is only partly seen. Pool figures and Redis PING latency are not in the API:
//! those panes say they need direct access.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::error_rate::{self, ErrorWindow, PurchaseCounts, Reading};
use super::sales::{DaySales, ProductSales, SalesCoverage, SalesSnapshot};
use super::{Alert, Control, Pacer, RETRY, Source, Thresholds, Update, alerts, report};
use crate::api::Health;
use crate::http_client::{ClientError, HttpPurchaser};
use crate::model::{Product, ProductDetail, Stats};

/// How often the product ids are probed again (new products, names, prices).
pub const REDISCOVER: Duration = Duration::from_secs(30);
/// How often statistics the server withholds (no admin token) are asked for again.
pub const WITHHELD_RETRY: Duration = Duration::from_secs(10);
/// Stock requests in flight at once during one poll of every product.
const STOCK_FAN_OUT: usize = 8;
/// The sell-rate window.
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// `--once --json` reads `/metrics` twice, this far apart, for a window of its own (the
/// dashboard's default refresh period): one read gives totals since the server started, not a
/// rate.
pub const ONCE_WINDOW: Duration = Duration::from_secs(1);

/// The bounds of product discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Stop after this many missing ids in a row.
    pub max_misses: u32,
    /// Never probe beyond this id.
    pub max_id: i32,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            max_misses: 5,
            max_id: 200,
        }
    }
}

/// Finds products by asking for ids 1, 2, 3, ... (`probe(id)` answers `None` for a missing id)
/// until `limits.max_misses` in a row are missing or `limits.max_id` is reached. The first error
/// ends the discovery: a server that fails on one id says nothing about the next.
pub async fn discover<F, Fut>(mut probe: F, limits: Probe) -> Result<Vec<Product>, ClientError>
where
    F: FnMut(i32) -> Fut,
    Fut: Future<Output = Result<Option<ProductDetail>, ClientError>>,
{
    let mut found = Vec::new();
    let mut misses = 0;
    let mut id = 1;
    while id <= limits.max_id && misses < limits.max_misses {
        match probe(id).await? {
            Some(p) => {
                misses = 0;
                found.push(Product {
                    id: p.id,
                    name: p.name,
                    price: p.price,
                    stock: p.stock,
                });
            }
            None => misses += 1,
        }
        id += 1;
    }
    Ok(found)
}

/// A client error in the dashboard's words.
pub fn describe(e: &ClientError) -> String {
    match e {
        ClientError::Transport(t) if t == "cannot connect" => {
            "API unreachable: cannot connect (is the server running?)".into()
        }
        ClientError::Transport(t) => format!("API unreachable: {t}"),
        other => other.to_string(),
    }
}

/// Whether an error still shows a server answering (any HTTP status, any body): only a
/// transport error means it is out of reach.
pub fn reached(e: &ClientError) -> bool {
    matches!(e, ClientError::Status { .. } | ClientError::Body(_))
}

/// Why a server without a health endpoint (the reference system's may have none) gives no
/// health report: not a failure.
fn no_health(e: &ClientError) -> Option<String> {
    matches!(e, ClientError::Status { status: 404, .. })
        .then(|| "the server has no /api/health".to_string())
}

/// Why the purchase counters cannot be had, when that is the server's answer rather than a
/// failure: the admin guard (as for the statistics), or no `/metrics` at all (the reference
/// system has none).
fn metrics_withheld(e: &ClientError, have_token: bool) -> Option<String> {
    match e {
        ClientError::Status { status: 404, .. } => Some("the server has no /metrics".into()),
        _ => withheld(e, have_token),
    }
}

/// Why the server's purchase counters are missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// The server keeps them to itself, or has none: said calmly, asked again later.
    Withheld(String),
    /// The read failed, or the body holds no counter we can read.
    Failed(String),
}

/// Reads the server's purchase counters from `/metrics`.
pub async fn purchase_counters(client: &HttpPurchaser) -> Result<PurchaseCounts, Missing> {
    match client.metrics().await {
        Ok(body) => error_rate::purchase_counters(&body).ok_or_else(|| {
            Missing::Failed(format!(
                "/metrics unreadable: no {} samples in it",
                error_rate::PURCHASES_METRIC
            ))
        }),
        Err(e) => Err(match metrics_withheld(&e, client.has_admin_token()) {
            Some(reason) => Missing::Withheld(reason),
            None => Missing::Failed(describe(&e)),
        }),
    }
}

/// Why the server withholds its statistics, when an error is the admin guard's answer
/// (401/403), rather than a failure.
pub fn withheld(e: &ClientError, have_token: bool) -> Option<String> {
    match e {
        ClientError::Status { status: 401, .. } if have_token => {
            Some("admin token refused (ADMIN_TOKEN differs from the server's)".into())
        }
        ClientError::Status {
            status: 401 | 403, ..
        } => Some("admin token needed (ADMIN_TOKEN)".into()),
        _ => None,
    }
}

/// Running totals per product (units sold, units gone from stock) as seen at each poll over
/// the last minute: the sell rates the API does not give.
#[derive(Debug, Clone, Default)]
pub struct RateWindow {
    samples: VecDeque<(Instant, BTreeMap<i32, i64>)>,
}

impl RateWindow {
    /// Records `totals` (a running total per product id) seen at `now`; returns how much each
    /// grew since the oldest sample in the window that had it (0 when none did).
    pub fn record(&mut self, now: Instant, totals: &BTreeMap<i32, i64>) -> BTreeMap<i32, i64> {
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let rates = totals
            .iter()
            .map(|(id, total)| {
                let before = self
                    .samples
                    .iter()
                    .find_map(|(_, m)| m.get(id))
                    .copied()
                    .unwrap_or(*total);
                // A smaller total means it was reset: no rate to tell.
                (*id, (total - before).max(0))
            })
            .collect();
        self.samples.push_back((now, totals.clone()));
        rates
    }
}

/// The server's statistics as the sales panes read them: totals and revenue by day as given,
/// the top products only (their revenue and the units per day are not on the wire, and sell
/// rates come from the stock polls instead).
pub fn sales_from_stats(stats: &Stats) -> SalesSnapshot {
    SalesSnapshot {
        total_revenue: stats.total_revenue,
        total_units_sold: stats.total_units_sold,
        products: stats
            .top_products
            .iter()
            .map(|t| ProductSales {
                product_id: t.id,
                units: t.total_sold,
                revenue: t.revenue,
                units_last_minute: 0,
            })
            .collect(),
        revenue_by_day: stats
            .revenue_by_day
            .iter()
            .map(|d| DaySales {
                date: d.date.clone(),
                revenue: d.revenue,
                units: d.units,
            })
            .collect(),
        coverage: SalesCoverage::TopProducts,
        ..SalesSnapshot::default()
    }
}

/// The samplers of a deployment reached over HTTP.
#[derive(Debug, Clone)]
pub struct ApiMonitor {
    pub client: HttpPurchaser,
    pub probe: Probe,
}

/// Every source once over the API (`dashboard --api URL --once --json`). A source that failed
/// is `null` and its error is in `errors`; the panes that need direct access are named.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiSnapshot {
    pub taken_at: DateTime<Utc>,
    pub stock: Option<Vec<Product>>,
    /// `/api/admin/stats` in the reference shape.
    pub stats: Option<Stats>,
    /// `/api/health` as the server answered it (200 or 503).
    pub health: Option<Health>,
    pub alerts: Vec<Alert>,
    pub errors: BTreeMap<Source, String>,
    /// What only direct access shows.
    pub needs_direct_access: Vec<&'static str>,
    /// The server's purchase errors between two reads of `/metrics` [`ONCE_WINDOW`] apart.
    pub server_error_rate: ServerErrorRate,
    /// The sources whose entry in `errors` is why the server keeps the data to itself (no
    /// admin token, no health endpoint), not a failure: the dashboard shows those calmly. The
    /// purchase counters withheld are listed here without an entry in `errors` (the reason is
    /// in `serverErrorRate`): they feed one alert rule, and the reference system has none.
    #[serde(skip)]
    pub withheld: BTreeSet<Source>,
    /// The second read of the counters, as the sampler would have sent it.
    #[serde(skip)]
    pub server_reading: Option<Reading>,
}

/// The server's purchase error rate in `--once --json`. Every key is always there: `null`s
/// with a `reason` when there is no rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerErrorRate {
    /// Seconds between the two reads of `/metrics`.
    pub window_seconds: Option<f64>,
    /// Purchases the server answered in the window, whatever they came to.
    pub purchases: Option<u64>,
    /// Of those, busy and failed (as the rule counts a burst's errors).
    pub errors: Option<u64>,
    pub rate_percent: Option<f64>,
    /// Why `ratePercent` is `null`; `null` when there is a rate.
    pub reason: Option<String>,
    /// The counters at the second read: totals since the server started.
    pub since_server_start: Option<PurchaseCounts>,
}

impl ServerErrorRate {
    fn of(result: &Result<Reading, Missing>) -> Self {
        let reading = match result {
            Ok(r) => r,
            Err(Missing::Withheld(reason) | Missing::Failed(reason)) => {
                return Self {
                    reason: Some(reason.clone()),
                    ..Self::default()
                };
            }
        };
        let mut out = Self {
            since_server_start: Some(reading.totals),
            ..Self::default()
        };
        match reading.last_minute {
            Some(c) => {
                out.window_seconds = Some(reading.span.as_secs_f64());
                out.purchases = Some(c.purchases);
                out.errors = Some(c.errors);
                out.rate_percent = c.rate_percent();
                if out.rate_percent.is_none() {
                    out.reason = Some("no purchases in the window".into());
                }
            }
            None => {
                out.reason = Some("the server restarted between the two reads of /metrics".into());
            }
        }
        out
    }
}

/// Two reads of the counters `gap` apart: a window of its own for a one-off snapshot.
async fn error_rate_once(client: &HttpPurchaser, gap: Duration) -> Result<Reading, Missing> {
    let mut window = ErrorWindow::default();
    let first = purchase_counters(client).await?;
    window.record(Instant::now(), first);
    tokio::time::sleep(gap).await;
    let second = purchase_counters(client).await?;
    Ok(window.record(Instant::now(), second))
}

impl ApiSnapshot {
    /// Every source answered, and the server says it is healthy.
    pub fn all_well(&self) -> bool {
        self.errors.is_empty() && self.health.as_ref().is_some_and(|h| h.success)
    }
}

impl ApiMonitor {
    pub fn new(client: HttpPurchaser) -> Self {
        Self {
            client,
            probe: Probe::default(),
        }
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
        vec![
            tokio::spawn(stock_loop(
                self.client.clone(),
                self.probe,
                tx.clone(),
                control.clone(),
            )),
            tokio::spawn(sales_loop(self.client.clone(), tx.clone(), control.clone())),
            tokio::spawn(health_loop(
                self.client.clone(),
                tx.clone(),
                control.clone(),
            )),
            tokio::spawn(metrics_loop(self.client.clone(), tx, control)),
        ]
    }

    /// Every source once.
    pub async fn snapshot_once(&self, thresholds: &Thresholds) -> ApiSnapshot {
        let client = &self.client;
        let (stock, stats, health, counters) = tokio::join!(
            discover(|id| client.product(id), self.probe),
            client.stats(),
            client.health(),
            error_rate_once(client, ONCE_WINDOW),
        );
        let mut errors = BTreeMap::new();
        let mut withheld_by = BTreeSet::new();
        let server_error_rate = ServerErrorRate::of(&counters);
        let server_reading = match counters {
            Ok(r) => Some(r),
            Err(Missing::Withheld(_)) => {
                withheld_by.insert(Source::Metrics);
                None
            }
            Err(Missing::Failed(e)) => {
                errors.insert(Source::Metrics, e);
                None
            }
        };
        let stock = stock
            .map_err(|e| errors.insert(Source::Stock, describe(&e)))
            .ok();
        let stats = stats
            .map_err(|e| {
                let why = withheld(&e, client.has_admin_token())
                    .inspect(|_| {
                        withheld_by.insert(Source::Sales);
                    })
                    .unwrap_or_else(|| describe(&e));
                errors.insert(Source::Sales, why)
            })
            .ok();
        let health = health
            .map_err(|e| {
                let why = no_health(&e)
                    .inspect(|_| {
                        withheld_by.insert(Source::Health);
                    })
                    .unwrap_or_else(|| describe(&e));
                errors.insert(Source::Health, why)
            })
            .ok();
        let alerts = alerts::evaluate(
            &alerts::Inputs {
                products: stock.as_deref().unwrap_or_default(),
                server: health.as_ref(),
                server_purchases_last_minute: server_reading
                    .and_then(|r| r.last_minute)
                    .map(|c| c.pair()),
                ..alerts::Inputs::default()
            },
            thresholds,
        );
        ApiSnapshot {
            taken_at: Utc::now(),
            stock,
            stats,
            health,
            alerts,
            errors,
            needs_direct_access: vec!["pool", "redisLatency"],
            server_error_rate,
            withheld: withheld_by,
            server_reading,
        }
    }
}

/// The products found by the last discovery, their stock as of the last poll.
struct Known {
    products: Vec<Product>,
    found_at: Instant,
}

/// One stock poll: a discovery when none is recent, else every known product's stock.
async fn stock_step(
    client: &HttpPurchaser,
    probe: Probe,
    known: &mut Option<Known>,
) -> Result<Vec<Product>, ClientError> {
    let k = match known {
        Some(k) if k.found_at.elapsed() < REDISCOVER => k,
        _ => {
            let products = discover(|id| client.product(id), probe).await?;
            let k = known.insert(Known {
                products,
                found_at: Instant::now(),
            });
            return Ok(k.products.clone());
        }
    };
    // Owned futures: borrowing ones trip the compiler's `Send` inference inside a spawned task.
    let ids: Vec<i32> = k.products.iter().map(|p| p.id).collect();
    let answers: Vec<Result<Option<i32>, ClientError>> =
        futures::stream::iter(ids.into_iter().map(|id| {
            let client = client.clone();
            async move { client.stock(id).await }
        }))
        .buffered(STOCK_FAN_OUT)
        .collect()
        .await;
    let mut gone = false;
    let mut products = Vec::with_capacity(k.products.len());
    for (p, answer) in k.products.iter().zip(answers) {
        match answer? {
            Some(stock) => products.push(Product { stock, ..p.clone() }),
            None => gone = true,
        }
    }
    if gone {
        // A product went away: look again at the next poll.
        *known = None;
    } else {
        k.products = products.clone();
    }
    Ok(products)
}

async fn stock_loop<T: From<Update>>(
    client: HttpPurchaser,
    probe: Probe,
    tx: mpsc::Sender<T>,
    control: watch::Receiver<Control>,
) {
    let mut pacer = Pacer { control };
    let mut known = None;
    while pacer.ready().await {
        let result = stock_step(&client, probe, &mut known)
            .await
            .map(|p| (Update::Stock(p), false))
            .map_err(|e| describe(&e));
        let Some(wait) = report(&tx, Source::Stock, result, pacer.period()).await else {
            return;
        };
        if !pacer.wait(wait).await {
            return;
        }
    }
}

async fn sales_loop<T: From<Update>>(
    client: HttpPurchaser,
    tx: mpsc::Sender<T>,
    control: watch::Receiver<Control>,
) {
    let mut pacer = Pacer { control };
    while pacer.ready().await {
        let (update, wait) = match client.stats().await {
            Ok(stats) => (Update::Sales(sales_from_stats(&stats)), pacer.period()),
            Err(e) => match withheld(&e, client.has_admin_token()) {
                Some(reason) => (
                    Update::Withheld {
                        source: Source::Sales,
                        reason,
                    },
                    WITHHELD_RETRY.max(pacer.period()),
                ),
                None => {
                    let error = describe(&e);
                    tracing::warn!(source = %Source::Sales, %error, "sampler failed");
                    (
                        Update::Failed {
                            source: Source::Sales,
                            error,
                            retry_in: RETRY,
                        },
                        RETRY,
                    )
                }
            },
        };
        if tx.send(update.into()).await.is_err() || !pacer.wait(wait).await {
            return;
        }
    }
}

/// Reads the purchase counters every period into a one-minute window. A failed read leaves the
/// window as it is: counters are cumulative, so the next good read's growth covers the gap.
async fn metrics_loop<T: From<Update>>(
    client: HttpPurchaser,
    tx: mpsc::Sender<T>,
    control: watch::Receiver<Control>,
) {
    let mut pacer = Pacer { control };
    let mut window = ErrorWindow::default();
    while pacer.ready().await {
        let (update, wait) = match purchase_counters(&client).await {
            Ok(totals) => (
                Update::ServerPurchases(window.record(Instant::now(), totals)),
                pacer.period(),
            ),
            Err(Missing::Withheld(reason)) => (
                Update::Withheld {
                    source: Source::Metrics,
                    reason,
                },
                WITHHELD_RETRY.max(pacer.period()),
            ),
            Err(Missing::Failed(error)) => {
                tracing::warn!(source = %Source::Metrics, %error, "sampler failed");
                (
                    Update::Failed {
                        source: Source::Metrics,
                        error,
                        retry_in: RETRY,
                    },
                    RETRY,
                )
            }
        };
        if tx.send(update.into()).await.is_err() || !pacer.wait(wait).await {
            return;
        }
    }
}

async fn health_loop<T: From<Update>>(
    client: HttpPurchaser,
    tx: mpsc::Sender<T>,
    control: watch::Receiver<Control>,
) {
    let mut pacer = Pacer { control };
    while pacer.ready().await {
        let result = client.health().await;
        let wait = match result.as_ref().err().and_then(no_health) {
            Some(reason) => {
                let update = Update::Withheld {
                    source: Source::Health,
                    reason,
                };
                if tx.send(update.into()).await.is_err() {
                    return;
                }
                WITHHELD_RETRY.max(pacer.period())
            }
            None => {
                let result = result
                    .map(|h| (Update::Health(h), false))
                    .map_err(|e| describe(&e));
                let Some(wait) = report(&tx, Source::Health, result, pacer.period()).await else {
                    return;
                };
                wait
            }
        };
        if !pacer.wait(wait).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::{DayRevenue, TopProduct};
    use crate::money::Money;

    fn detail(id: i32) -> ProductDetail {
        ProductDetail {
            id,
            name: format!("P{id}"),
            description: None,
            image_url: None,
            stock: id * 10,
            price: Money::from_cents(100),
        }
    }

    /// Discovers over a catalogue holding `ids`; returns the ids found and the ids probed.
    fn run(ids: &[i32], limits: Probe) -> (Vec<i32>, Vec<i32>) {
        let present: BTreeSet<i32> = ids.iter().copied().collect();
        let probed = RefCell::new(Vec::new());
        let found = futures::executor::block_on(discover(
            |id| {
                probed.borrow_mut().push(id);
                let answer = present.contains(&id).then(|| detail(id));
                async move { Ok(answer) }
            },
            limits,
        ))
        .expect("no errors");
        (found.iter().map(|p| p.id).collect(), probed.into_inner())
    }

    #[test]
    fn discovery_stops_after_five_missing_ids_in_a_row() {
        let (found, probed) = run(&[1, 2, 3, 4, 5], Probe::default());
        assert_eq!(found, [1, 2, 3, 4, 5]);
        assert_eq!(
            probed,
            (1..=10).collect::<Vec<_>>(),
            "5 hits, then 5 misses"
        );
    }

    #[test]
    fn discovery_bridges_gaps_shorter_than_the_miss_limit_only() {
        // 3..=6 missing (4 in a row): bridged. 8..=12 missing (5 in a row): the end.
        let (found, probed) = run(&[1, 2, 7, 13], Probe::default());
        assert_eq!(found, [1, 2, 7]);
        assert_eq!(probed.last(), Some(&12));
        let (found, _) = run(&[], Probe::default());
        assert!(found.is_empty());
    }

    #[test]
    fn discovery_is_bounded_by_the_highest_id() {
        let everything: Vec<i32> = (1..=1000).collect();
        let (found, probed) = run(&everything, Probe::default());
        assert_eq!(found.len(), 200);
        assert_eq!(probed.len(), 200, "never beyond id 200");
        let (found, probed) = run(
            &everything,
            Probe {
                max_misses: 5,
                max_id: 3,
            },
        );
        assert_eq!((found.len(), probed.len()), (3, 3));
    }

    #[test]
    fn discovery_stops_at_the_first_error() {
        let probed = RefCell::new(0);
        let result = futures::executor::block_on(discover(
            |id| {
                *probed.borrow_mut() += 1;
                async move {
                    if id == 3 {
                        Err(ClientError::Transport("timed out".into()))
                    } else {
                        Ok(Some(detail(id)))
                    }
                }
            },
            Probe::default(),
        ));
        assert_eq!(result, Err(ClientError::Transport("timed out".into())));
        assert_eq!(*probed.borrow(), 3);
    }

    #[test]
    fn the_admin_guard_is_a_withheld_source_not_a_failure() {
        let status = |status| ClientError::Status {
            status,
            message: String::new(),
        };
        assert_eq!(
            withheld(&status(401), false).as_deref(),
            Some("admin token needed (ADMIN_TOKEN)")
        );
        assert_eq!(
            withheld(&status(403), false).as_deref(),
            Some("admin token needed (ADMIN_TOKEN)")
        );
        assert!(withheld(&status(401), true).is_some_and(|w| w.contains("refused")));
        assert_eq!(withheld(&status(500), false), None);
        assert_eq!(
            withheld(&ClientError::Transport("cannot connect".into()), false),
            None
        );
        assert!(describe(&ClientError::Transport("cannot connect".into())).contains("unreachable"));
        assert_eq!(
            no_health(&status(404)).as_deref(),
            Some("the server has no /api/health")
        );
        assert_eq!(no_health(&status(503)), None);
        assert!(reached(&status(404)) && reached(&ClientError::Body("x".into())));
        assert!(!reached(&ClientError::Transport("timed out".into())));
    }

    #[test]
    fn counters_guarded_or_absent_are_withheld_other_errors_are_failures() {
        let status = |status| ClientError::Status {
            status,
            message: String::new(),
        };
        assert_eq!(
            metrics_withheld(&status(404), false).as_deref(),
            Some("the server has no /metrics")
        );
        assert_eq!(
            metrics_withheld(&status(403), false).as_deref(),
            Some("admin token needed (ADMIN_TOKEN)")
        );
        assert!(metrics_withheld(&status(401), true).is_some_and(|w| w.contains("refused")));
        assert_eq!(metrics_withheld(&status(500), false), None);
        assert_eq!(
            metrics_withheld(&ClientError::Transport("timed out".into()), false),
            None
        );
    }

    #[test]
    fn the_once_rate_is_null_with_a_reason_when_there_is_none() {
        let counts = |purchases, errors| PurchaseCounts { purchases, errors };
        let reading = |last_minute| Reading {
            last_minute,
            span: Duration::from_millis(1_500),
            totals: counts(900, 30),
            restarted: false,
        };
        let r = ServerErrorRate::of(&Ok(reading(Some(counts(40, 3)))));
        assert_eq!(r.window_seconds, Some(1.5));
        assert_eq!((r.purchases, r.errors), (Some(40), Some(3)));
        assert_eq!(r.rate_percent, Some(7.5));
        assert_eq!(r.reason, None);
        assert_eq!(r.since_server_start, Some(counts(900, 30)));
        let r = ServerErrorRate::of(&Ok(reading(Some(counts(0, 0)))));
        assert_eq!(r.purchases, Some(0));
        assert_eq!(r.rate_percent, None);
        assert_eq!(r.reason.as_deref(), Some("no purchases in the window"));
        let r = ServerErrorRate::of(&Ok(Reading {
            restarted: true,
            ..reading(None)
        }));
        assert!(r.reason.is_some_and(|w| w.contains("restarted")));
        let r = ServerErrorRate::of(&Err(Missing::Withheld("the server has no /metrics".into())));
        assert_eq!(r.reason.as_deref(), Some("the server has no /metrics"));
        // Every key is written, `null` when unknown.
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"windowSeconds": null, "purchases": null, "errors": null,
                "ratePercent": null, "reason": "the server has no /metrics",
                "sinceServerStart": null})
        );
    }

    #[test]
    fn stats_become_sales_of_the_top_products_only() {
        let stats = Stats {
            total_revenue: Money::from_cents(100_000),
            total_units_sold: 14,
            top_products: vec![TopProduct {
                id: 5,
                name: "Hub".into(),
                total_sold: 4,
                revenue: Money::ZERO,
            }],
            revenue_by_day: vec![DayRevenue {
                date: "2026-11-25".into(),
                revenue: Money::from_cents(100_000),
                units: 0,
            }],
        };
        let s = sales_from_stats(&stats);
        assert_eq!(s.coverage, SalesCoverage::TopProducts);
        assert_eq!(s.total_units_sold, 14);
        assert_eq!(s.of(5).map(|p| p.units), Some(4));
        assert_eq!(s.of(1), None, "not listed: unknown, not zero");
        assert_eq!(s.revenue_by_day[0].revenue, Money::from_cents(100_000));
    }

    #[test]
    fn the_rate_window_counts_growth_over_the_last_minute() {
        let t0 = Instant::now();
        let totals = |a: i64, b: i64| BTreeMap::from([(1, a), (5, b)]);
        let mut w = RateWindow::default();
        assert_eq!(
            w.record(t0, &totals(10, 4))[&1],
            0,
            "one sample: no rate yet"
        );
        let r = w.record(t0 + Duration::from_secs(30), &totals(25, 4));
        assert_eq!((r[&1], r[&5]), (15, 0));
        // Past the minute the first samples leave the window: only the last growth counts.
        w.record(t0 + Duration::from_secs(100), &totals(30, 4));
        let r = w.record(t0 + Duration::from_secs(120), &totals(40, 4));
        assert_eq!(r[&1], 10);
        // A total that shrinks (reset) gives no negative rate.
        let r = w.record(t0 + Duration::from_secs(121), &totals(0, 0));
        assert_eq!(r[&1], 0);
        // A product first seen later starts from its own total.
        let r = w.record(
            t0 + Duration::from_secs(122),
            &BTreeMap::from([(1, 0), (9, 70)]),
        );
        assert_eq!(r[&9], 0);
    }
}
