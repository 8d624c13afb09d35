//! The rules against hand-made inputs: each fires at its threshold and says what it saw.

use super::*;
use crate::read_replica::{ReadReplicaSnapshot, ReadsFrom};

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
        read_replica: None,
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

fn replica(lag_ms: Option<u64>, in_recovery: bool, error: Option<&str>) -> ReadReplicaSnapshot {
    ReadReplicaSnapshot {
        url: "postgres://u:***@replica/sale".into(),
        reads_from: if error.is_some() {
            ReadsFrom::Primary
        } else {
            ReadsFrom::Replica
        },
        in_recovery: error.is_none().then_some(in_recovery),
        lag_bytes: lag_ms.map(|_| 4_096),
        lag_ms,
        primary_error: None,
        down_since: None,
        error: error.map(str::to_string),
    }
}

fn replica_alerts(r: &ReadReplicaSnapshot, t: &Thresholds) -> Vec<Alert> {
    let inputs = Inputs {
        read_replica: Some(r),
        ..Inputs::default()
    };
    evaluate(&inputs, t)
}

#[test]
fn a_read_replica_behind_by_more_than_the_threshold_is_a_warning_saying_how_far() {
    let t = Thresholds {
        replica_lag_ms: 2_000,
        ..Thresholds::default()
    };
    assert!(replica_alerts(&replica(Some(2_000), true, None), &t).is_empty());
    // Behind by an unknown time (nothing replayed since it started): no figure to alert on.
    assert!(replica_alerts(&replica(None, true, None), &t).is_empty());
    let a = replica_alerts(&replica(Some(7_250), true, None), &t);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].key, "read-replica-lag");
    assert_eq!(a[0].severity, Severity::Warning);
    assert_eq!(a[0].message, "read replica 7.2 s behind (above 2.0 s)");
}

#[test]
fn a_read_replica_down_or_no_standby_is_a_warning_and_down_says_the_primary_is_read() {
    let t = Thresholds::default();
    let down = replica_alerts(&replica(None, true, Some("database unreachable")), &t);
    assert_eq!(down.len(), 1);
    assert_eq!(down[0].key, "read-replica-down");
    assert_eq!(
        down[0].message,
        "read replica down, reading the primary: database unreachable"
    );
    let promoted = replica_alerts(&replica(Some(0), false, None), &t);
    assert_eq!(promoted[0].key, "read-replica-not-standby");
}
