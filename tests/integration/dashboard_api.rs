//! `flashsale dashboard --api URL` against a real server: the snapshot (`--once --json`) of
//! stock, statistics, health and the server's purchase error rate over HTTP alone, the admin
//! token, product discovery over a catalogue with gaps, the samplers' updates (the error-rate
//! alert raised by a server answering busy), and the real binary on a real terminal (tmux)
//! firing bursts over HTTP, with and without `--database-url`.

use std::time::{Duration, Instant};

use flashsale::config::{LimitSettings, UnavailablePolicy};
use flashsale::http_client::HttpPurchaser;
use flashsale::monitor::api::{ApiMonitor, Probe, discover};
use flashsale::monitor::{Control, Source, Thresholds, Update};
use flashsale::purchase::{Outcome, PurchaseRequest, Purchaser, Strategy};
use flashsale::ratelimit::RateLimiter;
use flashsale::redact::{Secret, SecretUrl};
use flashsale::server::ServerConfig;
use flashsale::store::Store;
use serde_json::Value;

use crate::dashboard::{START, Tmux, assert_restored, flashsale};
use crate::support::http::{ServeProcess, TestServer, config};
use crate::support::{TestDb, TestRedis, unlimited};

const TOKEN: &str = "test-admin-token-0123456789";

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
    crate::dashboard::assert_camel_case(&v);
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
        &[("DATABASE_URL", &db.url), ("ADMIN_TOKEN", TOKEN)],
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

    let (code, v) = once_json(home.path(), &serve.url, &[("ADMIN_TOKEN", TOKEN)]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["stats"]["totalUnitsSold"], 14);
    assert_eq!(
        v["serverErrorRate"]["reason"], "no purchases in the window",
        "read with the token: {v}"
    );
    assert!(!v.to_string().contains(TOKEN), "the token is never printed");
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

#[tokio::test]
async fn discovery_over_http_bridges_short_gaps_and_stops_after_five_missing_ids() {
    let (db, store) = TestDb::seeded().await;
    // Ids 6-8 missing (three in a row): bridged; 10-19 missing: id 20 is never reached.
    sqlx::raw_sql(
        "INSERT INTO products (id, name, stock, price) VALUES \
         (9, 'Gift Card', 7, 25.00), (20, 'Far Away', 1, 1.00)",
    )
    .execute(&mut db.conn().await)
    .await
    .expect("insert");
    let server = TestServer::start(unlimited(&store), config()).await;
    let client = server.client();
    let found = discover(|id| client.product(id), Probe::default())
        .await
        .expect("discover");
    let ids: Vec<i32> = found.iter().map(|p| p.id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 9]);
    assert_eq!(found[5].name, "Gift Card");
    assert_eq!(found[5].stock, 7);
}

#[tokio::test]
async fn the_api_samplers_send_stock_health_and_withheld_statistics() {
    let (_db, store) = TestDb::seeded().await;
    let server = TestServer::start(
        unlimited(&store),
        ServerConfig {
            admin_token: Some(Secret::new(TOKEN)),
            ..config()
        },
    )
    .await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Update>(64);
    let (_control_tx, control) = tokio::sync::watch::channel(Control {
        paused: false,
        period: Duration::from_millis(250),
    });
    let client = HttpPurchaser::new(&server.url, 4, Duration::from_secs(5)).expect("client");
    let tasks = ApiMonitor::new(client).spawn(tx, control);
    let (mut stock, mut health) = (None, None);
    let mut withheld = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Two stock updates: the discovery, then a poll of the products found.
    let mut stock_updates = 0;
    while stock_updates < 2 || health.is_none() || withheld.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let update = tokio::time::timeout(left, rx.recv())
            .await
            .expect("every source reports within 20 s")
            .expect("open channel");
        match update {
            Update::Stock(p) => {
                stock_updates += 1;
                stock = Some(p);
            }
            Update::Health(h) => health = Some(h),
            Update::Withheld { source, reason } => {
                withheld.insert(source, reason);
            }
            Update::Failed { source, error, .. } => panic!("{source} failed: {error}"),
            other => panic!("unexpected update over the API: {other:?}"),
        }
    }
    for t in tasks {
        t.abort();
    }
    let stock = stock.expect("stock");
    assert_eq!(stock.len(), 5);
    assert_eq!(stock[1].name, "Wireless Mouse");
    assert_eq!(stock[1].stock, 25);
    let health = health.expect("health");
    assert!(health.success);
    assert_eq!(health.redis.status, "not configured");
    let needed = "admin token needed (ADMIN_TOKEN)".to_string();
    assert_eq!(
        withheld,
        [(Source::Sales, needed.clone()), (Source::Metrics, needed)].into(),
        "the statistics and the purchase counters, both guarded"
    );
}

#[test]
fn an_api_that_cannot_be_reached_is_shown_not_fatal() {
    let t = Tmux::start(&["dashboard", "--api", "http://127.0.0.1:9"], &[], 80, 24);
    let s = t.wait_for("retrying in 2s", START);
    assert!(s.contains("API unreachable: cannot connect"), "{s}");
    assert!(s.contains("needs direct database access:"), "{s}");
    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}

/// The stock shown for the product priced `price` (as the compact stock table prints it).
fn stock_of(screen: &str, price: &str) -> Option<i64> {
    screen.lines().find_map(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        let i = words.iter().position(|w| *w == price)?;
        words.get(i + 1)?.parse().ok()
    })
}

/// Waits until the stock shown for `price` is `expected`.
fn wait_for_stock(t: &Tmux, price: &str, expected: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = t.screen();
        if stock_of(&s, price) == Some(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the stock never showed {expected}; the screen:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sets buyers and concurrency in the editor (over the API it has no strategy field), and the
/// restock-to value when given.
fn set_burst(t: &Tmux, buyers: &str, restock_to: Option<&str>) {
    t.keys(&["e", "C-u"]);
    t.literal(buyers);
    t.keys(&["Down", "C-u"]);
    t.literal(buyers);
    if let Some(n) = restock_to {
        // concurrency -> quantity -> ip spread -> restock to
        t.keys(&["Down", "Down", "Down", "C-u"]);
        t.literal(n);
    }
    t.keys(&["Enter"]);
    t.wait_for("burst parameters set", Duration::from_secs(5));
}

#[tokio::test]
async fn over_the_api_a_burst_fired_with_keys_goes_over_http_and_the_stock_falls_on_screen() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    // Loopback trusted as a proxy: each simulated buyer has an address of its own.
    let serve = ServeProcess::start(
        home.path(),
        &[("DATABASE_URL", &db.url), ("TRUSTED_PROXIES", "127.0.0.1")],
    );
    let t = Tmux::start(&["dashboard", "--api", &serve.url], &[], 100, 30);
    let s = t.wait_for("1299.99", START);
    let host = serve.url.trim_start_matches("http://");
    assert!(
        s.contains(&format!("api {host}")),
        "the header names it:\n{s}"
    );
    assert_eq!(stock_of(&s, "1299.99"), Some(100), "{s}");
    let s = t.wait_for("server healthy", Duration::from_secs(10));
    assert!(s.contains("needs direct database access:"), "{s}");
    // Health and statistics are sampled separately; either may land first.
    t.wait_for("units 14", Duration::from_secs(10));
    // The server's /metrics (open on loopback): nothing bought since it started.
    t.wait_for("no purchases in the last minute", Duration::from_secs(10));

    t.keys(&["s"]);
    t.wait_for("cannot be changed over the API", Duration::from_secs(5));
    t.keys(&["r"]);
    t.wait_for("restock needs the database", Duration::from_secs(5));

    set_burst(&t, "20", None);
    t.keys(&["b"]);
    t.wait_for("Over HTTP; not audited", Duration::from_secs(5));
    t.keys(&["y"]);
    let s = t.wait_for("AUDIT NOT RUN", Duration::from_secs(30));
    assert!(s.contains("bought 20"), "twenty buyers, twenty units:\n{s}");
    wait_for_stock(&t, "1299.99", 80);
    t.wait_for("units 34", Duration::from_secs(10));
    // The server counted the twenty, none an error (the short form at this width).
    t.wait_for("errors 0.0%", Duration::from_secs(10));

    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}

#[tokio::test]
async fn over_the_api_with_a_database_url_restocks_and_audits_through_it() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let serve = ServeProcess::start(
        home.path(),
        &[("DATABASE_URL", &db.url), ("TRUSTED_PROXIES", "127.0.0.1")],
    );
    let t = Tmux::start(
        &["dashboard", "--api", &serve.url, "--database-url", &db.url],
        &[],
        100,
        30,
    );
    t.wait_for("1299.99", START);
    t.wait_for("database open", Duration::from_secs(10));
    set_burst(&t, "20", Some("5"));
    t.keys(&["r"]);
    t.wait_for("Restock", Duration::from_secs(5));
    t.keys(&["y"]);
    t.wait_for("restocked product 1 to 5", Duration::from_secs(10));
    wait_for_stock(&t, "1299.99", 5);
    t.keys(&["b"]);
    t.wait_for("Over HTTP; audited against", Duration::from_secs(5));
    t.keys(&["y"]);
    let s = t.wait_for("AUDIT OK", Duration::from_secs(30));
    assert!(s.contains("bought 5"), "five units for twenty buyers:\n{s}");
    wait_for_stock(&t, "1299.99", 0);

    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
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

/// A server that answers every purchase busy (503): its rate limiter is on a Redis nothing
/// listens on, and fails closed. The cheapest way to make a real server count errors.
async fn busy_server(store: &Store, admin_token: Option<&str>) -> TestServer {
    // A port just freed: nothing listens there, so every limiter call is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let limiter = RateLimiter::new(
        LimitSettings {
            on_unavailable: UnavailablePolicy::FailClosed,
            redis_timeout: Duration::from_millis(200),
            ..LimitSettings::default()
        },
        Some(&SecretUrl::new(format!("redis://127.0.0.1:{port}"))),
    )
    .expect("limiter");
    TestServer::start(
        Purchaser::new(store.clone(), limiter, 10),
        ServerConfig {
            admin_token: admin_token.map(Secret::new),
            ..config()
        },
    )
    .await
}

async fn buy(client: &HttpPurchaser, i: u32) -> Outcome {
    let user = format!("er_{i}");
    client
        .purchase(&PurchaseRequest {
            product_id: 1,
            user_id: &user,
            client_ip: std::net::IpAddr::from([10, 40, 0, (i % 250) as u8]),
            quantity: 1,
            strategy: Strategy::Atomic,
        })
        .await
}

fn error_rate_alert(app: &flashsale::tui::app::App) -> Option<String> {
    app.state
        .alerts
        .iter()
        .find(|a| a.key == "error-rate")
        .map(|a| a.message.clone())
}

#[tokio::test]
async fn the_api_samplers_raise_the_error_rate_alert_from_the_servers_own_purchases() {
    use flashsale::tui::theme::{ColorMode, ThemeSet};
    use flashsale::tui::{app::App, event::Event, fixture, keymap::Keymap, state::State};

    let (_db, store) = TestDb::seeded().await;
    let server = busy_server(&store, Some(TOKEN)).await;
    // The token travels on `/metrics` as on the statistics.
    let client = HttpPurchaser::new(&server.url, 4, Duration::from_secs(5))
        .expect("client")
        .with_admin_token(Secret::new(TOKEN));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Update>(64);
    let (_control_tx, control) = tokio::sync::watch::channel(Control {
        paused: false,
        period: Duration::from_millis(250),
    });
    let tasks = ApiMonitor::new(client.clone()).spawn(tx, control);
    // The dashboard's state, fed the samplers' updates as the runtime feeds it.
    let mut app = App::new(
        State::new(
            fixture::api(None),
            Instant::now(),
            chrono::Utc::now(),
            *chrono::Local::now().offset(),
        ),
        Keymap::default(),
        ThemeSet::embedded(ColorMode::None),
    );
    app.update(Event::Connected, Instant::now(), chrono::Utc::now());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next = async |app: &mut App| {
        let left = deadline.saturating_duration_since(Instant::now());
        let update = tokio::time::timeout(left, rx.recv())
            .await
            .expect("the samplers report within 30 s")
            .expect("open channel");
        if let Update::Failed {
            source: Source::Metrics,
            error,
            ..
        } = &update
        {
            panic!("/metrics failed: {error}");
        }
        app.update(update.into(), Instant::now(), chrono::Utc::now());
    };

    // A window in which nobody bought anything: a rate of nothing, no alert.
    while app.state.server_purchases_last_minute() != Some((0, 0)) {
        next(&mut app).await;
    }
    assert_eq!(error_rate_alert(&app), None);

    for i in 0..20 {
        let outcome = buy(&client, i).await;
        assert!(matches!(outcome, Outcome::Busy(_)), "{outcome:?}");
    }
    while app.state.server_purchases_last_minute() != Some((20, 20)) {
        next(&mut app).await;
    }
    for t in tasks {
        t.abort();
    }
    assert_eq!(
        error_rate_alert(&app).as_deref(),
        Some("purchase errors 100.0% over the last minute (the server's purchases; above 5%)"),
        "{:?}",
        app.state.alerts
    );
    assert!(
        app.state
            .log
            .entries
            .iter()
            .any(|e| e.text.starts_with("ALERT purchase errors 100.0%")),
        "announced as an event too"
    );
    assert!(app.state.purchases.is_empty(), "no burst was fired here");
}

#[tokio::test]
async fn once_over_the_api_reports_the_servers_error_rate_over_its_own_window() {
    let (_db, store) = TestDb::seeded().await;
    let server = busy_server(&store, None).await;
    let client = server.client();
    // Purchases answered busy all through the snapshot's two reads of /metrics.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let firing = tokio::spawn({
        let (client, stop) = (client.clone(), stop.clone());
        async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                assert!(matches!(buy(&client, i).await, Outcome::Busy(_)));
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let snap = ApiMonitor::new(client)
        .snapshot_once(&Thresholds::default())
        .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    firing.await.expect("firing");

    let rate = &snap.server_error_rate;
    assert!(rate.window_seconds.is_some_and(|s| s >= 1.0), "{rate:?}");
    assert!(rate.purchases.is_some_and(|n| n > 0), "{rate:?}");
    assert_eq!(rate.errors, rate.purchases, "every one busy");
    assert_eq!(rate.rate_percent, Some(100.0));
    assert_eq!(rate.reason, None);
    assert!(
        snap.alerts
            .iter()
            .any(|a| a.key == "error-rate" && a.message.contains("the server's purchases")),
        "{:?}",
        snap.alerts
    );
    let v = serde_json::to_value(&snap).expect("json");
    assert_eq!(v["serverErrorRate"]["ratePercent"], 100.0);
    crate::dashboard::assert_camel_case(&v);
}

/// A server whose `/metrics` is something else than ours (here, an HTML page).
async fn foreign_metrics() -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(|| async {
            "<html><body>\nflashsale_purchases_total{outcome=\"busy\" 3\n\u{0}\u{ffff}</body></html>"
        }),
    );
    serve_router(app).await
}

#[tokio::test]
async fn an_unreadable_metrics_body_is_shown_as_such_never_a_panic() {
    let (url, server) = foreign_metrics().await;
    let client = HttpPurchaser::new(&url, 4, Duration::from_secs(5)).expect("client");
    let unreadable = "/metrics unreadable: no flashsale_purchases_total samples in it";

    let snap = ApiMonitor::new(client.clone())
        .snapshot_once(&Thresholds::default())
        .await;
    assert_eq!(
        snap.errors.get(&Source::Metrics).map(String::as_str),
        Some(unreadable)
    );
    assert_eq!(snap.server_error_rate.reason.as_deref(), Some(unreadable));
    assert_eq!(snap.server_error_rate.rate_percent, None);

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Update>(64);
    let (_control_tx, control) = tokio::sync::watch::channel(Control {
        paused: false,
        period: Duration::from_millis(250),
    });
    let tasks = ApiMonitor::new(client).spawn(tx, control);
    let error = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(Update::Failed {
                source: Source::Metrics,
                error,
                ..
            }) = rx.recv().await
            {
                return error;
            }
        }
    })
    .await
    .expect("the metrics sampler reports within 20 s");
    for t in tasks {
        t.abort();
    }
    server.abort();
    assert_eq!(error, unreadable);
}

/// Serves `app` on a free loopback port: its URL, and the task (aborted by the caller).
async fn serve_router(app: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}
