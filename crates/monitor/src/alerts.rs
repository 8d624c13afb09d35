//! The monitoring rules of the seed document, with configurable thresholds: Redis PING above
//! 50 ms, purchase error rate above 5% over the last minute (of the bursts fired from the
//! dashboard, and over `--api` of the server's own purchases), pool waiters or acquire
//! timeouts, low stock, a database that gives no data, and oversells an audit found (until
//! acknowledged). Pure: the dashboard and `--once --json` evaluate the same rules.

use serde::Serialize;

use flashsale_core::model::Product;
use flashsale_core::store::AcquireStats;

use super::redis::RedisSnapshot;

pub use super::alert::{Alert, Severity};

/// When each rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Thresholds {
    /// Slowest PING in the window above this many ms.
    pub redis_ping_ms: f64,
    /// Busy + failed purchases above this percentage of the last minute's purchases.
    pub error_rate_percent: f64,
    /// This many purchases or more waiting for a pooled connection. Not 1: a burst with more
    /// purchases in flight than connections always queues a few (and the embedded database has
    /// a single writer), which is the pool doing its job; a long queue is the warning sign.
    pub pool_waiters: i64,
    /// A product's stock below this.
    pub low_stock: i32,
    /// The read replica more than this many ms behind the primary.
    pub replica_lag_ms: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            redis_ping_ms: 50.0,
            error_rate_percent: 5.0,
            pool_waiters: 20,
            low_stock: 5,
            replica_lag_ms: 5_000,
        }
    }
}

/// What the rules look at; any part may be unknown.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    pub redis: Option<&'a RedisSnapshot>,
    /// (errors, purchases) over the last minute of the bursts fired from this dashboard, as
    /// their buyers saw them.
    pub purchases_last_minute: Option<(u64, u64)>,
    /// (errors, purchases) over the last minute as the server counted them (its `/metrics`,
    /// when watching over its API): every client's purchases, ours included.
    pub server_purchases_last_minute: Option<(u64, u64)>,
    pub acquire: Option<&'a AcquireStats>,
    pub products: &'a [Product],
    /// The server's health report, when watching over its API.
    pub server: Option<&'a flashsale_api::Health>,
    /// Why the database gives no data (opening it or the stock poll failed), in the store's
    /// words: "database unreachable: connection refused by ...", "database busy: ...".
    pub database_error: Option<&'a str>,
    /// Oversells an audit found and the operator has not acknowledged yet.
    pub oversold: &'a [super::oversells::Oversell],
    /// The replicas of a deployment watched as a list (`--api A,B,C`).
    pub replicas: &'a [super::replica_alerts::ReplicaView<'a>],
    /// The PostgreSQL read replica (`--replica-url`), when one is configured.
    pub read_replica: Option<&'a crate::read_replica::ReadReplicaSnapshot>,
}

/// The start of every oversell alert's key (then the product id).
pub const OVERSOLD_KEY: &str = "oversold-";

/// An oversell's alert: critical, and first of all (until acknowledged).
pub fn oversold(o: &super::oversells::Oversell) -> Alert {
    Alert::new(
        format!("{OVERSOLD_KEY}{}", o.product_id),
        Severity::Critical,
        format!("{} {}", o.product_name, o.verdict()),
        format!("acknowledged: {} {}", o.product_name, o.verdict()),
    )
}

/// The read replica's alert: out of use (its reads fall back to the primary, so a warning: the
/// figures are right, the load is where the replica was meant to take it from), behind by more
/// than the threshold, or no standby at all.
fn read_replica(r: &crate::read_replica::ReadReplicaSnapshot, t: &Thresholds) -> Option<Alert> {
    let secs = |ms: u64| ms as f64 / 1000.0;
    let (key, message, cleared) = if let Some(why) = &r.error {
        (
            "read-replica-down",
            format!("read replica down, reading the primary: {why}"),
            "read replica answers again".to_string(),
        )
    } else if let Some(ms) = r.lag_ms.filter(|ms| *ms > t.replica_lag_ms) {
        let bound = secs(t.replica_lag_ms);
        (
            "read-replica-lag",
            format!("read replica {:.1} s behind (above {bound:.1} s)", secs(ms)),
            format!("read replica no longer more than {bound:.1} s behind"),
        )
    } else if r.in_recovery == Some(false) {
        (
            "read-replica-not-standby",
            "read replica is not a standby: its figures need not be the primary's".to_string(),
            "read replica is a standby again".to_string(),
        )
    } else {
        return None;
    };
    Some(Alert::new(key, Severity::Warning, message, cleared))
}

/// Every alert that fires, most severe first.
pub fn evaluate(inputs: &Inputs<'_>, t: &Thresholds) -> Vec<Alert> {
    // An oversell is the worst news there is: the top alert, until acknowledged.
    let mut out: Vec<Alert> = inputs.oversold.iter().map(oversold).collect();
    // Without the database every other figure is stale: as critical as a dead Redis.
    if let Some(e) = inputs.database_error {
        out.push(Alert::new(
            "database-down",
            Severity::Critical,
            e.to_string(),
            "the database answers again",
        ));
    }
    if let Some(h) = inputs.server {
        for (key, name, dep) in [
            ("server-database-down", "its database", &h.database),
            ("server-redis-down", "Redis", &h.redis),
        ] {
            if dep.is_down() {
                out.push(Alert::new(
                    key,
                    Severity::Critical,
                    format!("the server reports {name} down"),
                    format!("the server no longer reports {name} down"),
                ));
            }
        }
    }
    if let Some(r) = inputs.redis {
        if let Some(since) = r.down_since {
            out.push(Alert::new(
                "redis-down",
                Severity::Critical,
                format!("Redis down since {}", since.format("%H:%M:%S UTC")),
                "Redis answers again",
            ));
        } else if let Some(l) = r.latency.filter(|l| l.max_ms > t.redis_ping_ms) {
            out.push(Alert::new(
                "redis-slow",
                Severity::Warning,
                format!(
                    "Redis PING {:.0} ms (above {:.0} ms)",
                    l.max_ms, t.redis_ping_ms
                ),
                format!("Redis PING no longer above {:.0} ms", t.redis_ping_ms),
            ));
        }
    }
    // Two views of the same rule, never added together: a burst fired from this dashboard at
    // the server it watches is in both (its purchases reach the server's counters), so a sum
    // would count them twice, and subtracting ours from the server's cannot be done exactly
    // (our progress steps and the server's scrapes do not line up, and a request our client
    // gave up on is still counted by the server, under whatever it came to). Each view is a
    // rate in its own right: the server's covers every client, ours includes requests that
    // never reached it (connection refused, timeouts). The worse of the two is the alert, and
    // it says whose purchases it counts.
    let views = [
        (
            inputs.server_purchases_last_minute,
            "the server's purchases",
        ),
        (inputs.purchases_last_minute, "bursts fired here"),
    ];
    let worst = views
        .into_iter()
        .filter_map(|(p, whose)| match p {
            Some((errors, total)) if total > 0 => {
                Some((errors as f64 * 100.0 / total as f64, whose))
            }
            _ => None,
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((rate, whose)) = worst
        && rate > t.error_rate_percent
    {
        out.push(Alert::new(
            "error-rate",
            Severity::Critical,
            format!(
                "purchase errors {rate:.1}% over the last minute ({whose}; above {:.0}%)",
                t.error_rate_percent
            ),
            format!(
                "purchase errors no longer above {:.0}% over the last minute",
                t.error_rate_percent
            ),
        ));
    }
    if let Some(a) = inputs.acquire {
        if a.timeouts_window > 0 {
            out.push(Alert::new(
                "pool-timeouts",
                Severity::Critical,
                format!(
                    "{} pool acquire timeouts in the last minute",
                    a.timeouts_window
                ),
                "no pool acquire timeout in the last minute",
            ));
        }
        if a.waiting >= t.pool_waiters && t.pool_waiters > 0 {
            out.push(Alert::new(
                "pool-waiters",
                Severity::Warning,
                format!("{} purchases waiting for a connection", a.waiting),
                format!(
                    "fewer than {} purchases waiting for a connection",
                    t.pool_waiters
                ),
            ));
        }
    }
    for p in inputs.products {
        if p.stock < t.low_stock {
            out.push(Alert::new(
                format!("low-stock-{}", p.id),
                Severity::Warning,
                if p.stock == 0 {
                    format!("{} sold out", p.name)
                } else {
                    format!("low stock: {} has {} left", p.name, p.stock)
                },
                format!("{} has {} or more in stock", p.name, t.low_stock),
            ));
        }
    }
    out.extend(super::replica_alerts::evaluate(
        inputs.replicas,
        t.error_rate_percent,
    ));
    out.extend(inputs.read_replica.and_then(|r| read_replica(r, t)));
    out.sort_by_key(|a| std::cmp::Reverse(a.severity));
    out
}

#[cfg(test)]
mod tests;
