//! Faults under HTTP: Redis stopped in the middle of a burst (fail-open and fail-closed, with
//! recovery), and shutdown on a signal that lets in-flight purchases finish.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use flashsale_client::ApiClient;
use flashsale_core::config::{LimitSettings, UnavailablePolicy};
use flashsale_core::purchase::{Outcome, PurchaseRequest, Purchaser};
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::redact::SecretUrl;
use flashsale_core::strategy::{RaceHook, Strategy};
use flashsale_server::ServerConfig;
use futures::stream::{self, StreamExt};
use reqwest::StatusCode;

use crate::support::http::{ServeProcess, TestServer, config, raw};
use crate::support::{RedisServer, TestDb, TestSqlite};

/// A hang guard, not a performance figure: the Redis timeout is 200 ms.
const HANG_GUARD: Duration = Duration::from_secs(5);

fn settings(policy: UnavailablePolicy) -> LimitSettings {
    LimitSettings {
        user_max: 1000,
        ip_max: 1000,
        on_unavailable: policy,
        redis_timeout: Duration::from_millis(200),
        ..LimitSettings::default()
    }
}

async fn server_on_private_redis(policy: UnavailablePolicy) -> (TestDb, TestServer, RedisServer) {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(1, 1000).await.expect("restock");
    let redis = RedisServer::start();
    let limiter =
        RateLimiter::new(settings(policy), Some(&SecretUrl::new(redis.url()))).expect("limiter");
    let s = TestServer::start(Purchaser::new(store, limiter, 10), config()).await;
    (db, s, redis)
}

fn buyer(i: u32) -> (String, IpAddr) {
    (
        format!("rf_{i}"),
        IpAddr::from([10, 30, (i / 250) as u8, (i % 250) as u8]),
    )
}

/// `n` purchases from `first` on, 16 at a time; each with its own elapsed time.
async fn burst(client: &ApiClient, first: u32, n: u32) -> Vec<(Outcome, Duration)> {
    stream::iter(first..first + n)
        .map(|i| {
            let client = client.clone();
            async move {
                let (user, ip) = buyer(i);
                let start = Instant::now();
                let outcome = client
                    .purchase(&PurchaseRequest {
                        product_id: 1,
                        user_id: &user,
                        client_ip: ip,
                        quantity: 1,
                        strategy: Strategy::Atomic,
                    })
                    .await;
                (outcome, start.elapsed())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

async fn health(url: &str) -> (StatusCode, serde_json::Value) {
    let res = raw()
        .get(format!("{url}/api/health"))
        .send()
        .await
        .expect("health");
    let status = res.status();
    let body = serde_json::from_str(&res.text().await.expect("text")).expect("json");
    (status, body)
}

#[tokio::test]
async fn redis_stopped_mid_burst_fails_open_without_hanging_and_recovers() {
    let (_db, s, mut redis) = server_on_private_redis(UnavailablePolicy::FailOpen).await;
    let client = ApiClient::new(&s.url, 16, Duration::from_secs(10)).expect("client");
    let before = burst(&client, 0, 50).await;
    assert!(
        before
            .iter()
            .all(|(o, _)| matches!(o, Outcome::Purchased(_)))
    );
    let during = tokio::spawn({
        let client = client.clone();
        async move { burst(&client, 50, 150).await }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    redis.stop();
    let during = tokio::time::timeout(Duration::from_secs(60), during)
        .await
        .expect("the burst ends")
        .expect("burst task");
    for (outcome, elapsed) in &during {
        assert!(
            matches!(outcome, Outcome::Purchased(_)),
            "fail-open sells without limiting: {outcome:?}"
        );
        assert!(*elapsed < HANG_GUARD, "a request took {elapsed:?}");
    }
    let (status, body) = health(&s.url).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["success"], false);
    assert_eq!(body["redis"]["status"], "down");
    assert_eq!(body["database"]["status"], "up");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("redis")),
        "{body}"
    );

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while health(&s.url).await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "health recovers with Redis");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Counting again: a purchase after recovery leaves its window in the restarted Redis.
    let mut conn = redis::Client::open(redis.url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 1000;
    loop {
        let (outcome, _) = burst(&client, i, 1).await.remove(0);
        assert!(matches!(outcome, Outcome::Purchased(_)), "{outcome:?}");
        let count: Option<i64> = redis::cmd("GET")
            .arg(format!("rate_limit:user:{}", buyer(i).0))
            .query_async(&mut conn)
            .await
            .expect("get");
        if count == Some(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the limiter counts again after recovery"
        );
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn redis_stopped_under_fail_closed_refuses_with_503_then_recovers() {
    let (_db, s, mut redis) = server_on_private_redis(UnavailablePolicy::FailClosed).await;
    redis.stop();
    for i in 0..5 {
        let start = Instant::now();
        let res = raw()
            .post(format!("{}/api/purchase", s.url))
            .header("content-type", "application/json")
            .body(format!(r#"{{"productId":1,"userId":"closed{i}"}}"#))
            .send()
            .await
            .expect("request");
        assert!(start.elapsed() < HANG_GUARD, "took {:?}", start.elapsed());
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.headers().contains_key("retry-after"));
        let body: serde_json::Value =
            serde_json::from_str(&res.text().await.expect("text")).expect("json");
        assert_eq!(body["success"], false);
    }
    let ready = raw()
        .get(format!("{}/api/ready", s.url))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    redis.restart();
    let client = s.client();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 0;
    loop {
        let (outcome, _) = burst(&client, 2000 + i, 1).await.remove(0);
        if matches!(outcome, Outcome::Purchased(_)) {
            break;
        }
        assert!(matches!(outcome, Outcome::Busy(_)), "{outcome:?}");
        assert!(Instant::now() < deadline, "sales resume when Redis is back");
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_purchase_finish_and_stops_accepting() {
    let (_db, store) = TestDb::seeded().await;
    // The naive strategy's race hook holds the purchase between its read and its write.
    let purchaser = Purchaser::with_race_hook(
        store.clone(),
        RateLimiter::off(),
        10,
        RaceHook::Delay(Duration::from_millis(800)),
    );
    let mut s = TestServer::start(
        purchaser,
        ServerConfig {
            strategy: Strategy::Naive,
            ..config()
        },
    )
    .await;
    let before = store.max_order_id().await.expect("max");
    let client = s.client();
    let in_flight = tokio::spawn(async move {
        client
            .purchase(&PurchaseRequest {
                product_id: 1,
                user_id: "last_buyer",
                client_ip: IpAddr::from([10, 40, 0, 1]),
                quantity: 1,
                strategy: Strategy::Naive,
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    s.trigger_shutdown();
    let served = s.take_handle();
    let outcome = in_flight.await.expect("request task");
    let Outcome::Purchased(order) = outcome else {
        panic!("the in-flight purchase finished: {outcome:?}");
    };
    assert!(order.id > before);
    tokio::time::timeout(Duration::from_secs(30), served)
        .await
        .expect("server stops")
        .expect("server task")
        .expect("clean exit");
    assert!(
        tokio::net::TcpStream::connect(s.addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn serve_exits_0_on_sigterm() {
    let lite = TestSqlite {
        dir: tempfile::tempdir().expect("tmp"),
    };
    let home = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", lite.path().display());
    let mut p = ServeProcess::start(home.path(), &[("DATABASE_URL", url.as_str())]);
    let client = ApiClient::new(&p.url, 2, Duration::from_secs(10)).expect("client");
    let outcome = client
        .purchase(&PurchaseRequest {
            product_id: 2,
            user_id: "sig",
            client_ip: IpAddr::from([127, 0, 0, 1]),
            quantity: 1,
            strategy: Strategy::Atomic,
        })
        .await;
    assert!(matches!(outcome, Outcome::Purchased(_)), "{outcome:?}");
    let status = p
        .terminate(Duration::from_secs(30))
        .expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
}
