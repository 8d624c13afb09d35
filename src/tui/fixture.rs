//! A dashboard filled with fixed data: the snapshot tests, the drive tests and the render
//! benchmark all draw from it, so what they see does not depend on a clock or a database.

use std::time::{Duration, Instant};

use chrono::{DateTime, Offset, TimeZone, Utc};

use super::app::App;
use super::keymap::Keymap;
use super::state::{BurstPhase, BurstRequest, Connection, Level, State};
use super::theme::{ColorMode, ThemeSet};
use crate::api::{Dependency, Health};
use crate::audit::Audit;
use crate::burst::{BurstReport, Counts, Latency, Progress, StopReason};
use crate::config::BackendKind;
use crate::model::Product;
use crate::model::{DayRevenue, Stats, TopProduct};
use crate::money::Money;
use crate::monitor::api::sales_from_stats;
use crate::monitor::error_rate::{PurchaseCounts, Reading};
use crate::monitor::{
    LatencySummary, PoolSnapshot, RedisInfo, RedisSnapshot, SalesSnapshot, Update,
    sales::{DaySales, ProductSales},
};
use crate::purchase::Strategy;
use crate::store::{AcquireStats, ActivityCount, PoolStatus};

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
        coverage: crate::monitor::SalesCoverage::AllProducts,
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
    }
}

/// An app at `t0` with every source answered and a few events; `conn` chooses the backend.
pub fn app_with(conn: Connection, t0: Instant, theme: &str) -> App {
    let themes = ThemeSet::embedded(ColorMode::TrueColor);
    let mut state = State::new(conn, t0, wall(), Utc.fix());
    state.theme = themes.index_of(theme).unwrap_or(0);
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
        app.state.start_stock.insert(id, start);
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

pub fn request(strategy: Strategy) -> BurstRequest {
    BurstRequest {
        product_id: 3,
        product_name: "Mechanical Keyboard".into(),
        params: super::state::BurstParams {
            buyers: 200,
            concurrency: 32,
            strategy,
            ..Default::default()
        },
    }
}

/// A burst two thirds done.
pub fn running(app: &mut App, strategy: Strategy) {
    let s = &mut app.state;
    s.burst.params.strategy = strategy;
    s.burst.throughput = (0..40).map(|i| 800 + (i * 53 % 17) * 40).collect();
    s.burst.phase = BurstPhase::Running {
        request: request(strategy),
        started: wall() - chrono::Duration::seconds(2),
        progress: Progress {
            planned: 200,
            started: 140,
            completed: 132,
            counts: Counts {
                purchased: 12,
                sold_out: 118,
                rate_limited_user: 0,
                rate_limited_ip: 0,
                busy: 2,
                ..Counts::default()
            },
            units_purchased: 12,
            elapsed: Duration::from_millis(1_650),
            throughput_per_s: 1_123.0,
            latency_ms: latency(),
            finished: false,
        },
        cancelling: false,
    };
    s.focus = super::state::Pane::Burst;
}

fn latency() -> Latency {
    Latency {
        p50: 1.24,
        p90: 3.9,
        p99: 8.41,
        p999: 11.8,
        max: 12.6,
    }
}

/// A finished burst: an honest one (OK) or a naive one (OVERSOLD).
pub fn finished(app: &mut App, oversold: bool) {
    let strategy = if oversold {
        Strategy::Naive
    } else {
        Strategy::Atomic
    };
    let report = report(oversold);
    let audit = report.audit.unwrap_or_default();
    let purchased = report.purchased;
    let s = &mut app.state;
    s.burst.throughput = (0..40).map(|i| 300 + (i * 29 % 13) * 30).collect();
    s.burst.params.strategy = strategy;
    s.burst.phase = BurstPhase::Finished {
        request: request(strategy),
        report: Box::new(report),
        at: wall(),
    };
    let verdict = if oversold {
        audit.verdict()
    } else {
        "audit OK".into()
    };
    s.log.push(
        wall(),
        if oversold { Level::Error } else { Level::Ok },
        format!("burst finished: {verdict}; {purchased} purchased of 200, 485/s"),
    );
    s.focus = super::state::Pane::Burst;
}

/// A burst sent over HTTP (`--api` without `--database-url`) finished: its report comes in as
/// the runtime delivers it, unaudited.
pub fn finished_over_http(app: &mut App) {
    running(app, Strategy::default());
    let mut report = report(false);
    report.strategy = None;
    report.target = "http://sale.internal:3000".into();
    report.audit = None;
    report.audit_error = Some("no database access to audit against".into());
    app.update(
        super::event::Event::BurstFinished(Ok(Box::new(report))),
        app.state.now,
        wall(),
    );
}

/// The report of a finished burst of 200 on stock 15: honest, or naive (oversold by 38).
pub fn report(oversold: bool) -> BurstReport {
    let strategy = if oversold {
        Strategy::Naive
    } else {
        Strategy::Atomic
    };
    let (audit, purchased) = if oversold {
        (Audit::compute(15, 0, 53, 0, 0), 53)
    } else {
        (Audit::compute(15, 0, 15, 0, 0), 15)
    };
    BurstReport {
        strategy: Some(strategy),
        unsafe_strategy: strategy.is_unsafe(),
        target: "in-process sqlite".into(),
        product_id: 3,
        products: vec![3],
        buyers: 200,
        concurrency: 32,
        load_model: "closed",
        attempts: 200,
        purchased,
        units_purchased: purchased,
        sold_out: 200 - purchased,
        not_found: 0,
        rate_limited: 0,
        rate_limited_user: 0,
        rate_limited_ip: 0,
        invalid: 0,
        busy: 0,
        failed: 0,
        cancelled: 0,
        stopped_by: StopReason::Completed,
        duration_ms: 412,
        throughput_per_s: 485.4,
        latency_ms: latency(),
        audit: Some(audit),
        audit_error: None,
        user_prefix: "burst-1-".into(),
        seed: 7,
        latency_histogram: Vec::new(),
    }
}

/// The database stopped answering 12 s ago: panes keep their last data, marked stale.
pub fn database_down(app: &mut App, t0: Instant) {
    let later = t0 + Duration::from_secs(12);
    let error = "database unreachable: connection refused".to_string();
    for source in [
        crate::monitor::Source::Stock,
        crate::monitor::Source::Sales,
        crate::monitor::Source::Pool,
    ] {
        app.update(
            Update::Failed {
                source,
                error: error.clone(),
                retry_in: crate::monitor::RETRY,
            }
            .into(),
            later,
            wall(),
        );
    }
}

/// A deployment watched over its API; `database` is the `--database-url` given, if any.
pub fn api(database: Option<&str>) -> Connection {
    Connection {
        backend: BackendKind::Sqlite,
        database: "http://sale.internal:3000".into(),
        short: "sale.internal:3000".into(),
        embedded: false,
        redis: None,
        limiter: "the server's".into(),
        limits_short: "the server's".into(),
        on_redis_down: None,
        max_quantity: 10,
        api: Some(super::state::ApiLink {
            url: "http://sale.internal:3000".into(),
            database: database.map(str::to_string),
        }),
    }
}

/// `/api/admin/stats` as the server sends it: the fixture's sales, top three only.
pub fn stats() -> Stats {
    let s = sales();
    Stats {
        total_revenue: s.total_revenue,
        total_units_sold: s.total_units_sold,
        top_products: s
            .products
            .iter()
            .take(crate::model::TOP_PRODUCTS)
            .map(|p| TopProduct {
                id: p.product_id,
                name: format!("#{}", p.product_id),
                total_sold: p.units,
                revenue: Money::ZERO,
            })
            .collect(),
        revenue_by_day: s
            .revenue_by_day
            .iter()
            .map(|d| DayRevenue {
                date: d.date.clone(),
                revenue: d.revenue,
                units: 0,
            })
            .collect(),
    }
}

/// `/api/health`: the database up, Redis as `redis` says (`up`, `down`, `not configured`).
pub fn health(redis: &str) -> Health {
    let dep = |status: &str, ms: f64| Dependency {
        status: status.into(),
        latency_ms: (status == "up").then_some(ms),
        error: (status == "down").then(|| "no answer to PING".into()),
    };
    Health {
        success: redis != "down",
        message: if redis == "down" {
            "unhealthy: redis down".into()
        } else {
            "healthy".into()
        },
        database: dep("up", 0.42),
        redis: dep(redis, 0.18),
        rate_limit_on_redis_down: "fail-open".into(),
        strategy: "batched".into(),
    }
}

/// A read of the server's `/metrics`: `purchases` and `errors` over the last minute, on top of
/// earlier totals.
pub fn server_purchases(purchases: u64, errors: u64) -> Reading {
    Reading {
        last_minute: Some(PurchaseCounts { purchases, errors }),
        span: Duration::from_secs(59),
        totals: PurchaseCounts {
            purchases: 48_210 + purchases,
            errors: 97 + errors,
        },
        restarted: false,
    }
}

/// An app watching over the API at `t0`: stock, two statistics polls half a minute apart (so
/// the top products have sell rates), a healthy server with Redis, and its purchase counters
/// (3 errors in 1,204 purchases over the last minute).
pub fn app_api(database: Option<&str>, t0: Instant, theme: &str) -> App {
    let themes = ThemeSet::embedded(ColorMode::TrueColor);
    let mut state = State::new(api(database), t0, wall(), Utc.fix());
    state.theme = themes.index_of(theme).unwrap_or(0);
    let mut app = App::new(state, Keymap::default(), themes);
    let w = wall() - chrono::Duration::seconds(40);
    app.update(super::event::Event::Connected, t0, w);
    // Half a minute earlier the stock was higher by the direct fixture's last-minute sales:
    // the same sell rates, read off the stock polls.
    let earlier = t0.checked_sub(Duration::from_secs(30)).unwrap_or(t0);
    let before: Vec<Product> = products()
        .into_iter()
        .map(|p| Product {
            stock: p.stock + sales().of(p.id).map_or(0, |s| s.units_last_minute as i32),
            ..p
        })
        .collect();
    app.update(Update::Stock(before).into(), earlier, w);
    for update in [
        Update::Stock(products()),
        Update::Sales(sales_from_stats(&stats())),
        Update::Health(health("up")),
        Update::ServerPurchases(server_purchases(1_204, 3)),
    ] {
        app.update(update.into(), t0, w);
    }
    for (id, start) in [(1, 100), (2, 25), (3, 15), (4, 8), (5, 30)] {
        app.state.start_stock.insert(id, start);
    }
    app.state.now = t0;
    app.state.wall = wall();
    app
}
