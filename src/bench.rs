//! `flashsale bench`: the figures in BENCHMARKS.md, each beside an anchor measured in the same
//! run on the same machine (pgbench, redis-benchmark, another strategy), with what bounds it.
//! It writes orders and sets stock: run it against a throwaway database.

mod http;
mod limiter;
mod pgbench;
mod probe;
mod purchases;
mod soldout;
mod stats;

use clap::{Args, Subcommand};

use crate::config::Settings;

pub use probe::{CpuUse, Probe, own_cpu_seconds};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchCommand,
    /// Confirms the target database is a throwaway: benchmarks restock products and add orders.
    #[arg(long, global = true)]
    pub yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Hot product: purchases/s and p50/p99 per strategy and client count, against pgbench's
    /// one-statement purchase at the same client count.
    Purchases(purchases::PurchasesArgs),
    /// The same purchases over HTTP: `flashsale serve` and the burst engine's HTTP target.
    Http(http::HttpArgs),
    /// Rejections/s once a product is sold out, against the purchase rate.
    SoldOut(soldout::SoldOutArgs),
    /// The dashboard's stats refresh on 10^4, 10^6, 10^7 orders beside full-table queries.
    Stats(stats::StatsArgs),
    /// Rate-limit checks/s through Redis, against redis-benchmark PING on the same server.
    Limiter(limiter::LimiterArgs),
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("benchmarks restock products and add orders; pass --yes to run them against {0}")]
    NeedsYes(String),
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Burst(#[from] crate::burst::BurstError),
}

/// Runs a benchmark and returns its report (markdown).
pub async fn run(args: &BenchArgs, settings: &Settings) -> Result<String, BenchError> {
    if !args.yes
        && !settings.database.is_embedded()
        && !matches!(args.what, BenchCommand::Limiter(_))
    {
        return Err(BenchError::NeedsYes(settings.database.to_string()));
    }
    match &args.what {
        BenchCommand::Purchases(a) => purchases::run(a, settings).await,
        BenchCommand::SoldOut(a) => soldout::run(a, settings).await,
        BenchCommand::Http(a) => http::run(a, settings).await,
        BenchCommand::Limiter(a) => limiter::run(a, settings).await,
        BenchCommand::Stats(a) => stats::run(a, settings).await,
    }
}

/// Parses a list of strategy names like `batched,atomic`.
fn parse_strategies(s: &str) -> Result<Vec<crate::purchase::Strategy>, BenchError> {
    s.split(',')
        .map(|name| {
            name.parse()
                .map_err(|e: crate::purchase::UnknownStrategy| BenchError::Setup(e.to_string()))
        })
        .collect()
}

/// Parses a list of row counts like `10000,1000000`.
fn parse_counts(s: &str) -> Result<Vec<u32>, String> {
    s.split(',')
        .map(|p| crate::config::parse_u32_in(p, 1, 100_000_000))
        .collect()
}

/// Parses a list like `1,8,32`.
fn parse_list(s: &str) -> Result<Vec<u32>, String> {
    s.split(',')
        .map(|p| crate::config::parse_u32_in(p, 1, 100_000))
        .collect()
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
