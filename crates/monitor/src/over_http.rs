//! The samplers of a deployment reached over its HTTP API alone (`dashboard --api`):
//! [`ApiMonitor`] starts them under the same driver as the direct ones, and assembles their
//! first reports into the [`ApiSnapshot`] of `--api URL --once --json`. Pool figures and Redis
//! PING latency are not in the API: those panes say they need direct access.
//!
//! ```text
//!  stock   ── discover ids 1.. (every 30 s), then one stock event stream of them all when the
//!             server offers it (serve), else /api/stock/{id} per product every period
//!  sales   ── /api/admin/stats every period (401/403: withheld)
//!  health  ── /api/health every period (503 is an answer: what is down; 404: withheld)
//!  metrics ── /metrics every period: purchase counters into a one-minute window
//!             (401/403/404: withheld; no counters: unreadable)
//! ```
//!
//! Several URLs (`--api A,B,C`, the replicas of one deployment): stock, statistics and health
//! are read once, from the first replica that answers ([`Failover`]); each replica has a
//! sampler of its own ([`ReplicaSampler`]: health, readiness, counters and p99), and the one
//! server-wide counters sampler is not run (each replica's rate is its own).

mod catalogue;
mod failover;
mod http_samplers;
mod replicas;
mod replies;
mod server_error_rate;
mod stock_stream;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::alerts::{self, Alert, Thresholds};
use crate::driver::{self, Control, Report};
use crate::error_rate::Reading;
use crate::replica_alerts::ReplicaView;
use crate::{Source, Update};
pub use catalogue::{HttpStockSampler, Probe, REDISCOVER, discover};
pub use failover::Failover;
use flashsale_api::Health;
use flashsale_client::ApiClient;
use flashsale_core::model::{Product, Stats};
pub use http_samplers::{
    HttpHealthSampler, HttpMetricsSampler, HttpStatsSampler, Missing, purchase_counters,
    sales_from_stats,
};
pub use replicas::{ReplicaReading, ReplicaSampler};
pub use replies::{describe, reached, withheld};
pub use server_error_rate::ServerErrorRate;
pub use stock_stream::{MAX_STREAM_IDS, SILENCE};

/// `--once --json` reads `/metrics` twice, this far apart, for a window of its own (the
/// dashboard's default refresh period): one read gives totals since the server started, not a
/// rate.
pub const ONCE_WINDOW: Duration = Duration::from_secs(1);

/// The samplers of a deployment reached over HTTP.
#[derive(Debug, Clone)]
pub struct ApiMonitor {
    pub client: ApiClient,
    pub probe: Probe,
    /// The replicas of a deployment given as a list (URL as shown, client); empty for one URL,
    /// which may be a load balancer's: its answers come from any replica.
    pub replicas: Vec<(String, ApiClient)>,
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
    /// Each replica's first report, in list order (empty for one URL); the dashboard writes
    /// them as `replicas`.
    #[serde(skip)]
    pub replica_reports: Vec<Report<ReplicaReading>>,
}

impl ApiSnapshot {
    /// Every source answered (every replica too), and the server says it is healthy.
    pub fn all_well(&self) -> bool {
        self.errors.is_empty()
            && self.health.as_ref().is_some_and(|h| h.success)
            && self
                .replica_reports
                .iter()
                .all(|r| matches!(r, Report::Data(_)))
    }
}

impl ApiMonitor {
    pub fn new(client: ApiClient) -> Self {
        Self {
            client,
            probe: Probe::default(),
            replicas: Vec::new(),
        }
    }

    /// Watching the replicas of one deployment (two or more).
    fn several(&self) -> bool {
        self.replicas.len() > 1
    }

    /// One sampler per replica, or the one client's, read from the first that answers.
    fn failover<S: crate::driver::Sampler>(&self, make: impl Fn(ApiClient) -> S) -> Failover<S> {
        let others = self.replicas.iter().skip(1).filter(|_| self.several());
        Failover::new(
            make(self.client.clone()),
            others.map(|(_, c)| make(c.clone())),
        )
    }

    fn replica_samplers(&self, warm_up: Option<Duration>) -> Vec<ReplicaSampler> {
        if !self.several() {
            return Vec::new();
        }
        (0u16..)
            .zip(&self.replicas)
            .map(|(i, (_, c))| ReplicaSampler::new(i, c.clone(), warm_up))
            .collect()
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
        let probe = self.probe;
        let mut tasks = vec![
            driver::spawn(
                self.failover(|c| HttpStockSampler::new(c, probe)),
                tx.clone(),
                control.clone(),
            ),
            driver::spawn(
                self.failover(HttpStatsSampler::new),
                tx.clone(),
                control.clone(),
            ),
            driver::spawn(
                self.failover(HttpHealthSampler::new),
                tx.clone(),
                control.clone(),
            ),
        ];
        if !self.several() {
            tasks.push(driver::spawn(
                HttpMetricsSampler::new(self.client.clone(), None),
                tx.clone(),
                control.clone(),
            ));
        }
        for sampler in self.replica_samplers(None) {
            tasks.push(driver::spawn(sampler, tx.clone(), control.clone()));
        }
        tasks
    }

    /// Every source once: each source's first report, as the samplers would send it (the
    /// counters read twice, [`ONCE_WINDOW`] apart, beside the other reads).
    pub async fn snapshot_once(&self, thresholds: &Thresholds) -> ApiSnapshot {
        let probe = self.probe;
        let mut stock_sampler = self.failover(|c| HttpStockSampler::new(c, probe));
        let mut stats_sampler = self.failover(HttpStatsSampler::new);
        let mut health_sampler = self.failover(HttpHealthSampler::new);
        let mut metrics_sampler = HttpMetricsSampler::new(self.client.clone(), Some(ONCE_WINDOW));
        let mut replica_samplers = self.replica_samplers(Some(ONCE_WINDOW));
        let several = self.several();
        let counters = async {
            if several {
                // Each replica's counters are its own: no sum stands for the deployment.
                return Report::Withheld(SEVERAL.to_string());
            }
            driver::once(&mut metrics_sampler).await
        };
        let (stock, stats, health, counters, replica_reports) = tokio::join!(
            driver::once(&mut stock_sampler),
            driver::once(&mut stats_sampler),
            driver::once(&mut health_sampler),
            counters,
            futures::future::join_all(replica_samplers.iter_mut().map(driver::once)),
        );
        let mut errors = BTreeMap::new();
        let mut withheld_by = BTreeSet::new();
        let stock = keep(&mut errors, &mut withheld_by, Source::Stock, stock);
        let stats = keep(&mut errors, &mut withheld_by, Source::Sales, stats);
        let health = keep(&mut errors, &mut withheld_by, Source::Health, health);
        // Withheld counters have their reason in the rate's JSON, not in `errors`.
        let counters = match counters {
            Report::Data(r) => Ok(r),
            Report::Withheld(reason) if several => Err(Missing::Withheld(reason)),
            Report::Withheld(reason) => {
                withheld_by.insert(Source::Metrics);
                Err(Missing::Withheld(reason))
            }
            Report::Failed { error, .. } => {
                errors.insert(Source::Metrics, error.clone());
                Err(Missing::Failed(error))
            }
        };
        let server_error_rate = ServerErrorRate::of(&counters);
        let server_reading = counters.ok();
        let alerts = alerts::evaluate(
            &alerts::Inputs {
                products: stock.as_deref().unwrap_or_default(),
                server: health.as_ref(),
                server_purchases_last_minute: server_reading
                    .and_then(|r| r.last_minute)
                    .map(|c| c.pair()),
                replicas: &replica_views(&self.replicas, &replica_reports),
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
            replica_reports,
        }
    }
}

/// Why `serverErrorRate` is empty when several replicas are watched.
pub const SEVERAL: &str = "several replicas: each one's purchase errors are in replicas";

/// The replicas as the alert rules see them, from their first reports.
fn replica_views<'a>(
    replicas: &'a [(String, ApiClient)],
    reports: &'a [Report<ReplicaReading>],
) -> Vec<ReplicaView<'a>> {
    replicas
        .iter()
        .zip(reports)
        .map(|((url, _), report)| match report {
            Report::Data(r) => ReplicaView {
                url,
                down: None,
                not_ready: r.ready == Some(false),
                last_minute: r.last_minute(),
            },
            Report::Withheld(why) | Report::Failed { error: why, .. } => ReplicaView {
                url,
                down: Some(why),
                not_ready: false,
                last_minute: None,
            },
        })
        .collect()
}

/// The data of a report; why there is none goes into `errors`, and a source that withholds it
/// into `withheld` too.
fn keep<D>(
    errors: &mut BTreeMap<Source, String>,
    withheld: &mut BTreeSet<Source>,
    source: Source,
    report: Report<D>,
) -> Option<D> {
    if let Report::Withheld(_) = &report {
        withheld.insert(source);
    }
    let (data, why) = report.into_parts();
    if let Some(why) = why {
        errors.insert(source, why);
    }
    data
}
