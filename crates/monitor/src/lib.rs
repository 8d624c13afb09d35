//! Samplers: one task per data source, each sending owned snapshots over a channel. Every
//! source is a step function ([`driver::Sampler`]); the one [`driver`] paces them, keeps at most
//! one poll in flight per source, reports and retries failures, and takes the one-off snapshot
//! of `dashboard --once --json`. Nothing here ever ends because a service is down. It knows no
//! terminal: the dashboard and the JSON snapshot share it.
//!
//! ```text
//!  direct (Monitor)            stock   ── products() ───────────────────────────┐
//!                              sales   ── baseline once, then orders_since ─────┤
//!                              pool    ── pool figures + pg_stat_activity ──────┤
//!                              read replica ── WAL positions: its lag ──────────┤
//!                              redis   ── PING every 100 ms, INFO each period ──┤
//!  over HTTP (ApiMonitor)      stock   ── discover ids, then /api/stock/{id} ───┼─ driver ─> mpsc<T: From<Update>>
//!                              sales   ── /api/admin/stats ─────────────────────┤  (watch<Control>: pause, period;
//!                              health  ── /api/health ──────────────────────────┤   failures: Failed, logged on
//!                              metrics ── /metrics: purchase counters ──────────┘   change, backoff)
//! ```

pub mod alert;
pub mod alerts;
pub mod direct;
pub mod driver;
pub mod error_rate;
pub mod over_http;
pub mod oversells;
pub mod purchase_latency;
pub mod rate_window;
pub mod read_replica;
pub mod redis;
pub mod redis_cluster;
pub mod replica_alerts;
pub mod sales;

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use flashsale_core::model::Product;

pub use alerts::{Alert, Severity, Thresholds};
pub use direct::{ActivitySampler, Monitor, PoolSnapshot, ReadRoute, RedisTarget, Snapshot};
pub use driver::{Control, RETRY, RETRY_CAP, WITHHELD_RETRY};
pub use oversells::Oversell;
pub use read_replica::{ReadReplicaSnapshot, ReadsFrom};
pub use redis::{KeyCount, LatencySummary, RedisInfo, RedisSnapshot};
pub use sales::{SalesCoverage, SalesSnapshot, SalesTally};

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
    /// The backends of our database (`pg_stat_activity`), while the activity view is open.
    Activity,
    /// One replica of a deployment watched as a list (`--api A,B,C`), by its place in the
    /// list from 0: its health, readiness and `/metrics`.
    Replica(u16),
    /// The PostgreSQL streaming replica the stock and sales are read from (`--replica-url`):
    /// its lag behind the primary.
    #[serde(rename = "readReplica")]
    ReadReplica,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Source::Replica(i) = self {
            return write!(f, "replica {}", u32::from(*i) + 1);
        }
        f.write_str(match self {
            Source::Stock => "stock",
            Source::Sales => "sales",
            Source::Pool => "pool",
            Source::Redis => "redis",
            Source::Health => "health",
            Source::Metrics => "metrics",
            Source::Activity => "activity",
            Source::Replica(_) => "replica",
            Source::ReadReplica => "read replica",
        })
    }
}

/// One message from a sampler.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Stock(Vec<Product>),
    Sales(SalesSnapshot),
    Pool(PoolSnapshot),
    Redis(RedisSnapshot),
    /// The server's health report (over the API).
    Health(flashsale_api::Health),
    /// The server's purchase counters and their growth over the last minute (over the API).
    ServerPurchases(error_rate::Reading),
    /// One replica's health, readiness and counters (`--api A,B,C`).
    Replica(over_http::ReplicaReading),
    /// The read replica's lag, or that it is down and the primary is read instead.
    ReadReplica(read_replica::ReadReplicaSnapshot),
    /// The backends of our database; `None` on SQLite, which has no server to ask.
    Activity(Option<flashsale_core::store::activity::Activity>),
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
