//! Hot-product purchases: every strategy through the shared module at each client count, beside
//! pgbench's one-statement purchase at the same count.

use std::fmt::Write as _;

use super::{BenchError, Probe, machine, pgbench};
use flashsale_burst::{self as burst, BurstSpec, Target};
use flashsale_core::config::{DatabaseTarget, Settings};
use flashsale_core::purchase::Purchaser;
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;

#[derive(Debug, Clone)]
pub struct PurchasesPlan {
    /// Purchases per run.
    pub purchases: u32,
    /// Client counts (concurrency).
    pub clients: Vec<u32>,
    /// Strategies to measure.
    pub strategies: Vec<Strategy>,
    /// The hot product.
    pub product: i32,
}

/// One strategy's figures at one client count.
#[derive(Debug, Clone)]
struct Row {
    label: String,
    per_s: f64,
    p50: f64,
    p99: f64,
    note: String,
    bound: String,
}

pub async fn run(plan: &PurchasesPlan, settings: &Settings) -> Result<String, BenchError> {
    let strategies = plan.strategies.clone();
    let clients = plan.clients.clone();
    let store = Store::open(&settings.database, &settings.pool).await?;
    let pg_url = match &settings.database {
        DatabaseTarget::Postgres(url) => Some(url.clone()),
        DatabaseTarget::Sqlite { .. } => None,
    };
    let dir = tempdir()?;
    let stock = i32::try_from(plan.purchases)
        .unwrap_or(i32::MAX / 2)
        .saturating_mul(2);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Hot product {}, {} purchases per run, database {}, pool {}, machine {}.\n",
        plan.product,
        plan.purchases,
        settings.database,
        settings.pool.max_connections,
        machine()
    );
    let _ = writeln!(
        out,
        "| clients | run | purchases/s | p50 ms | p99 ms | vs pgbench | notes | CPU (cores) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for &c in &clients {
        let mut rows = Vec::new();
        let mut anchor = None;
        if let Some(url) = &pg_url {
            store.set_stock(plan.product, stock).await?;
            let probe = Probe::start();
            let ran = tokio::task::block_in_place(|| {
                pgbench::run(url, plan.product, c, u64::from(plan.purchases), &dir)
            });
            let cpu = probe.finish();
            match ran {
                Ok(r) => {
                    anchor = Some(r.per_s);
                    rows.push(Row {
                        label: "pgbench one-statement".into(),
                        per_s: r.per_s,
                        p50: r.p50_ms,
                        p99: r.p99_ms,
                        note: String::new(),
                        bound: cpu.summary(),
                    });
                }
                Err(e) => rows.push(Row {
                    label: "pgbench one-statement".into(),
                    per_s: 0.0,
                    p50: 0.0,
                    p99: 0.0,
                    note: format!("n/a: {e}"),
                    bound: String::new(),
                }),
            }
        }
        for &strategy in &strategies {
            store.set_stock(plan.product, stock).await?;
            if pg_url.is_some() {
                tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
            }
            let mut spec = BurstSpec::new(plan.product, plan.purchases, c, strategy);
            spec.ips = 1;
            let purchaser =
                Purchaser::new(store.clone(), RateLimiter::off(), settings.max_quantity);
            let syncs_before = store.wal_syncs().await?;
            let waits = super::postgres_pool(settings, 1).map(super::probe::WaitSampler::start);
            let probe = Probe::start();
            let report =
                burst::run_to_end(spec, Target::Local(purchaser), Some(store.clone())).await?;
            let cpu = probe.finish();
            let waits = match waits {
                Some(w) => Some(w.finish().await),
                None => None,
            };
            // Backends publish their WAL statistics once idle for a second; wait for that.
            if syncs_before.is_some() {
                tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
            }
            let syncs = store
                .wal_syncs()
                .await?
                .zip(syncs_before)
                .map(|(a, b)| a - b);
            let audit = super::audit_verdict(&report);
            let mut note = format!("audit {audit}");
            if report.busy + report.failed > 0 {
                let _ = write!(note, ", {} busy, {} failed", report.busy, report.failed);
            }
            if let Some(syncs) = syncs.filter(|s| *s > 0) {
                let _ = write!(
                    note,
                    ", {:.1} purchases per WAL sync",
                    report.purchased as f64 / syncs as f64
                );
            }
            if let Some(w) = waits {
                let _ = write!(note, "; {}", w.summary());
            }
            rows.push(Row {
                label: strategy.to_string(),
                per_s: report.throughput_per_s,
                p50: report.latency_ms.p50,
                p99: report.latency_ms.p99,
                note,
                bound: cpu.summary(),
            });
        }
        for r in rows {
            let ratio = if r.label.starts_with("pgbench") {
                "-".into()
            } else {
                super::times(r.per_s, anchor)
            };
            let _ = writeln!(
                out,
                "| {c} | {} | {:.0} | {:.2} | {:.2} | {ratio} | {} | {} |",
                r.label, r.per_s, r.p50, r.p99, r.note, r.bound
            );
        }
    }
    store.close().await;
    Ok(out)
}

fn tempdir() -> Result<std::path::PathBuf, BenchError> {
    let dir = std::env::temp_dir().join(format!("flashsale-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| BenchError::Setup(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}
