//! The sold-out path: once a product has no stock, how fast purchases are refused, beside the
//! rate at which the same strategy sold it.

use std::fmt::Write as _;

use super::{BenchError, Probe, machine};
use flashsale_burst::{self as burst, BurstSpec, Target};
use flashsale_core::config::Settings;
use flashsale_core::purchase::Purchaser;
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;

#[derive(Debug, Clone)]
pub struct SoldOutPlan {
    /// Purchases per run (the selling run sells exactly this many units).
    pub purchases: u32,
    /// Purchases of the sold-out product: enough that the run lasts long enough to measure (a
    /// memory answer takes about a microsecond).
    pub rejections: u32,
    /// Purchases in flight.
    pub concurrency: u32,
    /// Strategies to measure.
    pub strategies: Vec<Strategy>,
    pub product: i32,
}

pub async fn run(plan: &SoldOutPlan, settings: &Settings) -> Result<String, BenchError> {
    let store = Store::open(&settings.database, &settings.pool).await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Product {}, {} purchases selling it out then {} meeting it at zero, at concurrency {}, database {}, machine {}.\n",
        plan.product,
        plan.purchases,
        plan.rejections,
        plan.concurrency,
        settings.database,
        machine()
    );
    let _ = writeln!(
        out,
        "| strategy | selling purchases/s | sold-out rejections/s | ratio | rejection p99 ms | CPU while rejecting (cores) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for &strategy in &plan.strategies {
        let fire = |spec: BurstSpec| {
            let purchaser =
                Purchaser::new(store.clone(), RateLimiter::off(), settings.max_quantity);
            burst::run_to_end(spec, Target::Local(purchaser), Some(store.clone()))
        };
        let mut selling = BurstSpec::new(plan.product, plan.purchases, plan.concurrency, strategy);
        selling.restock = Some(i32::try_from(plan.purchases).unwrap_or(i32::MAX));
        selling.ips = 1;
        let sold = fire(selling).await?;
        let mut rejecting =
            BurstSpec::new(plan.product, plan.rejections, plan.concurrency, strategy);
        rejecting.ips = 1;
        let probe = Probe::start();
        let refused = fire(rejecting).await?;
        let cpu = probe.finish();
        // A sale at zero stock would be a bug: stop. A purchase that could not get an answer
        // (busy or failed: the database too slow or unreachable for a confirming read) is the
        // machine's state, not a wrong answer: it is reported beside the figure.
        if refused.purchased > 0 {
            return Err(BenchError::Setup(format!(
                "{strategy}: {} purchases succeeded at zero stock",
                refused.purchased
            )));
        }
        let unanswered = u64::from(plan.rejections) - refused.sold_out;
        let note = if unanswered > 0 {
            format!(
                " ({unanswered} not answered sold out: {} busy, {} failed, {} other)",
                refused.busy,
                refused.failed,
                unanswered.saturating_sub(refused.busy + refused.failed)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {strategy} | {:.0} | {:.0}{note} | {:.1}x | {:.3} | {} |",
            sold.throughput_per_s,
            refused.throughput_per_s,
            refused.throughput_per_s / sold.throughput_per_s.max(1.0),
            refused.latency_ms.p99,
            cpu.summary()
        );
    }
    store.close().await;
    Ok(out)
}
