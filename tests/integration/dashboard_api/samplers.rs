//! The dashboard's API samplers against a real server, in process: product discovery over a
//! catalogue with gaps, the updates they send (stock, health, statistics withheld without the
//! token), and the server's own purchase error rate read from `/metrics` (the alert raised by a
//! server answering busy, the one-shot snapshot's window, a `/metrics` that is not ours).

use std::time::{Duration, Instant};

use flashsale_client::ApiClient;
use flashsale_core::config::{LimitSettings, UnavailablePolicy};
use flashsale_core::purchase::{Outcome, PurchaseRequest, Purchaser};
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::redact::{Secret, SecretUrl};
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;
use flashsale_monitor::over_http::{ApiMonitor, Probe, discover};
use flashsale_monitor::{Control, Source, Thresholds, Update};
use flashsale_server::ServerConfig;

use crate::support::http::{ADMIN_TOKEN, TestServer, config, serve_router};
use crate::support::json::assert_camel_case;
use crate::support::{TestDb, unlimited};

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
            admin_token: Some(Secret::new(ADMIN_TOKEN)),
            ..config()
        },
    )
    .await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Update>(64);
    let (_control_tx, control) = tokio::sync::watch::channel(Control {
        paused: false,
        period: Duration::from_millis(250),
    });
    let client = ApiClient::new(&server.url, 4, Duration::from_secs(5)).expect("client");
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

async fn buy(client: &ApiClient, i: u32) -> Outcome {
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

fn error_rate_alert(app: &flashsale_dashboard::app::App) -> Option<String> {
    app.state
        .alerts
        .iter()
        .find(|a| a.key == "error-rate")
        .map(|a| a.message.clone())
}

#[tokio::test]
async fn the_api_samplers_raise_the_error_rate_alert_from_the_servers_own_purchases() {
    use flashsale_dashboard::theme::{ColorMode, ThemeSet};
    use flashsale_dashboard::{app::App, event::Event, fixture, keymap::Keymap, state::State};

    let (_db, store) = TestDb::seeded().await;
    let server = busy_server(&store, Some(ADMIN_TOKEN)).await;
    // The token travels on `/metrics` as on the statistics.
    let client = ApiClient::new(&server.url, 4, Duration::from_secs(5))
        .expect("client")
        .with_admin_token(Secret::new(ADMIN_TOKEN));
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
    assert_camel_case(&v);
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
    let client = ApiClient::new(&url, 4, Duration::from_secs(5)).expect("client");
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
