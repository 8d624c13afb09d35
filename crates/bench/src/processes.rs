//! One hot product sold by several OS processes at once (each a `flashsale burst` of its own,
//! the clients split between them), total and per process, against one process with all the
//! clients in the same run.
//!
//! The total is the database's: the run's orders over the time between its first and last
//! transactions (`orders.created_at`, each transaction's start). Measured from outside (the
//! first process started to the last one ended) it would also count every process's start and
//! its audit, which grow with the number of processes on two cores and sell nothing; that wall
//! figure is printed beside it. Each run is audited here too, in SQL: the units gone from the
//! product (its row and every lease) are the units of the run's orders, and their count is
//! the purchases the processes reported.

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::{BenchError, machine};
use flashsale_core::config::{DatabaseTarget, Settings};
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;

#[derive(Debug, Clone)]
pub struct ProcessesPlan {
    /// Process counts to measure (the first run is the anchor when it is 1).
    pub processes: Vec<u32>,
    /// Purchases per run, split between the processes.
    pub purchases: u32,
    /// Clients in all, split between the processes.
    pub clients: u32,
    pub strategy: Strategy,
    pub product: i32,
    /// Every process forwards to the product's seller (`forward_listen`), sharing its commits.
    pub forward: bool,
}

/// What one process of a run reported.
struct ProcessRun {
    purchased: u64,
    per_s: f64,
}

pub async fn run(plan: &ProcessesPlan, settings: &Settings) -> Result<String, BenchError> {
    let DatabaseTarget::Postgres(url) = &settings.database else {
        return Err(BenchError::Setup(
            "bench processes runs several processes on one database: it needs PostgreSQL".into(),
        ));
    };
    let exe = std::env::current_exe()
        .map_err(|e| BenchError::Setup(format!("cannot find this program's path: {e}")))?;
    let store = Store::open(&settings.database, &settings.pool).await?;
    let pool = super::postgres_pool(settings, 1)
        .ok_or_else(|| BenchError::Setup("no PostgreSQL pool".into()))?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Hot product {}, {} purchases and {} clients per run split between the processes, {}, \
         {}, database {}, machine {}.\n",
        plan.product,
        plan.purchases,
        plan.clients,
        plan.strategy,
        if plan.forward {
            "forwarded to one seller (forward_listen)"
        } else {
            "each process selling alone"
        },
        settings.database,
        machine()
    );
    let _ = writeln!(
        out,
        "| processes | clients each | purchases/s in all | per process | vs 1 process | \
         wall figure (with starts and audits) | audit |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let mut anchor: Option<f64> = None;
    for &n in &plan.processes {
        refuse_if_sold_elsewhere(&pool, plan.product).await?;
        let stock = i32::try_from(plan.purchases)
            .unwrap_or(i32::MAX / 2)
            .saturating_mul(2);
        store.set_stock(plan.product, stock).await?;
        tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
        let last_before = store.max_order_id().await?;
        let each_clients = (plan.clients / n).max(1);
        let each_buyers = (plan.purchases / n).max(1);
        let started = Instant::now();
        let children: Vec<_> = (0..n)
            .map(|_| {
                let mut burst = Command::new(&exe);
                if plan.forward {
                    burst.env("FLASHSALE_FORWARD_LISTEN", "127.0.0.1:0");
                }
                burst
                    .args(["burst", "--json", "--no-rate-limit"])
                    .args(["--product", &plan.product.to_string()])
                    .args(["--buyers", &each_buyers.to_string()])
                    .args(["--concurrency", &each_clients.to_string()])
                    .args(["--strategy", &plan.strategy.to_string()])
                    .env("DATABASE_URL", url.expose())
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
            })
            .collect::<Result<_, _>>()
            .map_err(|e| BenchError::Setup(format!("cannot start a burst process: {e}")))?;
        let runs = tokio::task::block_in_place(|| {
            children
                .into_iter()
                .map(|c| {
                    let output = c
                        .wait_with_output()
                        .map_err(|e| BenchError::Setup(format!("burst process: {e}")))?;
                    parse_report(&output.stdout).ok_or_else(|| {
                        BenchError::Setup(format!(
                            "a burst process printed no report: {}",
                            String::from_utf8_lossy(&output.stderr)
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })?;
        let wall = started.elapsed().as_secs_f64();
        let purchased: u64 = runs.iter().map(|r| r.purchased).sum();
        let orders = run_orders(&pool, last_before, plan.product).await?;
        let left = store.stock(plan.product).await?.unwrap_or(0);
        let audit = audit(&orders, purchased, stock, left);
        // Each process's own figure counts from its own start; the total is the database's
        // over the run's transactions (see the module).
        let total = if orders.window_s > 0.0 {
            orders.count as f64 / orders.window_s
        } else {
            purchased as f64 / wall.max(1e-9)
        };
        let wall_total = purchased as f64 / wall.max(1e-9);
        let per: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.per_s)).collect();
        if anchor.is_none() && n == 1 {
            anchor = Some(total);
        }
        let ratio = anchor
            .filter(|a| *a > 0.0)
            .map_or("-".into(), |a| format!("{:.2}x", total / a));
        let _ = writeln!(
            out,
            "| {n} | {each_clients} | {total:.0} | {} | {ratio} | {wall_total:.0} | {audit} |",
            per.join(" / ")
        );
    }
    store.close().await;
    Ok(out)
}

/// A lease renewed this recently belongs to a process that is still selling (its keeper renews
/// every 500 ms); one older is a process gone, whose lease the next restock drops.
const LIVE_LEASE_S: f64 = 1.5;

/// Refuses a run while another process sells the product (it holds a live stock lease): its
/// orders would count as the run's, the restock before each run would drop its lease, and the
/// audit would report units gone that no order of the run took.
async fn refuse_if_sold_elsewhere(pool: &sqlx::PgPool, product: i32) -> Result<(), BenchError> {
    let leases: bool = sqlx::query_scalar("SELECT to_regclass('stock_leases') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(|e| BenchError::Setup(format!("looking for stock leases: {e}")))?;
    if !leases {
        // Not migrated by us: nobody can have leased from it.
        return Ok(());
    }
    let live: Option<(i64, f64)> = sqlx::query_as(
        "SELECT count(*), EXTRACT(EPOCH FROM clock_timestamp() - max(renewed_at))::float8
         FROM stock_leases
         WHERE product_id = $1 AND renewed_at > clock_timestamp() - make_interval(secs => $2)
         HAVING count(*) > 0",
    )
    .bind(product)
    .bind(LIVE_LEASE_S)
    .fetch_optional(pool)
    .await
    .map_err(|e| BenchError::Setup(format!("reading the product's stock leases: {e}")))?;
    match live {
        None => Ok(()),
        Some((holders, age_s)) => Err(BenchError::Setup(format!(
            "product {product} is being sold by {holders} other process(es) (a stock lease \
             renewed {:.1} s ago): bench processes needs the product to itself, so let the \
             other run end (or pick another --product)",
            age_s.max(0.0)
        ))),
    }
}

/// The orders a run made: how many, their units, and the seconds from its first transaction
/// to its last.
struct RunOrders {
    count: i64,
    units: i64,
    window_s: f64,
}

async fn run_orders(
    pool: &sqlx::PgPool,
    last_before: i64,
    product: i32,
) -> Result<RunOrders, BenchError> {
    let (count, units, window_s): (i64, i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), COALESCE(sum(quantity), 0)::int8,
                EXTRACT(EPOCH FROM max(created_at) - min(created_at))::float8
         FROM orders WHERE id > $1 AND product_id = $2",
    )
    .bind(last_before)
    .bind(product)
    .fetch_one(pool)
    .await
    .map_err(|e| BenchError::Setup(format!("reading the run's orders: {e}")))?;
    Ok(RunOrders {
        count,
        units,
        window_s: window_s.unwrap_or(0.0),
    })
}

/// `OK`, or what does not add up: units gone from the product against the run's orders' units,
/// and the orders against the purchases the processes reported.
fn audit(orders: &RunOrders, purchased: u64, stock_before: i32, stock_after: i32) -> String {
    let gone = i64::from(stock_before) - i64::from(stock_after);
    let mut wrong = Vec::new();
    if gone != orders.units {
        wrong.push(format!(
            "{gone} units gone, {} in the run's orders",
            orders.units
        ));
    }
    if u64::try_from(orders.count).ok() != Some(purchased) {
        wrong.push(format!(
            "{} orders, {purchased} purchases reported",
            orders.count
        ));
    }
    if wrong.is_empty() {
        "OK".into()
    } else {
        format!("FAILED: {}", wrong.join("; "))
    }
}

fn parse_report(stdout: &[u8]) -> Option<ProcessRun> {
    let v: serde_json::Value = serde_json::from_slice(stdout).ok()?;
    let field = |snake: &str, camel: &str| v.get(snake).or_else(|| v.get(camel)).cloned();
    Some(ProcessRun {
        purchased: field("purchased", "purchased")?.as_u64()?,
        per_s: field("throughput_per_s", "throughputPerS")?.as_f64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders(count: i64, units: i64) -> RunOrders {
        RunOrders {
            count,
            units,
            window_s: 1.0,
        }
    }

    #[test]
    fn the_audit_names_what_does_not_add_up() {
        assert_eq!(audit(&orders(10, 12), 10, 100, 88), "OK");
        assert_eq!(
            audit(&orders(10, 12), 10, 100, 87),
            "FAILED: 13 units gone, 12 in the run's orders"
        );
        assert_eq!(
            audit(&orders(10, 12), 11, 100, 88),
            "FAILED: 10 orders, 11 purchases reported"
        );
    }
}
