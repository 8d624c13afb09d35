//! `flashsale dashboard --api URL --once --json` against a real server: stock, statistics,
//! health and the server's purchase error rate over HTTP alone, the admin token, the start line
//! in the log, the URLs refused, and a server with only the reference system's contract.

use serde_json::Value;

use crate::support::http::{ADMIN_TOKEN, ServeProcess, serve_router};
use crate::support::json::assert_camel_case;
use crate::support::{TestDb, TestRedis, flashsale};

fn once_json(home: &std::path::Path, url: &str, env: &[(&str, &str)]) -> (Option<i32>, Value) {
    let mut cmd = flashsale(home);
    cmd.args(["dashboard", "--api", url, "--once", "--json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run");
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

#[tokio::test]
async fn once_json_over_the_api_has_every_seeded_products_stock_the_stats_and_health() {
    let (db, _store) = TestDb::seeded().await;
    let redis = TestRedis::new().await;
    let home = tempfile::tempdir().expect("tmp");
    let serve = ServeProcess::start(
        home.path(),
        &[
            ("DATABASE_URL", &db.url),
            ("REDIS_URL", &redis.url),
            ("RATE_LIMIT_PREFIX", &redis.prefix),
        ],
    );
    let (code, v) = once_json(home.path(), &serve.url, &[]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["api"], serve.url.as_str());
    let stock = v["stock"].as_array().expect("stock");
    let ids: Vec<i64> = stock.iter().filter_map(|p| p["id"].as_i64()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5], "{v}");
    assert_eq!(stock[0]["name"], "Laptop Pro 15");
    assert_eq!(stock[0]["stock"], 100);
    assert_eq!(stock[3]["stock"], 8);
    assert_eq!(v["stats"]["totalUnitsSold"], 14, "{v}");
    assert_eq!(v["stats"]["topProducts"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["stats"]["revenueByDay"].as_array().map(Vec::len), Some(7));
    assert_eq!(v["health"]["success"], true);
    assert_eq!(v["health"]["database"]["status"], "up");
    assert_eq!(v["health"]["redis"]["status"], "up");
    assert!(
        v["health"]["strategy"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(v["errors"], serde_json::json!({}));
    assert_eq!(
        v["needsDirectAccess"],
        serde_json::json!(["pool", "redisLatency"])
    );
    assert!(v.get("pool").is_none(), "no pool figures over the API: {v}");
    // `/metrics` is open on loopback without a token: read twice, a second apart, and nobody
    // bought anything in between.
    let rate = &v["serverErrorRate"];
    assert!(
        rate["windowSeconds"].as_f64().is_some_and(|s| s >= 1.0),
        "{rate}"
    );
    assert_eq!(rate["purchases"], 0, "{rate}");
    assert!(rate["ratePercent"].is_null());
    assert_eq!(rate["reason"], "no purchases in the window");
    assert_eq!(
        rate["sinceServerStart"],
        serde_json::json!({"purchases": 0, "errors": 0})
    );
    assert_camel_case(&v);
    assert_eq!(v["burst"]["strategyFrom"], "server");
    assert_eq!(v["burst"]["strategy"], v["health"]["strategy"]);
    assert!(
        v["burst"]["restockTo"].is_null(),
        "no restock over the API alone"
    );
    assert_eq!(v["burst"]["product"]["id"], 1);
    assert!(
        v["events"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("watching ") && t.ends_with(" over its API")),
        "{v}"
    );
}

#[tokio::test]
async fn once_json_over_the_api_without_the_admin_token_says_it_is_needed() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let serve = ServeProcess::start(
        home.path(),
        &[("DATABASE_URL", &db.url), ("ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    let (code, v) = once_json(home.path(), &serve.url, &[]);
    assert_eq!(code, Some(1), "statistics missing: {v}");
    assert_eq!(v["errors"]["sales"], "admin token needed (ADMIN_TOKEN)");
    assert!(v["stats"].is_null());
    // Withheld, not failed: the Events pane shows it as a warning.
    let events = v["events"].as_array().expect("events");
    assert!(
        events.iter().any(|e| e["level"] == "warn"
            && e["text"] == "sales: admin token needed (ADMIN_TOKEN)"),
        "{v}"
    );
    assert_eq!(
        v["stock"].as_array().map(Vec::len),
        Some(5),
        "stock is public"
    );
    assert_eq!(v["health"]["success"], true);
    // The purchase counters are guarded alike: no rate, the reason instead, said as a warning
    // and not counted as a failure of its own.
    assert!(v["serverErrorRate"]["ratePercent"].is_null(), "{v}");
    assert_eq!(
        v["serverErrorRate"]["reason"],
        "admin token needed (ADMIN_TOKEN)"
    );
    assert!(v["errors"].get("metrics").is_none(), "{v}");
    assert!(
        events
            .iter()
            .any(|e| e["level"] == "warn"
                && e["text"] == "metrics: admin token needed (ADMIN_TOKEN)"),
        "{v}"
    );

    let (code, v) = once_json(home.path(), &serve.url, &[("ADMIN_TOKEN", ADMIN_TOKEN)]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["stats"]["totalUnitsSold"], 14);
    assert_eq!(
        v["serverErrorRate"]["reason"], "no purchases in the window",
        "read with the token: {v}"
    );
    assert!(
        !v.to_string().contains(ADMIN_TOKEN),
        "the token is never printed"
    );
}

#[test]
fn the_log_start_line_names_the_api_watched_not_the_embedded_database() {
    let home = tempfile::tempdir().expect("tmp");
    // Nothing listens on port 9: the snapshot fails fast, the start line is written anyway.
    let (code, _) = once_json(home.path(), "http://ops:hunter2@127.0.0.1:9", &[]);
    assert_eq!(code, Some(1));
    let log = std::fs::read_to_string(home.path().join("state/flashsale.log")).expect("log");
    let start = log
        .lines()
        .find(|l| l.contains(" start "))
        .unwrap_or_else(|| panic!("no start line: {log}"));
    assert!(
        start.contains("api=http://***@127.0.0.1:9") && start.contains("database=none"),
        "{start}"
    );
    assert!(
        !start.contains("sqlite") && !log.contains("hunter2"),
        "{log}"
    );
}

#[test]
fn https_and_malformed_api_urls_are_refused_in_one_line() {
    let home = tempfile::tempdir().expect("tmp");
    for (url, expected) in [
        ("https://127.0.0.1:9", "https:// is not supported"),
        ("127.0.0.1:3000", "expected http://host:port"),
        ("http://127.0.0.1:9/?token=x", "without ?query"),
    ] {
        let out = flashsale(home.path())
            .args(["dashboard", "--api", url, "--once", "--json"])
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.starts_with("flashsale: error: --api: "), "{err}");
        assert!(err.contains(expected), "{url}: {err}");
        assert!(out.stdout.is_empty());
    }
}

/// A server with the reference system's contract and nothing more: two products, statistics
/// without an admin guard, and `/api/health` in the reference's documented shape, or none.
async fn reference_like(health: bool) -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::Path;
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use serde_json::json;

    fn json_reply(v: Value) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
    }

    let product = |id: i64| {
        (id <= 2).then(|| {
            json!({"id": id, "name": format!("Item {id}"), "description": null,
                   "imageUrl": null, "stock": 10 * id, "price": "9.99"})
        })
    };
    let mut app = axum::Router::new()
        .route(
            "/api/products/{id}",
            get(move |Path(id): Path<i64>| async move {
                match product(id) {
                    Some(p) => Ok(json_reply(json!({"success": true, "product": p}))),
                    None => Err(StatusCode::NOT_FOUND),
                }
            }),
        )
        .route(
            "/api/stock/{id}",
            get(move |Path(id): Path<i64>| async move {
                match product(id) {
                    Some(p) => Ok(json_reply(json!({"success": true, "stock": p["stock"]}))),
                    None => Err(StatusCode::NOT_FOUND),
                }
            }),
        )
        .route(
            "/api/admin/stats",
            get(|| async {
                // node-pg's shapes: DECIMAL and SUM() as strings, DATE as a midnight timestamp.
                json_reply(json!({"success": true, "data": {
                    "totalRevenue": "19.98", "totalUnitsSold": "2",
                    "topProducts": [{"id": 1, "name": "Item 1", "totalSold": "2"}],
                    "revenueByDay": [{"date": "2026-11-25T00:00:00.000Z", "revenue": "19.98"}]},
                    "meta": {"queryTimeMs": 3}}))
            }),
        );
    if health {
        app = app.route(
            "/api/health",
            get(|| async {
                json_reply(
                    json!({"status": "healthy", "timestamp": "2026-11-25T06:42:52.523Z",
                            "services": {"database": "up", "redis": "up"}}),
                )
            }),
        );
    }
    serve_router(app).await
}

#[tokio::test]
async fn a_server_with_only_the_reference_contract_is_watched_too() {
    let home = tempfile::tempdir().expect("tmp");

    let (url, server) = reference_like(true).await;
    let home_path = home.path().to_path_buf();
    let (code, v) = tokio::task::spawn_blocking(move || once_json(&home_path, &url, &[]))
        .await
        .expect("run");
    server.abort();
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["stock"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v["stock"][1]["stock"], 20);
    assert_eq!(v["stats"]["totalUnitsSold"], 2);
    assert_eq!(
        v["stats"]["totalRevenue"], 19.98,
        "decimal strings read exactly: {v}"
    );
    assert_eq!(v["stock"][0]["price"], 9.99, "{v}");
    assert_eq!(v["health"]["success"], true);
    assert_eq!(v["health"]["redis"]["status"], "up");
    // No /metrics either: no rate, said calmly (exit 0 above).
    assert_eq!(
        v["serverErrorRate"]["reason"], "the server has no /metrics",
        "{v}"
    );
    assert!(v["serverErrorRate"]["ratePercent"].is_null());

    // No /api/health at all: said so, the rest still read.
    let (url, server) = reference_like(false).await;
    let home_path = home.path().to_path_buf();
    let (code, v) = tokio::task::spawn_blocking(move || once_json(&home_path, &url, &[]))
        .await
        .expect("run");
    server.abort();
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(
        v["errors"]["health"], "the server has no /api/health",
        "{v}"
    );
    assert_eq!(v["stock"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v["stats"]["totalUnitsSold"], 2);
}
