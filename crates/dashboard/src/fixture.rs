//! A dashboard filled with fixed data: the snapshot tests, the drive tests and the render
//! benchmark all draw from it, so what they see does not depend on a clock or a database. Here:
//! the direct connections, each source's data and the app fed them; bursts in `bursts`, a
//! deployment watched over its API in `deployment` (as a list of replicas in `replica_set`),
//! the activity view and limits prompt in `backends`; Redis with its history in `redis_history`.

mod backends;
mod bursts;
mod deployment;
mod redis_history;
mod replica_set;

use std::time::{Duration, Instant};

use chrono::{DateTime, Offset, TimeZone, Utc};

use super::app::App;
use super::keymap::Keymap;
use super::state::{Connection, Level, State};
use super::theme::{ColorMode, ThemeSet};
pub use backends::{activity, limits};
pub use bursts::{finished, finished_over_http, report, request, running};
pub use deployment::{api, app_api, health, server_purchases, stats};
use flashsale_core::config::BackendKind;
use flashsale_core::model::Product;
use flashsale_core::money::Money;
use flashsale_core::store::{AcquireStats, ActivityCount, PoolStatus};
use flashsale_monitor::{
    LatencySummary, PoolSnapshot, RedisInfo, RedisSnapshot, SalesSnapshot, Update,
    sales::{DaySales, ProductSales},
};
pub use redis_history::redis_detailed;
pub use replica_set::{app_replicas, replica_reading, replica_urls};

/// 2026-11-25 12:34:56 UTC: the fixture's "now".
pub fn wall() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 34, 56)
        .single()
        .unwrap_or_default()
}

pub fn embedded() -> Connection {
    Connection {
        backend: BackendKind::Sqlite,
        database: "/home/demo/.local/share/flashsale/flashsale.db".into(),
        short: "flashsale.db".into(),
        embedded: true,
        redis: None,
        limiter: "5 per user, 10 per IP per 1 min (in-process limiter)".into(),
        limits_short: "5/user, 10/IP per 1 min".into(),
        on_redis_down: None,
        max_quantity: 10,
        api: None,
    }
}

pub fn postgres() -> Connection {
    Connection {
        backend: BackendKind::Postgres,
        database: "postgres://sale:***@db.internal:5432/sale".into(),
        short: "db.internal:5432/sale".into(),
        embedded: false,
        redis: Some("redis://:***@cache.internal:6379".into()),
        limiter: "5 per user, 10 per IP per 1 min (redis, fail-open when down, timeout 250 ms)"
            .into(),
        limits_short: "5/user, 10/IP per 1 min".into(),
        on_redis_down: Some("fail-open".into()),
        max_quantity: 10,
        api: None,
    }
}

pub fn products() -> Vec<Product> {
    [
        (1, "Laptop Pro 15", 129_999, 58),
        (2, "Wireless Mouse", 2_999, 21),
        (3, "Mechanical Keyboard", 14_999, 3),
        (4, "4K Monitor", 44_999, 0),
        (5, "USB-C Hub", 4_999, 30),
    ]
    .into_iter()
    .map(|(id, name, cents, stock)| Product {
        id,
        name: name.into(),
        price: Money::from_cents(cents),
        stock,
    })
    .collect()
}

pub fn sales() -> SalesSnapshot {
    let days = [
        ("2026-11-19", 129_999, 1),
        ("2026-11-20", 0, 0),
        ("2026-11-21", 44_999 + 2_999, 2),
        ("2026-11-22", 14_999 * 2, 2),
        ("2026-11-23", 129_999 * 3, 3),
        ("2026-11-24", 4_999 * 4, 4),
        ("2026-11-25", 129_999 * 42 + 44_999 * 8 + 14_999 * 12, 62),
    ];
    SalesSnapshot {
        total_revenue: Money::from_cents(7_406_270),
        total_units_sold: 74,
        products: vec![
            ps(1, 45, 129_999 * 45, 42),
            ps(3, 14, 14_999 * 14, 12),
            ps(4, 8, 44_999 * 8, 8),
            ps(5, 4, 4_999 * 4, 0),
            ps(2, 3, 2_999 * 3, 0),
        ],
        revenue_by_day: days
            .iter()
            .map(|(d, c, u)| DaySales {
                date: (*d).into(),
                revenue: Money::from_cents(*c),
                units: *u,
            })
            .collect(),
        watermark: 79,
        watching_ids: 0,
        given_up_ids: 0,
        coverage: flashsale_monitor::SalesCoverage::AllProducts,
    }
}

fn ps(id: i32, units: i64, cents: i64, last_minute: i64) -> ProductSales {
    ProductSales {
        product_id: id,
        units,
        revenue: Money::from_cents(cents),
        units_last_minute: last_minute,
    }
}

pub fn pool(backend: BackendKind) -> PoolSnapshot {
    PoolSnapshot {
        backend,
        status: PoolStatus {
            size: 3,
            idle: 2,
            max: 5,
        },
        acquire: AcquireStats {
            count: 212,
            p50_ms: 0.04,
            p99_ms: 1.9,
            max_ms: 3.2,
            waiting: 0,
            timeouts_total: 0,
            timeouts_window: 0,
        },
        server: (backend == BackendKind::Postgres).then(|| {
            vec![
                ActivityCount {
                    state: "active".into(),
                    count: 2,
                },
                ActivityCount {
                    state: "idle".into(),
                    count: 5,
                },
            ]
        }),
        server_error: None,
    }
}

pub fn redis() -> RedisSnapshot {
    RedisSnapshot {
        url: "redis://:***@cache.internal:6379".into(),
        latency: Some(LatencySummary {
            min_ms: 0.11,
            avg_ms: 0.19,
            p99_ms: 0.52,
            max_ms: 1.4,
            samples: 150,
        }),
        history_us: (0..60).map(|i| 150 + (i * 37 % 11) * 40).collect(),
        info: Some(RedisInfo {
            version: "7.0.15".into(),
            connected_clients: 4,
            ops_per_sec: 1_250,
            used_memory_human: "1.05M".into(),
            uptime_secs: 86_400,
        }),
        down_since: None,
        error: None,
        masters: Vec::new(),
        rate_limit_keys: None,
        intervals: Vec::new(),
        stats: None,
        slowlog: Vec::new(),
        slowlog_error: None,
    }
}

/// An app at `t0` with every source answered and a few events; `conn` chooses the backend.
pub fn app_with(conn: Connection, t0: Instant, theme: &str) -> App {
    let themes = ThemeSet::embedded(ColorMode::TrueColor);
    let mut state = State::new(conn, t0, wall(), Utc.fix());
    state.theme = themes.index_of(theme).unwrap_or(0);
    state.log_file = Some("/home/demo/.local/state/flashsale/flashsale.log".into());
    let backend = state.conn.backend;
    let has_redis = state.conn.redis.is_some();
    let mut app = App::new(state, Keymap::default(), themes);
    let w = wall() - chrono::Duration::seconds(40);
    app.update(super::event::Event::Connected, t0, w);
    for update in [
        Update::Stock(products()),
        Update::Sales(sales()),
        Update::Pool(pool(backend)),
    ] {
        app.update(update.into(), t0, w);
    }
    if has_redis {
        app.update(Update::Redis(redis()).into(), t0, w);
    }
    // The gauges' 100%: the stock each product had when the dashboard started.
    for (id, start) in [(1, 100), (2, 25), (3, 15), (4, 8), (5, 30)] {
        // `sold_at: None`: measured against that stock alone, as if the sales were unknown.
        let r = crate::state::GaugeRef {
            seen: start,
            last: start,
            sold_at: None,
        };
        app.state.gauges.set(id, r);
    }
    app.state.log.push(
        wall() - chrono::Duration::seconds(30),
        Level::Info,
        "paused",
    );
    app.state.log.push(
        wall() - chrono::Duration::seconds(28),
        Level::Info,
        "live again",
    );
    app.state.now = t0;
    app.state.wall = wall();
    app
}

/// The default: the embedded database, dark theme.
pub fn app(t0: Instant) -> App {
    app_with(embedded(), t0, "dark")
}
/// The database stopped answering 12 s ago: panes keep their last data, marked stale.
pub fn database_down(app: &mut App, t0: Instant) {
    let later = t0 + Duration::from_secs(12);
    let error = "database unreachable: connection refused".to_string();
    for source in [
        flashsale_monitor::Source::Stock,
        flashsale_monitor::Source::Sales,
        flashsale_monitor::Source::Pool,
    ] {
        app.update(
            Update::Failed {
                source,
                error: error.clone(),
                retry_in: flashsale_monitor::RETRY,
            }
            .into(),
            later,
            wall(),
        );
    }
}

/// The events pane's entries that start with `prefix` (`"cleared:"`), oldest first.
pub fn events_starting(app: &App, prefix: &str) -> Vec<String> {
    app.state
        .log
        .entries
        .iter()
        .filter(|e| e.text.starts_with(prefix))
        .map(|e| e.text.clone())
        .collect()
}
