//! `flashsale bench`'s command line: each benchmark's flags and defaults, turned into the plan
//! `flashsale-bench` runs.

use clap::{Args, Subcommand};
use flashsale_bench::{
    Bench, HttpPlan, LimiterPlan, ManyPlan, Mix, ProcessesPlan, PurchasesPlan, SoldOutPlan,
    StatsPlan,
};
use flashsale_core::config::parse_u32_in;
use flashsale_core::strategy::Strategy;

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
    Purchases(PurchasesArgs),
    /// A sale of many products (uniform or Zipf-like demand), against pgbench's one-statement
    /// purchase over the same products and draw (PostgreSQL only).
    Many(ManyArgs),
    /// One hot product sold by several OS processes at once (`flashsale burst` each, clients
    /// split between them), against one process with all the clients (PostgreSQL only).
    Processes(ProcessesArgs),
    /// The same purchases over HTTP: `flashsale serve` and the burst engine's HTTP target.
    Http(HttpArgs),
    /// Rejections/s once a product is sold out, against the purchase rate.
    SoldOut(SoldOutArgs),
    /// The dashboard's stats refresh on 10^4, 10^6, 10^7 orders beside full-table queries.
    Stats(StatsArgs),
    /// Rate-limit checks/s through Redis, against redis-benchmark PING on the same server.
    Limiter(LimiterArgs),
}

#[derive(Debug, Args)]
pub struct PurchasesArgs {
    /// Purchases per run.
    #[arg(long, default_value_t = 100_000)]
    pub purchases: u32,
    /// Client counts (concurrency).
    #[arg(long, default_value = "1,8,32,64,256", value_parser = parse_clients)]
    pub clients: ClientCounts,
    /// Strategies to measure.
    #[arg(long, default_value = "batched,atomic,row-lock", value_parser = parse_strategies)]
    pub strategies: Strategies,
    /// The hot product.
    #[arg(long, default_value_t = 1)]
    pub product: i32,
}

#[derive(Debug, Args)]
pub struct ManyArgs {
    /// Products in the sale (made for the benchmark, named `bench many <i>`).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub products: u32,
    /// Purchases per run.
    #[arg(long, default_value_t = 100_000)]
    pub purchases: u32,
    /// Purchases in flight.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub clients: u32,
    /// Demand: `uniform`, or `zipf` (a few hot products and a long tail).
    #[arg(long, default_value = "uniform", value_parser = ["uniform", "zipf"])]
    pub demand: String,
    /// Strategies to measure.
    #[arg(long, default_value = "batched,atomic", value_parser = parse_strategies)]
    pub strategies: Strategies,
}

#[derive(Debug, Args)]
pub struct ProcessesArgs {
    /// Process counts to measure; start with 1, the anchor.
    #[arg(long, default_value = "1,2,4,8", value_parser = parse_clients)]
    pub processes: ClientCounts,
    /// Purchases per run, split between the processes.
    #[arg(long, default_value_t = 100_000)]
    pub purchases: u32,
    /// Clients in all, split between the processes.
    #[arg(long, default_value_t = 64)]
    pub clients: u32,
    #[arg(long, default_value = "batched")]
    pub strategy: Strategy,
    #[arg(long, default_value_t = 1)]
    pub product: i32,
    /// Each process forwards the product's purchases to the one that sells it, so they share
    /// commits (`forward_listen` at 127.0.0.1:0 in each); without it each sells alone.
    #[arg(long)]
    pub forward: bool,
}

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Purchases per run.
    #[arg(long, default_value_t = 100_000)]
    pub purchases: u32,
    /// Client counts (concurrency).
    #[arg(long, default_value = "1,8,32,64,256", value_parser = parse_clients)]
    pub clients: ClientCounts,
    /// Strategies the server runs, one server each.
    #[arg(long, default_value = "batched,atomic,row-lock", value_parser = parse_strategies)]
    pub strategies: Strategies,
    #[arg(long, default_value_t = 1)]
    pub product: i32,
    /// Also run each strategy with an `Idempotency-Key` on every purchase, beside the run
    /// without (same server, same client count): keyless, keyed, keyed, keyless, and the keyed
    /// runs' sum over the keyless runs' (a drift of the machine cancels out).
    #[arg(long)]
    pub idempotency: bool,
    /// Also the buyers' mix on each server, purchases:reads (`80:20`, the reference plan's;
    /// `1:50`, read-heavy), beside the same server's HTTP floor (a 404), in the same run.
    #[arg(long)]
    pub mix: Option<Mix>,
}

#[derive(Debug, Args)]
pub struct SoldOutArgs {
    /// Purchases per run (the selling run sells exactly this many units).
    #[arg(long, default_value_t = 100_000)]
    pub purchases: u32,
    /// Purchases of the sold-out product: enough that the run lasts long enough to measure (a
    /// memory answer takes about a microsecond).
    #[arg(long, default_value_t = 1_000_000)]
    pub rejections: u32,
    /// Purchases in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: u32,
    /// Strategies to measure.
    #[arg(long, default_value = "batched,atomic", value_parser = parse_strategies)]
    pub strategies: Strategies,
    #[arg(long, default_value_t = 1)]
    pub product: i32,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Order counts to measure at (each run tops the table up to the count).
    #[arg(long, default_value = "10000,1000000,10000000", value_parser = parse_order_counts)]
    pub orders: OrderCounts,
    /// New orders between two dashboard refreshes.
    #[arg(long, default_value_t = 50)]
    pub new_per_refresh: u32,
    /// On an `orders` partitioned by month (made so if it is empty, as `db init --partitioned`
    /// does; one with orders must already be).
    #[arg(long)]
    pub partitioned: bool,
}

#[derive(Debug, Args)]
pub struct LimiterArgs {
    /// Checks per run.
    #[arg(long, default_value_t = 200_000)]
    pub checks: u64,
    /// Requests in flight (redis-benchmark's -c).
    #[arg(long, default_value_t = 50)]
    pub concurrency: u32,
}

/// A comma-separated list, parsed whole (clap would otherwise read a `Vec` as repeated flags).
#[derive(Debug, Clone)]
pub struct ClientCounts(Vec<u32>);
#[derive(Debug, Clone)]
pub struct OrderCounts(Vec<u32>);
#[derive(Debug, Clone)]
pub struct Strategies(Vec<Strategy>);

/// Parses a list like `1,8,32`.
fn parse_clients(s: &str) -> Result<ClientCounts, String> {
    s.split(',')
        .map(|p| parse_u32_in(p, 1, 100_000))
        .collect::<Result<_, _>>()
        .map(ClientCounts)
}

/// Parses a list of row counts like `10000,1000000`.
fn parse_order_counts(s: &str) -> Result<OrderCounts, String> {
    s.split(',')
        .map(|p| parse_u32_in(p, 1, 100_000_000))
        .collect::<Result<_, _>>()
        .map(OrderCounts)
}

/// Parses a list of strategy names like `batched,atomic`.
fn parse_strategies(s: &str) -> Result<Strategies, String> {
    s.split(',')
        .map(|name| name.parse::<Strategy>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()
        .map(Strategies)
}

impl BenchCommand {
    /// The plan `flashsale-bench` runs.
    pub fn plan(&self) -> Bench {
        match self {
            BenchCommand::Purchases(a) => Bench::Purchases(PurchasesPlan {
                purchases: a.purchases,
                clients: a.clients.0.clone(),
                strategies: a.strategies.0.clone(),
                product: a.product,
            }),
            BenchCommand::Many(a) => Bench::Many(ManyPlan {
                products: a.products,
                purchases: a.purchases,
                clients: a.clients,
                zipf: a.demand == "zipf",
                strategies: a.strategies.0.clone(),
            }),
            BenchCommand::Processes(a) => Bench::Processes(ProcessesPlan {
                processes: a.processes.0.clone(),
                purchases: a.purchases,
                clients: a.clients,
                strategy: a.strategy,
                product: a.product,
                forward: a.forward,
            }),
            BenchCommand::Http(a) => Bench::Http(HttpPlan {
                purchases: a.purchases,
                clients: a.clients.0.clone(),
                strategies: a.strategies.0.clone(),
                product: a.product,
                idempotency: a.idempotency,
                mix: a.mix,
            }),
            BenchCommand::SoldOut(a) => Bench::SoldOut(SoldOutPlan {
                purchases: a.purchases,
                rejections: a.rejections,
                concurrency: a.concurrency,
                strategies: a.strategies.0.clone(),
                product: a.product,
            }),
            BenchCommand::Stats(a) => Bench::Stats(StatsPlan {
                orders: a.orders.0.clone(),
                new_per_refresh: a.new_per_refresh,
                partitioned: a.partitioned,
            }),
            BenchCommand::Limiter(a) => Bench::Limiter(LimiterPlan {
                checks: a.checks,
                concurrency: a.concurrency,
            }),
        }
    }
}
