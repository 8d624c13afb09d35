//! One hot product sold by several OS processes at once (each a `flashsale burst` of its own,
//! the clients split between them), total and per process, against one process with all the
//! clients in the same run.

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
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Hot product {}, {} purchases and {} clients per run split between the processes, {}, \
         database {}, machine {}.\n",
        plan.product,
        plan.purchases,
        plan.clients,
        plan.strategy,
        settings.database,
        machine()
    );
    let _ = writeln!(
        out,
        "| processes | clients each | purchases/s in all | per process | vs 1 process |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    let mut anchor: Option<f64> = None;
    for &n in &plan.processes {
        let stock = i32::try_from(plan.purchases)
            .unwrap_or(i32::MAX / 2)
            .saturating_mul(2);
        store.set_stock(plan.product, stock).await?;
        tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
        let each_clients = (plan.clients / n).max(1);
        let each_buyers = (plan.purchases / n).max(1);
        let started = Instant::now();
        let children: Vec<_> = (0..n)
            .map(|_| {
                Command::new(&exe)
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
        // Each process's own figure counts from its own start; the total is what the database
        // took over the whole run (start of the first to end of the last).
        let total = purchased as f64 / wall.max(1e-9);
        let per: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.per_s)).collect();
        if anchor.is_none() && n == 1 {
            anchor = Some(total);
        }
        let ratio = anchor
            .filter(|a| *a > 0.0)
            .map_or("-".into(), |a| format!("{:.2}x", total / a));
        let _ = writeln!(
            out,
            "| {n} | {each_clients} | {total:.0} | {} | {ratio} |",
            per.join(" / ")
        );
    }
    store.close().await;
    Ok(out)
}

fn parse_report(stdout: &[u8]) -> Option<ProcessRun> {
    let v: serde_json::Value = serde_json::from_slice(stdout).ok()?;
    let field = |snake: &str, camel: &str| v.get(snake).or_else(|| v.get(camel)).cloned();
    Some(ProcessRun {
        purchased: field("purchased", "purchased")?.as_u64()?,
        per_s: field("throughput_per_s", "throughputPerS")?.as_f64()?,
    })
}
