//! The edges of the HTTP layer that a browser or a hostile client reaches: CORS for the
//! configured origins only, JSON required on the purchase, one Idempotency-Key, `Host` on
//! HTTP/1.1, JSON bodies on 408, 414 and 431, keys scoped per user, and bodies that stop
//! arriving. Every answer is JSON, never a 5xx.

use std::time::{Duration, Instant};

use flashsale_core::config::HttpSettings;
use flashsale_server::ServerConfig;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::api::{get, send};
use crate::support::http::{TestServer, config, raw};
use crate::support::{TestDb, unlimited};

const SHOP: &str = "https://shop.example";

fn edges_config() -> ServerConfig {
    ServerConfig {
        http: HttpSettings {
            cors_origins: vec![SHOP.to_string()],
            header_timeout: Duration::from_secs(2),
            body_timeout: Duration::from_millis(800),
            ..HttpSettings::default()
        },
        ..config()
    }
}

/// Writes `request` on a new connection and reads the answer until the server closes.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn json_body(answer: &str) -> serde_json::Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("head and body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
}

#[tokio::test]
async fn cors_answers_the_configured_origin_and_no_other() {
    let (_db, store) = TestDb::seeded().await;
    let s = TestServer::start(unlimited(&store), edges_config()).await;
    let preflight = |origin: &'static str| {
        raw()
            .request(reqwest::Method::OPTIONS, format!("{}/api/purchase", s.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, idempotency-key",
            )
            .send()
    };
    let ok = preflight(SHOP).await.expect("preflight");
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(ok.headers()["access-control-allow-origin"], SHOP);
    let methods = ok.headers()["access-control-allow-methods"]
        .to_str()
        .expect("ascii");
    assert!(methods.contains("POST"), "{methods}");
    let evil = preflight("https://evil.example").await.expect("preflight");
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    assert!(!evil.headers().contains_key("access-control-allow-origin"));
    let a = send(
        raw()
            .get(format!("{}/api/stock/1", s.url))
            .header("origin", SHOP),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["access-control-allow-origin"], SHOP);
    let b = send(
        raw()
            .get(format!("{}/api/stock/1", s.url))
            .header("origin", "https://evil.example"),
    )
    .await;
    assert!(!b.headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn purchases_need_json_one_key_and_keys_are_per_user() {
    let (_db, store) = TestDb::seeded().await;
    let s = TestServer::start(unlimited(&store), edges_config()).await;
    let url = format!("{}/api/purchase", s.url);
    let body = r#"{"productId":2,"userId":"plain"}"#;
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut rb = raw().post(&url).body(body);
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        let a = send(rb).await;
        assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
        assert_eq!(a.body["success"], false);
    }
    let twice = send(
        raw()
            .post(&url)
            .header("content-type", "application/json")
            .header("idempotency-key", "k-one")
            .header("idempotency-key", "k-two")
            .body(body),
    )
    .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert_eq!(twice.body["field"], "Idempotency-Key");
    // One key, two users: two purchases; the second is not a 422 against the first.
    let before = store.stock(2).await.expect("stock").expect("product");
    for user in ["alice-k", "bob-k"] {
        let a = send(
            raw()
                .post(&url)
                .header("content-type", "application/json; charset=utf-8")
                .header("idempotency-key", "shared-key-1")
                .body(format!(r#"{{"productId":2,"userId":"{user}"}}"#)),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{user}: {}", a.body);
        assert!(!a.headers.contains_key("idempotent-replayed"), "{user}");
    }
    assert_eq!(store.stock(2).await.expect("stock"), Some(before - 2));
}

#[tokio::test]
async fn malformed_heads_get_json_answers() {
    let (_db, store) = TestDb::seeded().await;
    let s = TestServer::start(unlimited(&store), edges_config()).await;
    let no_host = exchange(
        s.addr,
        b"GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(no_host.starts_with("HTTP/1.1 400"), "{no_host}");
    assert!(no_host.contains("x-response-time: "), "{no_host}");
    assert_eq!(json_body(&no_host)["success"], false);
    let long = format!(
        "GET /api/stock/{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "1".repeat(9_000)
    );
    let long = exchange(s.addr, long.as_bytes()).await;
    assert!(long.starts_with("HTTP/1.1 414"), "{long}");
    assert_eq!(json_body(&long)["success"], false);
    let big = format!(
        "GET /api/health HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(20_000)
    );
    let big = exchange(s.addr, big.as_bytes()).await;
    assert!(big.starts_with("HTTP/1.1 431"), "{big}");
    assert_eq!(json_body(&big)["success"], false);
    let lost = get(&s.url, "/api/stock/1").await;
    assert_eq!(lost.status, StatusCode::OK, "the server is whole");
}

#[tokio::test]
async fn bodies_and_heads_that_stop_arriving_are_cut_off() {
    let (_db, store) = TestDb::seeded().await;
    let s = TestServer::start(unlimited(&store), edges_config()).await;
    // A body shorter than its Content-Length: 408 with JSON once the body timeout passes.
    let started = Instant::now();
    let short = exchange(
        s.addr,
        b"POST /api/purchase HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"productId\":",
    )
    .await;
    assert!(short.starts_with("HTTP/1.1 408"), "{short}");
    assert_eq!(json_body(&short)["success"], false);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // An unfinished chunked body: the same.
    let chunked = exchange(
        s.addr,
        b"POST /api/purchase HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"pro\r\n",
    )
    .await;
    assert!(chunked.starts_with("HTTP/1.1 408"), "{chunked}");
    // A head that never ends, and a connection idle after one answer: closed by the header
    // timeout (2 s here), well before the 15 s `exchange` waits.
    for request in [
        &b"GET /api/health HTTP/1.1\r\nHost: t\r\nX-Slow: "[..],
        &b"GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n"[..],
    ] {
        let started = Instant::now();
        let _ = exchange(s.addr, request).await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "closed after {took:?}");
        assert!(
            took >= Duration::from_millis(1_500),
            "closed too soon: {took:?}"
        );
    }
}
