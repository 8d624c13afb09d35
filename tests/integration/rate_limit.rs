//! Rate limiting through the purchase module: Redis (real server, own key prefix) and the
//! in-process limiter, windows, TTLs, and what happens when Redis is down.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use flashsale_core::config::{LimitSettings, UnavailablePolicy};
use flashsale_core::purchase::{Outcome, PurchaseRequest, Purchaser, Receipt};
use flashsale_core::ratelimit::{LimitNote, RateLimiter, Scope};
use flashsale_core::redact::SecretUrl;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;
use redis::AsyncCommands;

use crate::support::{RedisServer, TestRedis, TestSqlite};

const LAPTOP: i64 = 1; // stock 100: never the reason for a refusal here

fn ip(n: u8) -> IpAddr {
    IpAddr::from([192, 168, 7, n])
}

async fn buy(p: &Purchaser, user: &str, ip: IpAddr) -> Receipt {
    p.purchase(PurchaseRequest {
        product_id: LAPTOP,
        user_id: user,
        client_ip: ip,
        quantity: 1,
        strategy: Strategy::Atomic,
    })
    .await
}

async fn store() -> (TestSqlite, Store) {
    TestSqlite::seeded().await
}

#[tokio::test]
async fn sixth_purchase_of_a_user_is_refused_with_retry_after_redis() {
    let (_db, store) = store().await;
    let redis = TestRedis::new().await;
    let p = Purchaser::new(store, redis.limiter(redis.settings()), 10);
    for i in 0..5 {
        let r = buy(&p, "alice", ip(i)).await;
        assert!(
            matches!(r.outcome, Outcome::Purchased(_)),
            "attempt {i}: {r:?}"
        );
    }
    match buy(&p, "alice", ip(9)).await.outcome {
        Outcome::RateLimited {
            scope: Scope::User,
            limit: 5,
            retry_after,
        } => {
            assert!(
                retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60),
                "{retry_after:?}"
            );
        }
        other => panic!("expected the user limit, got {other:?}"),
    }
}

#[tokio::test]
async fn eleventh_purchase_from_one_ip_is_refused_redis() {
    let (_db, store) = store().await;
    let redis = TestRedis::new().await;
    let p = Purchaser::new(store, redis.limiter(redis.settings()), 10);
    for i in 0..10 {
        let r = buy(&p, &format!("buyer{i}"), ip(1)).await;
        assert!(
            matches!(r.outcome, Outcome::Purchased(_)),
            "attempt {i}: {r:?}"
        );
    }
    assert!(matches!(
        buy(&p, "buyer10", ip(1)).await.outcome,
        Outcome::RateLimited {
            scope: Scope::Ip,
            limit: 10,
            ..
        }
    ));
    assert!(matches!(
        buy(&p, "buyer10", ip(2)).await.outcome,
        Outcome::Purchased(_)
    ));
}

#[tokio::test]
async fn windows_reset_after_their_length_redis() {
    let (_db, store) = store().await;
    let redis = TestRedis::new().await;
    let settings = LimitSettings {
        user_max: 1,
        window: Duration::from_millis(300),
        ..redis.settings()
    };
    let p = Purchaser::new(store, redis.limiter(settings), 10);
    assert!(matches!(
        buy(&p, "carol", ip(1)).await.outcome,
        Outcome::Purchased(_)
    ));
    assert!(matches!(
        buy(&p, "carol", ip(1)).await.outcome,
        Outcome::RateLimited { .. }
    ));
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(matches!(
        buy(&p, "carol", ip(1)).await.outcome,
        Outcome::Purchased(_)
    ));
}

#[tokio::test]
async fn keys_always_carry_a_ttl_and_keep_the_reference_names() {
    let (_db, store) = store().await;
    let redis = TestRedis::new().await;
    let p = Purchaser::new(store, redis.limiter(redis.settings()), 10);
    buy(&p, "dave", ip(3)).await;
    let mut conn = redis.conn().await;
    for key in [
        format!("{}rate_limit:user:dave", redis.prefix),
        format!("{}rate_limit:ip:{}", redis.prefix, ip(3)),
    ] {
        let count: i64 = conn.get(&key).await.expect("get");
        let ttl: i64 = conn.pttl(&key).await.expect("pttl");
        assert_eq!(count, 1, "{key}");
        assert!(ttl > 0 && ttl <= 60_000, "{key} has ttl {ttl}");
    }
    // A counter left without a TTL (the reference system's INCR-then-EXPIRE bug) is healed on
    // the next check instead of locking its user out for good.
    let stuck = format!("{}rate_limit:user:erin", redis.prefix);
    let _: () = conn.set(&stuck, 99).await.expect("set");
    let r = buy(&p, "erin", ip(4)).await;
    assert!(matches!(
        r.outcome,
        Outcome::RateLimited {
            scope: Scope::User,
            ..
        }
    ));
    let ttl: i64 = conn.pttl(&stuck).await.expect("pttl");
    assert!(ttl > 0, "stuck key healed, ttl {ttl}");
}

#[tokio::test]
async fn refused_attempts_do_not_use_up_the_other_window() {
    let (_db, store) = store().await;
    let redis = TestRedis::new().await;
    let settings = LimitSettings {
        user_max: 1,
        ..redis.settings()
    };
    let p = Purchaser::new(store, redis.limiter(settings), 10);
    buy(&p, "frank", ip(5)).await;
    for _ in 0..20 {
        assert!(matches!(
            buy(&p, "frank", ip(5)).await.outcome,
            Outcome::RateLimited {
                scope: Scope::User,
                ..
            }
        ));
    }
    let mut conn = redis.conn().await;
    let ip_count: i64 = conn
        .get(format!("{}rate_limit:ip:{}", redis.prefix, ip(5)))
        .await
        .expect("get");
    assert_eq!(ip_count, 1);
}

#[tokio::test]
async fn in_process_limiter_has_the_same_limits() {
    let (_db, store) = store().await;
    let p = Purchaser::new(
        store,
        RateLimiter::new(LimitSettings::default(), None).expect("memory"),
        10,
    );
    for i in 0..5 {
        assert!(matches!(
            buy(&p, "gina", ip(i)).await.outcome,
            Outcome::Purchased(_)
        ));
    }
    assert!(matches!(
        buy(&p, "gina", ip(50)).await.outcome,
        Outcome::RateLimited {
            scope: Scope::User,
            limit: 5,
            ..
        }
    ));
    for i in 0..9 {
        assert!(matches!(
            buy(&p, &format!("h{i}"), ip(60)).await.outcome,
            Outcome::Purchased(_)
        ));
    }
    assert!(matches!(
        buy(&p, "h9", ip(60)).await.outcome,
        Outcome::Purchased(_)
    ));
    assert!(matches!(
        buy(&p, "h10", ip(60)).await.outcome,
        Outcome::RateLimited {
            scope: Scope::Ip,
            limit: 10,
            ..
        }
    ));
}

async fn with_redis_down(policy: UnavailablePolicy) -> (Receipt, Duration) {
    let (_db, store) = store().await;
    let mut server = RedisServer::start();
    let settings = LimitSettings {
        on_unavailable: policy,
        redis_timeout: Duration::from_millis(200),
        ..LimitSettings::default()
    };
    let limiter = RateLimiter::new(settings, Some(&SecretUrl::new(server.url()))).expect("limiter");
    let p = Purchaser::new(store, limiter, 10);
    let first = buy(&p, "ivan", ip(1)).await;
    assert!(
        matches!(first.limit, Some(LimitNote::Checked { .. })),
        "redis up: {first:?}"
    );
    server.stop();
    let start = Instant::now();
    let receipt = buy(&p, "ivan", ip(1)).await;
    (receipt, start.elapsed())
}

#[tokio::test]
async fn redis_down_fails_open_and_says_so() {
    let (receipt, elapsed) = with_redis_down(UnavailablePolicy::FailOpen).await;
    assert!(
        matches!(receipt.outcome, Outcome::Purchased(_)),
        "{receipt:?}"
    );
    assert!(
        matches!(receipt.limit, Some(LimitNote::FailedOpen { .. })),
        "{receipt:?}"
    );
    // A hang guard, not a performance figure: the 200 ms timeout bounds the wait.
    assert!(elapsed < Duration::from_secs(3), "waited {elapsed:?}");
}

#[tokio::test]
async fn redis_down_fails_closed_when_configured() {
    let (receipt, elapsed) = with_redis_down(UnavailablePolicy::FailClosed).await;
    match &receipt.outcome {
        Outcome::Busy(reason) => assert!(reason.contains("fail-closed"), "{reason}"),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(
        matches!(receipt.limit, Some(LimitNote::FailedClosed { .. })),
        "the receipt says the policy refused it: {receipt:?}"
    );
    assert_eq!(
        receipt
            .to_json()
            .rate_limit
            .map(|n| serde_json::to_value(n).expect("json")["status"].clone()),
        Some(serde_json::json!("failed-closed"))
    );
    assert!(elapsed < Duration::from_secs(3), "waited {elapsed:?}");
}

#[tokio::test]
async fn limiter_recovers_when_redis_comes_back() {
    let (_db, store) = store().await;
    let mut server = RedisServer::start();
    let settings = LimitSettings {
        redis_timeout: Duration::from_millis(200),
        ..LimitSettings::default()
    };
    let limiter = RateLimiter::new(settings, Some(&SecretUrl::new(server.url()))).expect("limiter");
    let p = Purchaser::new(store, limiter, 10);
    server.stop();
    let down = buy(&p, "judy", ip(1)).await;
    assert!(
        matches!(down.limit, Some(LimitNote::FailedOpen { .. })),
        "{down:?}"
    );
    server.restart();
    let mut checked = false;
    for _ in 0..50 {
        let r = buy(&p, &format!("judy{}", rand_suffix()), ip(2)).await;
        if matches!(r.limit, Some(LimitNote::Checked { .. })) {
            checked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(checked, "the limiter reconnects by itself within 5 s");
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}
