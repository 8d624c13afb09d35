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

mod catalogue;
mod http_samplers;
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
use crate::{Source, Update};
pub use catalogue::{HttpStockSampler, Probe, REDISCOVER, discover};
use flashsale_api::Health;
use flashsale_client::ApiClient;
use flashsale_core::model::{Product, Stats};
pub use http_samplers::{
    HttpHealthSampler, HttpMetricsSampler, HttpStatsSampler, Missing, purchase_counters,
    sales_from_stats,
};
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

impl ApiSnapshot {
    /// Every source answered, and the server says it is healthy.
    pub fn all_well(&self) -> bool {
        self.errors.is_empty() && self.health.as_ref().is_some_and(|h| h.success)
    }
}

impl ApiMonitor {
    pub fn new(client: ApiClient) -> Self {
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
        let client = &self.client;
        vec![
            driver::spawn(
                HttpStockSampler::new(client.clone(), self.probe),
                tx.clone(),
                control.clone(),
            ),
            driver::spawn(
                HttpStatsSampler::new(client.clone()),
                tx.clone(),
                control.clone(),
            ),
            driver::spawn(
                HttpHealthSampler::new(client.clone()),
                tx.clone(),
                control.clone(),
            ),
            driver::spawn(HttpMetricsSampler::new(client.clone(), None), tx, control),
        ]
    }

    /// Every source once: each source's first report, as the samplers would send it (the
    /// counters read twice, [`ONCE_WINDOW`] apart, beside the other reads).
    pub async fn snapshot_once(&self, thresholds: &Thresholds) -> ApiSnapshot {
        let client = &self.client;
        let mut stock_sampler = HttpStockSampler::new(client.clone(), self.probe);
        let mut stats_sampler = HttpStatsSampler::new(client.clone());
        let mut health_sampler = HttpHealthSampler::new(client.clone());
        let mut metrics_sampler = HttpMetricsSampler::new(client.clone(), Some(ONCE_WINDOW));
        let (stock, stats, health, counters) = tokio::join!(
            driver::once(&mut stock_sampler),
            driver::once(&mut stats_sampler),
            driver::once(&mut health_sampler),
            driver::once(&mut metrics_sampler),
        );
        let mut errors = BTreeMap::new();
        let mut withheld_by = BTreeSet::new();
        let stock = keep(&mut errors, &mut withheld_by, Source::Stock, stock);
        let stats = keep(&mut errors, &mut withheld_by, Source::Sales, stats);
        let health = keep(&mut errors, &mut withheld_by, Source::Health, health);
        // Withheld counters have their reason in the rate's JSON, not in `errors`.
        let counters = match counters {
            Report::Data(r) => Ok(r),
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
