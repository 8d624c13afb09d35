//! The drain after a shutdown signal: `/api/ready` answers 503 at once while every other
//! request is still served (each answer closing its connection), then the listener closes
//! and `serve` exits 0; a second signal cuts the drain short. In process and as the real
//! binary under SIGTERM.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use flashsale_client::ApiClient;
use flashsale_core::purchase::{Outcome, PurchaseRequest};
use flashsale_core::strategy::Strategy;
use reqwest::StatusCode;

use crate::support::http::{ServeProcess, TestServer, config, raw};
use crate::support::{TestDb, TestSqlite, unlimited};

fn req(user: &str) -> PurchaseRequest<'_> {
    PurchaseRequest {
        product_id: 2,
        user_id: user,
        client_ip: IpAddr::from([127, 0, 0, 1]),
        quantity: 1,
        strategy: Strategy::Atomic,
    }
}

async fn ready(url: &str) -> StatusCode {
    raw()
        .get(format!("{url}/api/ready"))
        .send()
        .await
        .expect("ready")
        .status()
}

#[tokio::test]
async fn http_drain_keeps_serving_while_ready_says_503_then_closes_the_listener() {
    let (_db, store) = TestDb::seeded().await;
    let mut s = TestServer::start(
        unlimited(&store),
        flashsale_server::ServerConfig {
            shutdown_drain: Duration::from_millis(1_500),
            ..config()
        },
    )
    .await;
    assert_eq!(ready(&s.url).await, StatusCode::OK);
    let handle = s.take_handle();
    let signalled = Instant::now();
    s.trigger_shutdown();
    // The drain starts as the shutdown is seen; ask until it shows.
    let mut status = ready(&s.url).await;
    for _ in 0..50 {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        status = ready(&s.url).await;
    }
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "not ready once draining"
    );
    let res = raw()
        .post(format!("{}/api/purchase", s.url))
        .header("content-type", "application/json")
        .body(r#"{"productId":2,"userId":"drainer"}"#)
        .send()
        .await
        .expect("a purchase while draining");
    assert_eq!(res.status(), StatusCode::OK, "still served while draining");
    assert_eq!(
        res.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "each answer closes its connection while draining"
    );
    let outcome = s.client().purchase(&req("drainer2")).await;
    assert!(matches!(outcome, Outcome::Purchased(_)), "{outcome:?}");
    let health = raw()
        .get(format!("{}/api/health", s.url))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::OK, "alive while draining");
    tokio::time::timeout(Duration::from_secs(30), handle)
        .await
        .expect("stops after the drain")
        .expect("server task")
        .expect("run");
    let stopped = signalled.elapsed();
    assert!(
        std::net::TcpStream::connect(s.addr).is_err(),
        "the listener is closed after the drain"
    );
    println!("drain of 1.5 s: run returned {stopped:?} after the shutdown signal");
}

/// The real binary: SIGTERM, then `/api/ready` 503 and purchases served for
/// `SHUTDOWN_DRAIN_MS`; exit 0. With a drain of ten minutes, a second SIGTERM ends it.
#[tokio::test]
async fn serve_drains_on_sigterm_and_a_second_sigterm_stops_it_now() {
    let lite = TestSqlite {
        dir: tempfile::tempdir().expect("tmp"),
    };
    let url = format!("sqlite://{}", lite.path().display());
    for (drain_ms, signals) in [("1500", 1), ("600000", 2)] {
        let home = tempfile::tempdir().expect("tmp");
        let mut p = ServeProcess::start(
            home.path(),
            &[
                ("DATABASE_URL", url.as_str()),
                ("SHUTDOWN_DRAIN_MS", drain_ms),
            ],
        );
        let client = ApiClient::new(&p.url, 2, Duration::from_secs(10)).expect("client");
        assert_eq!(ready(&p.url).await, StatusCode::OK);
        let term = || {
            std::process::Command::new("kill")
                .args(["-TERM", &p.pid().to_string()])
                .status()
                .expect("kill -TERM")
        };
        assert!(term().success());
        let mut status = ready(&p.url).await;
        for _ in 0..100 {
            if status == StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            status = ready(&p.url).await;
        }
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "drain {drain_ms} ms: not ready after SIGTERM"
        );
        let outcome = client.purchase(&req(&format!("term{drain_ms}"))).await;
        assert!(
            matches!(outcome, Outcome::Purchased(_)),
            "drain {drain_ms} ms: served while draining: {outcome:?}"
        );
        let started = Instant::now();
        let status = if signals == 2 {
            p.terminate(Duration::from_secs(60))
        } else {
            p.wait_exit(Duration::from_secs(60))
        };
        let status = status.unwrap_or_else(|| panic!("drain {drain_ms} ms: serve did not exit"));
        assert_eq!(status.code(), Some(0), "drain {drain_ms} ms: {status:?}");
        println!(
            "SHUTDOWN_DRAIN_MS={drain_ms}, {signals} SIGTERM: exited {:?} after the last check",
            started.elapsed()
        );
    }
}
