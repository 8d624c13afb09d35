//! A sale of many products: purchases spread uniformly, or Zipf-like (a few hot products and a
//! long tail), beside pgbench's one-statement purchase over the same products and the same
//! distribution, at the same client count.

use std::fmt::Write as _;

use super::{BenchError, Probe, machine, pgbench};
use flashsale_burst::{self as burst, BurstSpec, Target, WeightedProduct};
use flashsale_core::config::{DatabaseTarget, Settings};
use flashsale_core::purchase::Purchaser;
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;

#[derive(Debug, Clone)]
pub struct ManyPlan {
    /// Products in the sale (made for the benchmark, `bench many <i>`).
    pub products: u32,
    /// Purchases per run.
    pub purchases: u32,
    /// Purchases in flight.
    pub clients: u32,
    /// Zipf-like demand instead of uniform.
    pub zipf: bool,
    /// Strategies to measure.
    pub strategies: Vec<Strategy>,
}

/// The demand weight of the product of rank `rank` (1 = hottest): 1/rank^s, scaled so that the
/// tail keeps a weight of at least 1.
fn weight(rank: u32, zipf: bool) -> u32 {
    if !zipf {
        return 1;
    }
    let w = 1_000_000.0 / f64::from(rank).powf(pgbench::ZIPF_EXPONENT);
    (w.round() as u32).max(1)
}

pub async fn run(plan: &ManyPlan, settings: &Settings) -> Result<String, BenchError> {
    let DatabaseTarget::Postgres(url) = &settings.database else {
        return Err(BenchError::Setup(
            "bench many compares against pgbench: it needs a PostgreSQL database".into(),
        ));
    };
    let pool = super::postgres_pool(settings, 1)
        .ok_or_else(|| BenchError::Setup("no PostgreSQL pool".into()))?;
    let store = Store::open(&settings.database, &settings.pool).await?;
    let stock = i32::try_from(plan.purchases)
        .unwrap_or(i32::MAX / 2)
        .saturating_mul(2);
    let ids = make_products(&pool, plan.products, stock).await?;
    let (lo, hi) = (ids[0], ids[ids.len() - 1]);
    let dist = if plan.zipf {
        format!("Zipf-like (s = {})", pgbench::ZIPF_EXPONENT)
    } else {
        "uniform".to_string()
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} products (ids {lo}-{hi}), {dist}, {} purchases per run, {} clients, database {}, \
         pool {}, machine {}.\n",
        plan.products,
        plan.purchases,
        plan.clients,
        settings.database,
        settings.pool.max_connections,
        machine()
    );
    let _ = writeln!(
        out,
        "| run | purchases/s | p50 ms | p99 ms | vs pgbench | notes | CPU (cores) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let dir = std::env::temp_dir().join(format!("flashsale-bench-many-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| BenchError::Setup(format!("{}: {e}", dir.display())))?;

    let probe = Probe::start();
    let script = pgbench::spread_script(plan.zipf);
    let vars = [("lo", lo.to_string()), ("hi", hi.to_string())];
    let ran = tokio::task::block_in_place(|| {
        pgbench::run_script(
            url,
            &script,
            &vars,
            plan.clients,
            u64::from(plan.purchases),
            &dir,
        )
    });
    let cpu = probe.finish();
    let anchor = match ran {
        Ok(r) => {
            let _ = writeln!(
                out,
                "| pgbench one-statement | {:.0} | {:.2} | {:.2} | - | same products, same draw | {} |",
                r.per_s,
                r.p50_ms,
                r.p99_ms,
                cpu.summary()
            );
            Some(r.per_s)
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "| pgbench one-statement | - | - | - | - | n/a: {e} | |"
            );
            None
        }
    };

    for &strategy in &plan.strategies {
        restock(&pool, lo, hi, stock).await?;
        tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
        let mut spec = BurstSpec::new(lo, plan.purchases, plan.clients, strategy);
        spec.products = ids
            .iter()
            .zip(1..)
            .map(|(&id, rank)| WeightedProduct {
                id,
                weight: weight(rank, plan.zipf),
            })
            .collect();
        spec.ips = 1;
        let purchaser = Purchaser::new(store.clone(), RateLimiter::off(), settings.max_quantity);
        let syncs_before = store.wal_syncs().await?;
        let probe = Probe::start();
        let report = burst::run_to_end(spec, Target::Local(purchaser), Some(store.clone())).await?;
        let cpu = probe.finish();
        tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
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
        let ratio = super::times(report.throughput_per_s, anchor);
        let _ = writeln!(
            out,
            "| {strategy} | {:.0} | {:.2} | {:.2} | {ratio} | {note} | {} |",
            report.throughput_per_s,
            report.latency_ms.p50,
            report.latency_ms.p99,
            cpu.summary()
        );
    }
    store.close().await;
    Ok(out)
}

/// The sale's products, made once per database and reused: `bench many 1` .. `bench many N`,
/// with consecutive ids (pgbench draws ids from a range).
async fn make_products(pool: &sqlx::PgPool, n: u32, stock: i32) -> Result<Vec<i32>, BenchError> {
    let setup = |e: sqlx::Error| BenchError::Setup(format!("creating the sale's products: {e}"));
    let existing: Vec<i32> =
        sqlx::query_scalar("SELECT id FROM products WHERE name LIKE 'bench many %' ORDER BY id")
            .fetch_all(pool)
            .await
            .map_err(setup)?;
    let contiguous = |ids: &[i32]| ids.windows(2).all(|w| w[1] == w[0] + 1);
    let ids = if existing.len() == n as usize && contiguous(&existing) {
        existing
    } else {
        sqlx::query("DELETE FROM products WHERE name LIKE 'bench many %' AND NOT EXISTS (SELECT 1 FROM orders WHERE orders.product_id = products.id)")
            .execute(pool)
            .await
            .map_err(setup)?;
        sqlx::query("UPDATE products SET name = 'retired ' || name WHERE name LIKE 'bench many %'")
            .execute(pool)
            .await
            .map_err(setup)?;
        sqlx::query_scalar(
            "INSERT INTO products (name, description, image_url, stock, price)
             SELECT 'bench many ' || g, 'a product of bench many', '', $2, 9.99
             FROM generate_series(1, $1) g ORDER BY g RETURNING id",
        )
        .bind(i32::try_from(n).unwrap_or(i32::MAX))
        .bind(stock)
        .fetch_all(pool)
        .await
        .map_err(setup)?
    };
    let mut ids = ids;
    ids.sort_unstable();
    if ids.is_empty() || !contiguous(&ids) {
        return Err(BenchError::Setup(
            "the sale's products did not get consecutive ids (another writer?); run again".into(),
        ));
    }
    restock(pool, ids[0], ids[ids.len() - 1], stock).await?;
    Ok(ids)
}

async fn restock(pool: &sqlx::PgPool, lo: i32, hi: i32, stock: i32) -> Result<(), BenchError> {
    sqlx::query("UPDATE products SET stock = $3 WHERE id BETWEEN $1 AND $2")
        .bind(lo)
        .bind(hi)
        .bind(stock)
        .execute(pool)
        .await
        .map_err(|e| BenchError::Setup(format!("restocking the sale's products: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::weight;

    #[test]
    fn zipf_weights_fall_with_rank_and_uniform_ones_do_not() {
        assert_eq!(weight(1, false), weight(100, false));
        assert!(weight(1, true) > 10 * weight(10, true));
        assert!(weight(100, true) >= 1);
    }
}
