//! What every handler shares: the purchase service, the server's settings, the metrics, the
//! view that answers stock reads from memory, and the tracker of purchase tasks that shutdown
//! waits for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::task::TaskTracker;

use super::metrics::Metrics;
use super::read_view::ReadView;
use super::slow_log::SlowLog;
use super::stock_events::StockEvents;
use flashsale_core::config::{HttpSettings, Settings, TrustedProxies};
use flashsale_core::purchase::Purchaser;
use flashsale_core::redact::Secret;
use flashsale_core::strategy::Strategy;

/// Requests slower than this are counted and summarised in the log.
pub const SLOW_REQUEST: Duration = Duration::from_millis(100);
/// After a shutdown signal, how long in-flight requests get before the server exits anyway.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// How often expired Idempotency-Key records are swept away (and once at start).
pub const KEY_SWEEP_EVERY: Duration = Duration::from_secs(600);

/// The server's own settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The strategy every purchase through this server uses.
    pub strategy: Strategy,
    pub trusted_proxies: TrustedProxies,
    pub admin_token: Option<Secret>,
    pub slow_request: Duration,
    pub drain_limit: Duration,
    /// After the shutdown signal and before the listener closes: `/api/ready` answers 503 and
    /// everything else is served as before (each answer closing its connection), so a load
    /// balancer's health checks take this replica out of its pool before it stops accepting.
    pub shutdown_drain: Duration,
    /// An Idempotency-Key's record is kept this long, then swept away.
    pub idempotency_ttl: Duration,
    pub key_sweep_every: Duration,
    /// Connections: timeouts, their number (0: from the descriptor limit), CORS origins.
    pub http: HttpSettings,
}

impl ServerConfig {
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            strategy: s.strategy,
            trusted_proxies: s.trusted_proxies.clone(),
            admin_token: s.admin_token.clone(),
            slow_request: s.http.slow_request,
            drain_limit: DRAIN_LIMIT,
            shutdown_drain: s.http.shutdown_drain,
            idempotency_ttl: s.idempotency_ttl,
            key_sweep_every: KEY_SWEEP_EVERY,
            http: s.http.clone(),
        }
    }
}

struct Inner {
    purchaser: Purchaser,
    config: ServerConfig,
    metrics: Metrics,
    slow_log: SlowLog,
    tasks: TaskTracker,
    draining: AtomicBool,
    reads: ReadView,
    events: Arc<StockEvents>,
}

/// Shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("purchaser", &self.inner.purchaser)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl AppState {
    pub fn new(purchaser: Purchaser, config: ServerConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                purchaser,
                metrics: Metrics::default(),
                slow_log: SlowLog::default(),
                tasks: TaskTracker::new(),
                draining: AtomicBool::new(false),
                reads: ReadView::new(config.http.read_staleness),
                events: Arc::new(StockEvents::new(
                    config.http.read_staleness,
                    config.http.sse_heartbeat,
                )),
                config,
            }),
        }
    }

    pub fn purchaser(&self) -> &Purchaser {
        &self.inner.purchaser
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn slow_log(&self) -> &SlowLog {
        &self.inner.slow_log
    }

    /// Purchases run as tracked tasks: a client that hangs up does not cancel a purchase
    /// halfway, and shutdown waits for every one of them.
    pub fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    /// Stock and product reads from memory (`read_view`).
    pub fn reads(&self) -> &ReadView {
        &self.inner.reads
    }

    /// The stock changes event streams push (`stock_events`).
    pub fn events(&self) -> &Arc<StockEvents> {
        &self.inner.events
    }

    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Relaxed)
    }

    pub(super) fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Relaxed);
    }
}
