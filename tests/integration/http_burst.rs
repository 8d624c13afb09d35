//! 300 buyers on stock 100 through HTTP, 64 at a time: exactly 100 orders and a clean audit,
//! against one in-process server and against two real `flashsale serve` processes sharing one
//! database and one Redis.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use flashsale_client::ApiClient;
use flashsale_core::audit::{Audit, AuditScope};
use flashsale_core::purchase::{Outcome, PurchaseRequest, Purchaser};
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;
use futures::stream::{self, StreamExt};
use rstest::rstest;

use crate::support::http::{ServeProcess, TestServer, config};
use crate::support::{TestDb, TestRedis, flashsale};

const PRODUCT: i32 = 1;
const STOCK: i32 = 100;
const BUYERS: u32 = 300;
const CONCURRENCY: usize = 64;

/// Buyer `i` of a run: its own user id and its own address (sent as X-Forwarded-For).
fn buyer_ip(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
}

/// Runs the burst, spreading buyers over `targets` round-robin; returns the outcomes.
async fn burst(targets: &[ApiClient], prefix: &str) -> Vec<Outcome> {
    stream::iter(0..BUYERS)
        .map(|i| {
            let client = targets[i as usize % targets.len()].clone();
            let user = format!("{prefix}{i}");
            async move {
                client
                    .purchase(&PurchaseRequest {
                        product_id: i64::from(PRODUCT),
                        user_id: &user,
                        client_ip: buyer_ip(i),
                        quantity: 1,
                        strategy: Strategy::Atomic,
                    })
                    .await
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

async fn check(store: &Store, scope: &AuditScope, outcomes: &[Outcome]) {
    let acknowledged: Vec<i64> = outcomes
        .iter()
        .filter_map(|o| o.order().map(|o| o.id))
        .collect();
    for o in outcomes {
        assert!(
            matches!(o, Outcome::Purchased(_) | Outcome::SoldOut { .. }),
            "every buyer either bought or found it sold out: {o:?}"
        );
    }
    assert_eq!(
        acknowledged.len(),
        STOCK as usize,
        "exactly the stock was sold"
    );
    let audit = Audit::run(store, scope, &acknowledged)
        .await
        .expect("audit");
    assert!(audit.ok, "audit: {} {audit:?}", audit.verdict());
    assert_eq!(audit.stock_after, 0);
    assert_eq!(audit.units_sold, i64::from(STOCK));
}

#[rstest]
#[case::atomic(Strategy::Atomic)]
#[case::row_lock(Strategy::RowLock)]
#[tokio::test]
async fn three_hundred_http_buyers_on_stock_100_get_exactly_100(#[case] strategy: Strategy) {
    let (_db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, STOCK).await.expect("restock");
    let redis = TestRedis::new().await;
    let purchaser = Purchaser::new(store.clone(), redis.limiter(redis.settings()), 10);
    let s = TestServer::start(
        purchaser,
        flashsale_server::ServerConfig {
            strategy,
            ..config()
        },
    )
    .await;
    let prefix = format!("hb_{strategy}_");
    let scope = AuditScope::before(&store, PRODUCT, &prefix)
        .await
        .expect("scope");
    let client = ApiClient::new(&s.url, CONCURRENCY, Duration::from_secs(30)).expect("client");
    let outcomes = burst(&[client], &prefix).await;
    check(&store, &scope, &outcomes).await;
}

#[tokio::test]
async fn three_hundred_buyers_across_two_serve_processes_get_exactly_100() {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, STOCK).await.expect("restock");
    let redis = TestRedis::new().await;
    let home = tempfile::tempdir().expect("tmp");
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.url.as_str()),
        ("RATE_LIMIT_PREFIX", redis.prefix.as_str()),
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("DB_POOL_MAX", "10"),
    ];
    let a = ServeProcess::start(home.path(), &env);
    let b = ServeProcess::start(home.path(), &env);
    assert_ne!(a.url, b.url);
    let clients = [
        ApiClient::new(&a.url, CONCURRENCY, Duration::from_secs(30)).expect("client a"),
        ApiClient::new(&b.url, CONCURRENCY, Duration::from_secs(30)).expect("client b"),
    ];
    let prefix = "hb_two_";
    let scope = AuditScope::before(&store, PRODUCT, prefix)
        .await
        .expect("scope");
    let outcomes = burst(&clients, prefix).await;
    check(&store, &scope, &outcomes).await;
    let health = clients[0].health().await.expect("health");
    assert!(health.success, "{health:?}");
    assert_eq!(health.redis.status, "up");
}

/// `flashsale burst --target`: the burst engine's HTTP target, audited through the database.
fn burst_over_http(
    home: &std::path::Path,
    target: &str,
    database: Option<&str>,
) -> (Option<i32>, serde_json::Value) {
    // A home of its own beside the server's.
    let mut cmd = flashsale(&home.join("cli"));
    cmd.args([
        "burst",
        "--json",
        "--target",
        target,
        "--product",
        "1",
        "--buyers",
        "300",
        "--concurrency",
        "64",
    ]);
    if let Some(url) = database {
        cmd.args(["--database-url", url, "--restock", "100"]);
    }
    let out = cmd.output().expect("run flashsale burst");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

#[tokio::test]
async fn the_burst_engine_over_http_sells_exactly_the_stock_and_audits_it() {
    let (db, _store) = TestDb::seeded().await;
    let redis = TestRedis::new().await;
    let home = tempfile::tempdir().expect("tmp");
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.url.as_str()),
        ("RATE_LIMIT_PREFIX", redis.prefix.as_str()),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ];
    let server = ServeProcess::start(home.path(), &env);
    let (code, r) = burst_over_http(home.path(), &server.url, Some(&db.url));
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["purchased"], 100, "{r}");
    assert_eq!(r["soldOut"], 200, "{r}");
    assert_eq!(r["audit"]["ok"], true, "{r}");
    assert_eq!(r["audit"]["unitsSold"], 100);
    assert_eq!(r["target"], server.url.as_str());
    assert_eq!(
        r["strategy"], "batched",
        "the server's strategy, as its health names it: {r}"
    );

    // Without database access the burst still runs, and says it could not audit.
    let (code, r) = burst_over_http(home.path(), &server.url, None);
    assert_eq!(code, Some(0), "{r}");
    assert!(r["audit"].is_null(), "{r}");
    assert!(
        r["auditError"]
            .as_str()
            .is_some_and(|e| e.contains("no database")),
        "{r}"
    );
    assert_eq!(r["soldOut"], 300, "the stock was already sold: {r}");
}
