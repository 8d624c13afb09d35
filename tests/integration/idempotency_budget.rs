//! Keyed purchases buy first and look their key up only when it is taken: a replay must still
//! cost no rate-limit budget (the count its check took is given back, in Redis, on a Redis
//! Cluster and in process),
//! a retry the limiter refuses must still get its recorded answer, and a retried sold-out must
//! replay whichever way it reaches its record (the purchase's taken key, or the outcome's).

use std::net::IpAddr;

use flashsale_core::config::LimitSettings;
use flashsale_core::purchase::{IdempotencyKey, KeyReused, Outcome, Purchaser};
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::redact::SecretUrl;
use flashsale_core::strategy::Strategy;
use rstest::rstest;

use crate::idempotency::{MOUSE, req};
use crate::support::redis_cluster::RedisCluster;
use crate::support::{Engine, TestRedis, seeded, unlimited};

#[derive(Debug, Clone, Copy)]
enum Limits {
    InProcess,
    Redis,
    /// A user's window and an IP's on different masters: each given back by its own call.
    Cluster,
}

const IP: [u8; 4] = [127, 0, 0, 1];

async fn buy(p: &Purchaser, user: &str, key: &str, strategy: Strategy) -> (Outcome, bool) {
    let key = IdempotencyKey::parse(key).expect("key");
    let r = p
        .purchase_idempotent(req(user, 1, strategy), &key)
        .await
        .expect("same request");
    (r.receipt.outcome, r.replayed)
}

async fn used(limiter: &RateLimiter, user: &str) -> (u32, u32) {
    let w = limiter
        .windows(user, Some(IpAddr::from(IP)))
        .await
        .expect("windows")
        .expect("limiting on");
    (w.user.count, w.ip.expect("ip window").1.count)
}

#[rstest]
#[case::in_process_batched(Limits::InProcess, Strategy::Batched)]
#[case::redis_batched(Limits::Redis, Strategy::Batched)]
#[case::redis_atomic(Limits::Redis, Strategy::Atomic)]
#[case::redis_row_lock(Limits::Redis, Strategy::RowLock)]
#[case::redis_cluster_batched(Limits::Cluster, Strategy::Batched)]
#[tokio::test]
async fn replays_cost_no_budget_and_a_refused_retry_still_gets_its_order(
    #[case] limits: Limits,
    #[case] strategy: Strategy,
) {
    let (_held, store) = seeded(Engine::Postgres).await;
    let redis = TestRedis::new().await;
    let settings = LimitSettings {
        user_max: 2,
        ..redis.settings()
    };
    let cluster = matches!(limits, Limits::Cluster).then(RedisCluster::start);
    let limiter = match (limits, &cluster) {
        (Limits::InProcess, _) => RateLimiter::new(settings, None).expect("memory"),
        (Limits::Cluster, Some(cluster)) => {
            RateLimiter::new(settings, Some(&SecretUrl::new(cluster.url()))).expect("cluster")
        }
        _ => redis.limiter(settings),
    };
    let p = Purchaser::new(store.clone(), limiter.clone(), 10);
    let user = "budgeted";

    let (first, replayed) = buy(&p, user, "first", strategy).await;
    let Outcome::Purchased(order) = first else {
        panic!("{first:?}");
    };
    assert!(!replayed);
    assert_eq!(used(&limiter, user).await, (1, 1));
    for _ in 0..3 {
        let (again, replayed) = buy(&p, user, "first", strategy).await;
        assert!(replayed, "{again:?}");
        assert_eq!(again, Outcome::Purchased(order.clone()));
    }
    assert_eq!(
        used(&limiter, user).await,
        (1, 1),
        "the replays were given back"
    );

    let (second, _) = buy(&p, user, "second", strategy).await;
    assert!(matches!(second, Outcome::Purchased(_)), "{second:?}");
    let (third, _) = buy(&p, user, "third", strategy).await;
    assert!(matches!(third, Outcome::RateLimited { .. }), "{third:?}");
    // Refused by the limiter, the retry of an admitted request still gets that request's order.
    let (retry, replayed) = buy(&p, user, "first", strategy).await;
    assert!(replayed);
    assert_eq!(retry, Outcome::Purchased(order));
    assert_eq!(used(&limiter, user).await, (2, 2));
    // A key that was refused recorded nothing: retried, it is refused again.
    let (third_again, replayed) = buy(&p, user, "third", strategy).await;
    assert!(!replayed);
    assert!(matches!(third_again, Outcome::RateLimited { .. }));
}

#[rstest]
#[case::atomic_on_postgres(Engine::Postgres, Strategy::Atomic)]
#[case::batched_on_postgres(Engine::Postgres, Strategy::Batched)]
#[case::atomic_on_sqlite(Engine::Sqlite, Strategy::Atomic)]
#[case::batched_on_sqlite(Engine::Sqlite, Strategy::Batched)]
#[tokio::test]
async fn a_retried_sold_out_replays_before_and_after_a_restock(
    #[case] engine: Engine,
    #[case] strategy: Strategy,
) {
    let (_held, store) = seeded(engine).await;
    store.set_stock(MOUSE, 1).await.expect("restock");
    let p = unlimited(&store);
    let key = IdempotencyKey::parse("late-buyer").expect("key");
    let ask = |quantity| {
        let p = p.clone();
        let key = key.clone();
        async move {
            p.purchase_idempotent(req("late", quantity, strategy), &key)
                .await
        }
    };
    let first = ask(2).await.expect("first");
    assert_eq!(first.receipt.outcome, Outcome::SoldOut { available: 1 });
    assert!(!first.replayed);
    // Still sold out: the outcome's record is found taken and replayed.
    let again = ask(2).await.expect("retry");
    assert!(again.replayed, "{again:?}");
    // Restocked: the purchase is tried, rolls back on the taken key, and replays.
    store.set_stock(MOUSE, 10).await.expect("restock");
    let after = ask(2).await.expect("retry after restock");
    assert!(after.replayed, "{after:?}");
    assert_eq!(after.receipt.outcome, Outcome::SoldOut { available: 1 });
    assert_eq!(ask(3).await, Err(KeyReused));
    assert_eq!(store.stock(MOUSE).await.expect("stock"), Some(10));
}
