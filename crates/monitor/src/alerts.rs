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
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            redis_ping_ms: 50.0,
            error_rate_percent: 5.0,
            pool_waiters: 20,
            low_stock: 5,
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
    out.sort_by_key(|a| std::cmp::Reverse(a.severity));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversell_is_a_critical_alert_in_the_audits_words() {
        let found = |oversold, lost_updates| crate::oversells::Oversell {
            database: "db".into(),
            product_id: 3,
            product_name: "P3".into(),
            oversold,
            lost_updates,
            at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        };
        let a = oversold(&found(100, 193));
        assert_eq!(a.key, "oversold-3");
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.message, "P3 OVERSOLD by 100, LOST 193 updates");
        assert_eq!(oversold(&found(0, 7)).message, "P3 LOST 7 updates");
    }
    use crate::redis::LatencySummary;
    use flashsale_core::money::Money;

    fn product(id: i32, stock: i32) -> Product {
        Product {
            id,
            name: format!("P{id}"),
            price: Money::from_cents(100),
            stock,
        }
    }

    #[test]
    fn quiet_system_raises_nothing() {
        let products = [product(1, 50)];
        let redis = RedisSnapshot {
            latency: Some(LatencySummary {
                max_ms: 3.0,
                ..LatencySummary::default()
            }),
            ..RedisSnapshot::default()
        };
        let acquire = AcquireStats::default();
        let inputs = Inputs {
            redis: Some(&redis),
            purchases_last_minute: Some((1, 100)),
            server_purchases_last_minute: Some((0, 5_000)),
            acquire: Some(&acquire),
            products: &products,
            ..Inputs::default()
        };
        assert!(evaluate(&inputs, &Thresholds::default()).is_empty());
    }

    #[test]
    fn each_rule_fires_past_its_threshold_most_severe_first() {
        let products = [product(1, 0), product(2, 3), product(3, 9)];
        let redis = RedisSnapshot {
            latency: Some(LatencySummary {
                max_ms: 51.0,
                ..LatencySummary::default()
            }),
            ..RedisSnapshot::default()
        };
        let acquire = AcquireStats {
            waiting: 20,
            timeouts_window: 1,
            ..AcquireStats::default()
        };
        let inputs = Inputs {
            redis: Some(&redis),
            purchases_last_minute: Some((6, 100)),
            server_purchases_last_minute: None,
            acquire: Some(&acquire),
            products: &products,
            ..Inputs::default()
        };
        let keys: Vec<String> = evaluate(&inputs, &Thresholds::default())
            .into_iter()
            .map(|a| a.key)
            .collect();
        assert_eq!(
            keys,
            [
                "error-rate",
                "pool-timeouts",
                "redis-slow",
                "pool-waiters",
                "low-stock-1",
                "low-stock-2"
            ]
        );
    }

    #[test]
    fn a_short_pool_queue_is_not_an_alert() {
        let acquire = AcquireStats {
            waiting: 19,
            ..AcquireStats::default()
        };
        let inputs = Inputs {
            redis: None,
            purchases_last_minute: None,
            server_purchases_last_minute: None,
            acquire: Some(&acquire),
            products: &[],
            server: None,
            database_error: None,
            oversold: &[],
            replicas: &[],
        };
        assert!(evaluate(&inputs, &Thresholds::default()).is_empty());
    }

    #[test]
    fn thresholds_are_configurable() {
        let products = [product(1, 9)];
        let t = Thresholds {
            low_stock: 10,
            ..Thresholds::default()
        };
        let inputs = Inputs {
            products: &products,
            ..Inputs::default()
        };
        let alerts = evaluate(&inputs, &t);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].message, "low stock: P1 has 9 left");
    }

    #[test]
    fn what_the_server_reports_down_is_critical() {
        let dep = |status: &str| flashsale_api::Dependency {
            status: status.into(),
            latency_ms: None,
            error: None,
        };
        let health = flashsale_api::Health {
            success: false,
            message: "unhealthy: redis down".into(),
            database: dep("up"),
            redis: dep("down"),
            rate_limit_on_redis_down: "fail-open".into(),
            strategy: "batched".into(),
        };
        let inputs = Inputs {
            server: Some(&health),
            ..Inputs::default()
        };
        let alerts = evaluate(&inputs, &Thresholds::default());
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].severity, Severity::Critical);
        assert_eq!(alerts[0].message, "the server reports Redis down");
        let healthy = flashsale_api::Health {
            redis: dep("not configured"),
            ..health
        };
        let inputs = Inputs {
            server: Some(&healthy),
            ..Inputs::default()
        };
        assert!(evaluate(&inputs, &Thresholds::default()).is_empty());
    }

    fn error_rate(inputs: &Inputs<'_>) -> Option<String> {
        evaluate(inputs, &Thresholds::default())
            .into_iter()
            .find(|a| a.key == "error-rate")
            .map(|a| a.message)
    }

    #[test]
    fn the_error_rate_says_whose_purchases_it_counts() {
        let local = Inputs {
            purchases_last_minute: Some((7, 100)),
            ..Inputs::default()
        };
        assert_eq!(
            error_rate(&local).as_deref(),
            Some("purchase errors 7.0% over the last minute (bursts fired here; above 5%)")
        );
        let server = Inputs {
            server_purchases_last_minute: Some((12, 200)),
            ..Inputs::default()
        };
        assert_eq!(
            error_rate(&server).as_deref(),
            Some("purchase errors 6.0% over the last minute (the server's purchases; above 5%)")
        );
        // At the threshold is not above it; no purchases is no rate.
        let at = Inputs {
            server_purchases_last_minute: Some((5, 100)),
            purchases_last_minute: Some((0, 0)),
            ..Inputs::default()
        };
        assert_eq!(error_rate(&at), None);
    }

    #[test]
    fn the_two_views_are_never_added_the_worse_one_alerts() {
        // A burst of 100 with no errors, all of which the server counted too, beside 100 of
        // other clients' with 12 errors: the server's rate is 12/200 = 6%. Adding the two
        // views (12/300 = 4%) would count the burst twice and hide the alert.
        let both = Inputs {
            purchases_last_minute: Some((0, 100)),
            server_purchases_last_minute: Some((12, 200)),
            ..Inputs::default()
        };
        assert_eq!(
            error_rate(&both).as_deref(),
            Some("purchase errors 6.0% over the last minute (the server's purchases; above 5%)")
        );
        // Our buyers saw refused connections the server never counted: ours is the worse.
        let ours_worse = Inputs {
            purchases_last_minute: Some((30, 100)),
            server_purchases_last_minute: Some((1, 1_000)),
            ..Inputs::default()
        };
        assert!(
            error_rate(&ours_worse)
                .is_some_and(|m| m.contains("30.0%") && m.contains("bursts fired here"))
        );
    }

    #[test]
    fn a_database_that_gives_no_data_is_the_first_critical_alert() {
        let products = [product(1, 0)];
        let inputs = Inputs {
            products: &products,
            database_error: Some("database unreachable: connection refused by 127.0.0.1:1"),
            ..Inputs::default()
        };
        let alerts = evaluate(&inputs, &Thresholds::default());
        assert_eq!(alerts[0].key, "database-down");
        assert_eq!(alerts[0].severity, Severity::Critical);
        assert_eq!(
            alerts[0].message,
            "database unreachable: connection refused by 127.0.0.1:1"
        );
    }

    #[test]
    fn an_oversell_is_the_top_alert_above_a_dead_database() {
        let products = [product(3, 0)];
        let found = crate::oversells::Oversell {
            database: "db".into(),
            product_id: 3,
            product_name: "P3".into(),
            oversold: 9,
            lost_updates: 0,
            at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        };
        let inputs = Inputs {
            products: &products,
            database_error: Some("database unreachable: connection refused by 127.0.0.1:1"),
            oversold: std::slice::from_ref(&found),
            ..Inputs::default()
        };
        let keys: Vec<String> = evaluate(&inputs, &Thresholds::default())
            .into_iter()
            .map(|a| a.key)
            .collect();
        assert_eq!(keys, ["oversold-3", "database-down", "low-stock-3"]);
    }

    #[test]
    fn each_alert_says_what_is_true_once_it_clears() {
        let products = [product(1, 0)];
        let inputs = Inputs {
            products: &products,
            purchases_last_minute: Some((7, 100)),
            ..Inputs::default()
        };
        let cleared: Vec<String> = evaluate(&inputs, &Thresholds::default())
            .into_iter()
            .map(|a| a.cleared)
            .collect();
        assert_eq!(
            cleared,
            [
                "purchase errors no longer above 5% over the last minute",
                "P1 has 5 or more in stock"
            ]
        );
    }
}
