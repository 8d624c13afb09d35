//! The HTTP API against the reference contract, request by request: status codes, bodies and
//! headers, every malformed input a 400 naming its field, 413 over the size limit, and nothing
//! from SQL or the driver in any answer.

use flashsale_core::config::LimitSettings;
use flashsale_core::purchase::Purchaser;
use flashsale_core::ratelimit::RateLimiter;
use reqwest::StatusCode;
use rstest::rstest;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::api::{get, post, send, server};
use crate::support::http::{TestServer, config, raw};
use crate::support::json::keys;
use crate::support::{Engine, TestDb, seeded};

#[rstest]
#[case::postgres(Engine::Postgres)]
#[case::sqlite(Engine::Sqlite)]
#[tokio::test]
async fn purchases_and_reads_follow_the_reference_contract(#[case] engine: Engine) {
    let (_held, store) = seeded(engine).await;
    store.set_stock(4, 1).await.expect("restock");
    let s = server(&store).await;

    let a = post(&s.url, "10.0.0.1", r#"{"productId":4,"userId":"alice"}"#).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(keys(&a.body), ["message", "order", "success"]);
    assert_eq!(a.body["success"], true);
    assert_eq!(a.body["message"], "Purchase successful");
    let order = &a.body["order"];
    assert_eq!(
        keys(order),
        [
            "createdAt",
            "id",
            "productId",
            "productName",
            "quantity",
            "remainingStock",
            "totalPrice"
        ]
    );
    assert_eq!(order["productId"], 4);
    assert_eq!(order["productName"], "4K Monitor");
    assert_eq!(order["quantity"], 1, "quantity defaults to 1");
    assert_eq!(order["totalPrice"], 449.99);
    assert_eq!(order["remainingStock"], 0);
    assert!(
        order["createdAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let a = post(
        &s.url,
        "10.0.0.2",
        r#"{"productId":4,"userId":"bob","quantity":1}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "out of stock is a 200");
    assert_eq!(a.body["success"], false);
    assert_eq!(a.body["message"], "Out of stock");

    let a = post(&s.url, "10.0.0.3", r#"{"productId":999,"userId":"carol"}"#).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.body["success"], false);
    assert!(a.body["message"].is_string());

    let a = get(&s.url, "/api/stock/1").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, json!({"success": true, "stock": 100}));
    let a = get(&s.url, "/api/products/2").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(keys(&a.body), ["product", "success"]);
    assert_eq!(
        keys(&a.body["product"]),
        ["description", "id", "imageUrl", "name", "price", "stock"]
    );
    assert_eq!(a.body["product"]["price"], 29.99);
    for path in ["/api/stock/999", "/api/products/999"] {
        let a = get(&s.url, path).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(a.body["success"], false, "{path}");
    }
}

#[rstest]
#[case::postgres(Engine::Postgres)]
#[case::sqlite(Engine::Sqlite)]
#[tokio::test]
async fn malformed_requests_are_400_naming_the_field_and_cost_nothing(#[case] engine: Engine) {
    let (_held, store) = seeded(engine).await;
    let s = server(&store).await;
    let before = (
        store.max_order_id().await.expect("max"),
        store.stock(1).await.expect("stock"),
    );
    let long_user = format!(r#"{{"productId":1,"userId":"{}"}}"#, "u".repeat(256));
    let cases: Vec<(&str, &str)> = vec![
        ("{", "body"),
        ("", "body"),
        ("not json", "body"),
        ("[1,2]", "body"),
        (r#"{"userId":"u"}"#, "productId"),
        (r#"{"productId":"abc","userId":"u"}"#, "productId"),
        (r#"{"productId":1.5,"userId":"u"}"#, "productId"),
        (r#"{"productId":-1,"userId":"u"}"#, "productId"),
        (r#"{"productId":1}"#, "userId"),
        (r#"{"productId":1,"userId":""}"#, "userId"),
        (r#"{"productId":1,"userId":42}"#, "userId"),
        (&long_user, "userId"),
        (r#"{"productId":1,"userId":"u","quantity":0}"#, "quantity"),
        (r#"{"productId":1,"userId":"u","quantity":-5}"#, "quantity"),
        (r#"{"productId":1,"userId":"u","quantity":1.5}"#, "quantity"),
        (r#"{"productId":1,"userId":"u","quantity":"2"}"#, "quantity"),
        (r#"{"productId":1,"userId":"u","quantity":11}"#, "quantity"),
        (
            r#"{"productId":1,"userId":"u","quantity":1e30}"#,
            "quantity",
        ),
    ];
    // All from one address: twelve and more refusals must not use up its 10 purchases.
    for (body, field) in &cases {
        let a = post(&s.url, "10.1.1.1", body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {}", a.body);
        assert_eq!(a.body["success"], false, "{body}");
        assert_eq!(a.body["field"], *field, "{body}: {}", a.body);
        let message = a.body["message"].as_str().expect("message");
        if *field != "body" {
            assert!(
                message.contains(field),
                "{body}: message {message:?} names {field}"
            );
        }
    }
    for path in [
        "/api/stock/abc",
        "/api/products/abc",
        "/api/stock/0",
        "/api/products/-3",
    ] {
        let a = get(&s.url, path).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(a.body["field"], "id", "{path}");
    }
    assert_eq!(
        (
            store.max_order_id().await.expect("max"),
            store.stock(1).await.expect("stock")
        ),
        before,
        "bad requests wrote nothing"
    );
    for i in 0..10 {
        let a = post(
            &s.url,
            "10.1.1.1",
            &format!(r#"{{"productId":1,"userId":"ok{i}"}}"#),
        )
        .await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "purchase {i} after the refusals: {}",
            a.body
        );
    }
}

#[tokio::test]
async fn bodies_over_16_kib_are_413_declared_or_chunked() {
    let (_db, store) = TestDb::seeded().await;
    let s = server(&store).await;
    let orders_before = store.max_order_id().await.expect("max");
    let big = format!(
        r#"{{"productId":1,"userId":"u","pad":"{}"}}"#,
        "x".repeat(20 * 1024)
    );
    let a = post(&s.url, "10.2.2.2", &big).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.body["success"], false);

    // Chunked: no Content-Length to refuse up front; the limit must stop the read itself.
    let mut tcp = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let head = "POST /api/purchase HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.expect("head");
    let chunk = format!("1000\r\n{}\r\n", "y".repeat(4096));
    for _ in 0..6 {
        if tcp.write_all(chunk.as_bytes()).await.is_err() {
            break; // the server may answer and close before reading it all
        }
    }
    let _ = tcp.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut response),
    )
    .await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains(r#""success":false"#), "{text}");
    assert_eq!(
        store.max_order_id().await.expect("max"),
        orders_before,
        "nothing written"
    );
}

#[tokio::test]
async fn the_sixth_purchase_of_a_user_is_429_with_retry_headers() {
    let (_db, store) = TestDb::seeded().await;
    let s = server(&store).await;
    for i in 0..5 {
        let a = post(
            &s.url,
            &format!("10.3.0.{i}"),
            r#"{"productId":1,"userId":"greedy"}"#,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{i}");
    }
    let a = post(&s.url, "10.3.0.9", r#"{"productId":1,"userId":"greedy"}"#).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.body["success"], false);
    assert!(a.body["message"].is_string());
    let header = |name: &str| {
        a.headers
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .to_str()
            .expect("text")
            .to_string()
    };
    let retry: u64 = header("retry-after").parse().expect("whole seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(header("x-ratelimit-limit"), "5");
    assert_eq!(header("x-ratelimit-remaining"), "0");
    assert_eq!(header("x-ratelimit-scope"), "user");
}

#[tokio::test]
async fn admin_stats_has_the_reference_shape_without_sql() {
    let (_db, store) = TestDb::seeded().await;
    let s = server(&store).await;
    let a = get(&s.url, "/api/admin/stats").await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "loopback listener, no token: allowed"
    );
    assert_eq!(keys(&a.body), ["data", "meta", "success"]);
    assert_eq!(
        keys(&a.body["data"]),
        [
            "revenueByDay",
            "topProducts",
            "totalRevenue",
            "totalUnitsSold"
        ]
    );
    assert_eq!(a.body["data"]["totalUnitsSold"], 14);
    assert_eq!(
        keys(&a.body["data"]["topProducts"][0]),
        ["id", "name", "totalSold"]
    );
    assert_eq!(
        keys(&a.body["data"]["revenueByDay"][0]),
        ["date", "revenue"]
    );
    assert_eq!(keys(&a.body["meta"]), ["queryTimeMs"], "no SQL in meta");
}

#[tokio::test]
async fn health_ready_and_unknown_routes_answer_json() {
    let (_db, store) = TestDb::seeded().await;
    let s = server(&store).await;
    let a = get(&s.url, "/api/health").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["success"], true);
    assert_eq!(a.body["database"]["status"], "up");
    assert_eq!(a.body["redis"]["status"], "not configured");
    // The reference's documented fields, beside ours.
    assert_eq!(a.body["status"], "healthy");
    assert_eq!(a.body["services"]["database"], "up");
    assert_eq!(a.body["services"]["redis"], "not configured");
    let stamp = a.body["timestamp"].as_str().expect("timestamp");
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok() && stamp.ends_with('Z'),
        "{stamp}"
    );
    assert!(a.body.get("error").is_none(), "{}", a.body);
    let a = get(&s.url, "/api/ready").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["success"], true);
    let a = get(&s.url, "/api/nothing").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.body["success"], false);
    let a = send(raw().get(format!("{}/api/purchase", s.url))).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(a.body["success"], false);
}

#[tokio::test]
async fn metrics_count_purchases_by_outcome_and_strategy() {
    let (_db, store) = TestDb::seeded().await;
    let s = server(&store).await;
    post(&s.url, "10.4.0.1", r#"{"productId":1,"userId":"m1"}"#).await;
    post(&s.url, "10.4.0.1", r#"{"productId":999,"userId":"m1"}"#).await;
    post(
        &s.url,
        "10.4.0.1",
        r#"{"productId":1,"userId":"m1","quantity":0}"#,
    )
    .await;
    let text = raw()
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        r#"flashsale_purchases_total{outcome="purchased",strategy="atomic"} 1"#,
        r#"flashsale_purchases_total{outcome="not_found",strategy="atomic"} 1"#,
        r#"flashsale_purchases_total{outcome="invalid",strategy="atomic"} 1"#,
        r#"flashsale_purchase_duration_seconds_count 3"#,
        "flashsale_db_pool_max 20",
        "flashsale_redis_configured 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[tokio::test]
async fn database_errors_reach_clients_without_sql_or_driver_text() {
    // A database with no schema: every query fails inside PostgreSQL.
    let db = TestDb::empty().await;
    let store = db.store_with(Default::default()).await;
    let s = server(&store).await;
    let answers = vec![
        post(&s.url, "10.5.0.1", r#"{"productId":1,"userId":"x"}"#).await,
        get(&s.url, "/api/stock/1").await,
        get(&s.url, "/api/products/1").await,
        get(&s.url, "/api/admin/stats").await,
    ];
    for a in answers {
        assert!(a.status.is_server_error(), "{}: {}", a.status, a.body);
        assert_eq!(a.body["success"], false);
        let text = a.body.to_string().to_lowercase();
        for leak in [
            "select", "relation", "42p01", "orders", "products", "sqlx", "postgres",
        ] {
            assert!(!text.contains(leak), "{leak:?} leaked: {text}");
        }
    }
}

/// Collects formatted log lines in memory.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn slow_requests_are_logged_as_warnings_with_route_and_outcome() {
    let captured = Captured::default();
    let writer = captured.clone();
    // nextest runs each test in its own process, so this subscriber sees only this test.
    let _ = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let (_db, store) = TestDb::seeded().await;
    let limiter = RateLimiter::new(LimitSettings::default(), None).expect("limiter");
    let s = TestServer::start(
        Purchaser::new(store, limiter, 10),
        flashsale_server::ServerConfig {
            // Every request counts as slow.
            slow_request: std::time::Duration::ZERO,
            ..config()
        },
    )
    .await;
    let a = post(&s.url, "10.6.0.1", r#"{"productId":1,"userId":"slowpoke"}"#).await;
    assert_eq!(a.status, StatusCode::OK);
    let log = String::from_utf8_lossy(&captured.0.lock().expect("log")).into_owned();
    let line = log
        .lines()
        .find(|l| l.contains("slow request"))
        .unwrap_or_else(|| panic!("no slow-request warning in {log:?}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("/api/purchase"), "{line}");
    assert!(line.contains("outcome=\"purchased\""), "{line}");
    assert!(line.contains("status=200"), "{line}");
}

#[tokio::test]
async fn health_is_503_naming_the_database_when_it_is_gone() {
    let (db, store) = TestDb::seeded().await;
    let s = server(&store).await;
    assert_eq!(get(&s.url, "/api/health").await.status, StatusCode::OK);
    // The database dropped under the running server (its connections terminated with it).
    drop(db);
    let a = get(&s.url, "/api/health").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    assert_eq!(a.body["success"], false);
    assert_eq!(a.body["status"], "unhealthy");
    assert_eq!(a.body["database"]["status"], "down");
    assert_eq!(a.body["services"]["database"], "down");
    assert_eq!(a.body["error"], "unhealthy: database down");
    let a = get(&s.url, "/api/ready").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
}
