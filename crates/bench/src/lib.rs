//! `flashsale bench`: the figures in BENCHMARKS.md, each beside an anchor measured in the same
//! run on the same machine (pgbench, redis-benchmark, another strategy), with what bounds it.
//! It writes orders and sets stock: run it against a throwaway database.

mod http;
mod limiter;
mod many;
mod mix;
mod pgbench;
mod probe;
mod processes;
mod purchases;
mod soldout;
mod stats;

use flashsale_core::config::Settings;

pub use probe::Probe;

/// A benchmark and what it measures at.
#[derive(Debug, Clone)]
pub enum Bench {
    /// Hot product: purchases/s and p50/p99 per strategy and client count, against pgbench's
    /// one-statement purchase at the same client count.
    Purchases(purchases::PurchasesPlan),
    /// A sale of many products (uniform or Zipf-like demand), against pgbench's one-statement
    /// purchase over the same products and draw.
    Many(many::ManyPlan),
    /// One hot product sold by 1, 2, 4, 8 OS processes at once, against one process.
    Processes(processes::ProcessesPlan),
    /// The same purchases over HTTP: `flashsale serve` and the burst engine's HTTP target.
    Http(http::HttpPlan),
    /// Rejections/s once a product is sold out, against the purchase rate.
    SoldOut(soldout::SoldOutPlan),
    /// The dashboard's stats refresh on 10^4, 10^6, 10^7 orders beside full-table queries.
    Stats(stats::StatsPlan),
    /// Rate-limit checks/s through Redis, against redis-benchmark PING on the same server.
    Limiter(limiter::LimiterPlan),
}

pub use http::HttpPlan;
pub use limiter::LimiterPlan;
pub use many::ManyPlan;
pub use mix::Mix;
pub use processes::ProcessesPlan;
pub use purchases::PurchasesPlan;
pub use soldout::SoldOutPlan;
pub use stats::StatsPlan;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("benchmarks restock products and add orders; pass --yes to run them against {0}")]
    NeedsYes(String),
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Store(#[from] flashsale_core::store::StoreError),
    #[error(transparent)]
    Burst(#[from] flashsale_burst::BurstError),
}

/// Runs a benchmark and returns its report (markdown).
/// `yes`: the caller confirmed the database is a throwaway (needed unless it is the embedded
/// default, or the benchmark writes nothing to it).
pub async fn run(bench: &Bench, yes: bool, settings: &Settings) -> Result<String, BenchError> {
    if !yes && !settings.database.is_embedded() && !matches!(bench, Bench::Limiter(_)) {
        return Err(BenchError::NeedsYes(settings.database.to_string()));
    }
    match bench {
        Bench::Purchases(p) => purchases::run(p, settings).await,
        Bench::Many(p) => many::run(p, settings).await,
        Bench::Processes(p) => processes::run(p, settings).await,
        Bench::SoldOut(p) => soldout::run(p, settings).await,
        Bench::Http(p) => http::run(p, settings).await,
        Bench::Limiter(p) => limiter::run(p, settings).await,
        Bench::Stats(p) => stats::run(p, settings).await,
    }
}

/// A small pool of the benchmark's own on the PostgreSQL database the settings name (`None` on
/// SQLite): for what the store does not do (bulk inserts, `pg_stat_activity` samples), without
/// taking connections from the pool under test. Built lazily: it connects on first use.
fn postgres_pool(settings: &Settings, connections: u32) -> Option<sqlx::PgPool> {
    let flashsale_core::config::DatabaseTarget::Postgres(url) = &settings.database else {
        return None;
    };
    let options: sqlx::postgres::PgConnectOptions = url.expose().parse().ok()?;
    // As the store connects (no TLS on loopback unless the URL asks).
    let options = flashsale_core::store::postgres::transport(options, url.expose());
    Some(
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(connections)
            .connect_lazy_with(options.application_name("flashsale bench")),
    )
}

/// A run's audit in words: its verdict (`OK`, `OVERSOLD by 3`, ...), or `not audited`.
fn audit_verdict(report: &flashsale_burst::BurstReport) -> String {
    report
        .audit
        .as_ref()
        .map(|a| a.verdict())
        .unwrap_or_else(|| "not audited".into())
}

/// `12.4x` the anchor's figure; `-` without an anchor, or with one of zero.
fn times(per_s: f64, anchor: Option<f64>) -> String {
    anchor
        .filter(|a| *a > 0.0)
        .map_or("-".to_string(), |a| format!("{:.1}x", per_s / a))
}

/// The machine, for the report's header.
fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    format!("{cores} cores ({cpu})")
}
