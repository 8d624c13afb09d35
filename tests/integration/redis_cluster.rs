//! The rate limiter on a real Redis Cluster (issue 13 item 1): `REDIS_URL` listing several
//! nodes is a cluster; the limits stay exact across limiters (each its own connections, as
//! processes have) although a user's key and an IP's key live on different masters; and a
//! master killed mid-storm is survived under both policies, its replica taking over, while the
//! stock invariant holds.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use flashsale_core::config::{LimitSettings, UnavailablePolicy};
use flashsale_core::purchase::{Outcome, PurchaseRequest, Purchaser};
use flashsale_core::ratelimit::{LimitNote, RateLimiter, Verdict, ip_key, user_key};
use flashsale_core::redact::SecretUrl;
use flashsale_core::strategy::Strategy;

use crate::support::bin::json_of;
use crate::support::redis_cluster::RedisCluster;
use crate::support::{TestSqlite, flashsale};

fn limiter(cluster: &RedisCluster, policy: UnavailablePolicy) -> RateLimiter {
    let settings = LimitSettings {
        on_unavailable: policy,
        // Generous: on a loaded 2-core machine a healthy check must not time out and count
        // as the failure this test looks for; a killed master refuses at once anyway.
        redis_timeout: Duration::from_millis(1_000),
        ..LimitSettings::default()
    };
    RateLimiter::new(settings, Some(&SecretUrl::new(cluster.url()))).expect("a cluster limiter")
}

fn ip(n: u8) -> IpAddr {
    IpAddr::from([10, 9, 8, n])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_are_exact_across_limiters_though_the_keys_live_on_different_masters() {
    let cluster = RedisCluster::start();
    let s = LimitSettings::default();
    let (user, shared_ip) = ("cluster-user", ip(1));
    let (ukey, ikey) = (
        user_key(&s.key_prefix, user),
        ip_key(&s.key_prefix, ip(2), 64),
    );
    assert_ne!(
        cluster.master_of(&ukey),
        cluster.master_of(&ikey),
        "the test needs the two windows on different masters"
    );
    let limiters = [
        Arc::new(limiter(&cluster, UnavailablePolicy::FailClosed)),
        Arc::new(limiter(&cluster, UnavailablePolicy::FailClosed)),
    ];
    // 40 checks of one user from 40 addresses, and 40 users from one address, all at once.
    let mut tasks = Vec::new();
    for i in 0..40u8 {
        let l = limiters[usize::from(i % 2)].clone();
        tasks.push(tokio::spawn(async move {
            ("user", l.check(user, ip(100 + i)).await)
        }));
        let l = limiters[usize::from(i % 2)].clone();
        tasks.push(tokio::spawn(async move {
            ("ip", l.check(&format!("buyer-{i}"), shared_ip).await)
        }));
    }
    let (mut by_user, mut by_ip) = (0, 0);
    for t in tasks {
        let (which, verdict) = t.await.expect("task");
        if matches!(
            verdict.expect("the cluster answers"),
            Verdict::Allowed { .. }
        ) {
            match which {
                "user" => by_user += 1,
                _ => by_ip += 1,
            }
        }
    }
    assert_eq!(by_user, s.user_max, "one user across limiters");
    assert_eq!(by_ip, s.ip_max, "one address across limiters");
    // The counts in Redis are the admitted ones: refusals counted nothing, or gave it back.
    assert_eq!(cluster.get(&ukey_for(&s, user)), s.user_max.to_string());
    assert_eq!(
        cluster.get(&ip_key(&s.key_prefix, shared_ip, s.ipv6_prefix)),
        s.ip_max.to_string()
    );
}

fn ukey_for(s: &LimitSettings, user: &str) -> String {
    user_key(&s.key_prefix, user)
}

/// A storm of purchases through the limiter on the cluster; the master holding the storm's
/// user windows is SIGKILLed halfway. Every purchase answers (the Redis timeout bounds the
/// outage's cost), what the policy says happens during the failover, limits are checked again
/// once the replica is promoted, and the store's invariant holds.
async fn storm_through_a_failover(policy: UnavailablePolicy) {
    let mut cluster = RedisCluster::start();
    let (_db, store) = TestSqlite::seeded().await;
    let purchaser = Arc::new(Purchaser::new(store.clone(), limiter(&cluster, policy), 10));
    let buy = |n: u32| {
        let p = purchaser.clone();
        async move {
            p.purchase(PurchaseRequest {
                product_id: 1,
                user_id: &format!("storm-{n}"),
                client_ip: ip((n % 200) as u8),
                quantity: 1,
                strategy: Strategy::Atomic,
            })
            .await
        }
    };
    // Stock enough that no purchase of the storm is refused for it.
    assert!(store.set_stock(1, 10_000).await.expect("restock"));
    let before = 10_000;
    let victim = cluster.master_of(&ukey_for(&LimitSettings::default(), "storm-0"));
    let mut receipts = Vec::new();
    for n in 0..60 {
        receipts.push(buy(n).await);
    }
    assert!(
        receipts
            .iter()
            .all(|r| matches!(r.limit, Some(LimitNote::Checked { .. }))),
        "before the kill every purchase is checked"
    );
    cluster.kill(victim);
    let mut during = Vec::new();
    for n in 60..120 {
        during.push(buy(n).await);
    }
    cluster.wait_failover(victim);
    let mut checked_again = false;
    for n in 120..400 {
        let r = buy(n).await;
        checked_again |= matches!(r.limit, Some(LimitNote::Checked { .. }));
        receipts.push(r);
        if checked_again {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        checked_again,
        "{policy:?}: limits are checked again after the failover"
    );
    let failed_over = during
        .iter()
        .filter(|r| {
            matches!(
                r.limit,
                Some(LimitNote::FailedOpen { .. } | LimitNote::FailedClosed { .. })
            )
        })
        .count();
    assert!(
        failed_over > 0,
        "{policy:?}: the kill was felt by some purchase"
    );
    for r in &during {
        match (&r.limit, &r.outcome, policy) {
            (
                Some(LimitNote::FailedOpen { .. }),
                Outcome::Purchased(_),
                UnavailablePolicy::FailOpen,
            )
            | (
                Some(LimitNote::FailedClosed { .. }),
                Outcome::Busy(_),
                UnavailablePolicy::FailClosed,
            )
            | (Some(LimitNote::Checked { .. }), Outcome::Purchased(_), _) => {}
            other => panic!("{policy:?}: during the failover: {other:?}"),
        }
    }
    receipts.extend(during);
    let sold = receipts
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Purchased(_)))
        .count() as i32;
    let after = store.stock(1).await.expect("read").expect("product 1");
    assert_eq!(
        before - after,
        sold,
        "{policy:?}: every sale, and only those, took stock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_mid_storm_fails_open_then_checks_again() {
    storm_through_a_failover(UnavailablePolicy::FailOpen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_mid_storm_fails_closed_then_checks_again() {
    storm_through_a_failover(UnavailablePolicy::FailClosed).await;
}

/// The Redis pane's data (`dashboard --once --json`) lists every master by its own PING and
/// `INFO`; a killed one is listed with its failure until its replica takes its slots.
#[test]
fn the_snapshot_lists_every_master_with_its_own_ping_and_info() {
    let mut cluster = RedisCluster::start();
    let home = tempfile::tempdir().expect("home");
    let snapshot = |cluster: &RedisCluster| -> serde_json::Value {
        json_of(
            flashsale(home.path())
                .args(["dashboard", "--once", "--json"])
                .env("REDIS_URL", cluster.url()),
        )
    };
    let masters = |v: &serde_json::Value| -> Vec<String> {
        v["redis"]["masters"]
            .as_array()
            .expect("masters")
            .iter()
            .map(|m| m["address"].as_str().expect("address").to_string())
            .collect()
    };
    let mut expected: Vec<String> = cluster
        .masters()
        .into_iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    expected.sort();
    let v = snapshot(&cluster);
    assert_eq!(masters(&v), expected);
    for m in v["redis"]["masters"].as_array().expect("masters") {
        assert!(m["pingMs"].as_f64().is_some(), "{m}");
        assert_eq!(
            m["info"]["version"].as_str().map(|v| v.starts_with('7')),
            Some(true),
            "{m}"
        );
        // Each master's own counters: the router's INFO would be no one node's.
        assert!(
            m["stats"]["usedMemory"].as_u64().is_some_and(|n| n > 0),
            "{m}"
        );
    }
    assert!(
        v["redis"]["stats"].is_null(),
        "per master only: {}",
        v["redis"]
    );
    assert!(v["redis"]["slowlog"].is_array(), "{}", v["redis"]);
    let victim = cluster.masters()[0];
    cluster.kill(victim);
    cluster.wait_failover(victim);
    let after = masters(&snapshot(&cluster));
    assert_eq!(after.len(), 3, "its replica took over: {after:?}");
    assert!(!after.contains(&format!("127.0.0.1:{victim}")), "{after:?}");
}
