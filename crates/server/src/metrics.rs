//! Counters for `/metrics`, in Prometheus text format: purchases by outcome and strategy, a
//! latency histogram of purchase requests, idempotent replays; pool and Redis gauges are read
//! at scrape time. Lock-free: every request adds to atomics.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flashsale_core::purchase::OutcomeKind;
use flashsale_core::store::PoolStatus;
use flashsale_core::strategy::Strategy;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
const KINDS: usize = OutcomeKind::ALL.len();
const STRATEGIES: usize = Strategy::ALL.len();

/// Redis as the scrape found it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RedisGauge {
    NotConfigured,
    Up(Duration),
    Down,
}

#[derive(Debug, Default)]
pub struct Metrics {
    purchases: [[AtomicU64; STRATEGIES]; KINDS],
    /// Cumulative counts per bucket are computed at render time from these.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_micros: AtomicU64,
    replays: AtomicU64,
    slow_requests: AtomicU64,
}

fn strategy_index(s: Strategy) -> usize {
    Strategy::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

impl Metrics {
    /// Counts one purchase request and its handling time.
    pub fn purchase(&self, kind: OutcomeKind, strategy: Strategy, elapsed: Duration) {
        self.purchases[kind.index()][strategy_index(strategy)].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn replay(&self) {
        self.replays.fetch_add(1, Ordering::Relaxed);
    }

    pub fn slow_request(&self) {
        self.slow_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// How many purchases ended in `kind` with `strategy` (for tests and the dashboard).
    pub fn purchases(&self, kind: OutcomeKind, strategy: Strategy) -> u64 {
        self.purchases[kind.index()][strategy_index(strategy)].load(Ordering::Relaxed)
    }

    /// The text exposition.
    pub fn render(&self, pool: PoolStatus, redis: RedisGauge) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP flashsale_purchases_total Purchase requests by outcome and strategy.\n\
             # TYPE flashsale_purchases_total counter"
        );
        for kind in OutcomeKind::ALL {
            for strategy in Strategy::ALL {
                let _ = writeln!(
                    out,
                    "flashsale_purchases_total{{outcome=\"{}\",strategy=\"{}\"}} {}",
                    kind.as_str(),
                    strategy.as_str(),
                    self.purchases(kind, strategy)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP flashsale_purchase_duration_seconds Handling time of purchase requests.\n\
             # TYPE flashsale_purchase_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "flashsale_purchase_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[BUCKETS.len()].load(Ordering::Relaxed);
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "flashsale_purchase_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n\
             flashsale_purchase_duration_seconds_sum {sum}\n\
             flashsale_purchase_duration_seconds_count {cumulative}"
        );
        gauge(
            &mut out,
            "flashsale_idempotent_replays_total",
            "counter",
            "Purchases answered from an earlier request with the same Idempotency-Key.",
            self.replays.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "flashsale_slow_requests_total",
            "counter",
            "Requests slower than the slow-request threshold.",
            self.slow_requests.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "flashsale_db_pool_connections",
            "gauge",
            "Open database connections.",
            f64::from(pool.size),
        );
        gauge(
            &mut out,
            "flashsale_db_pool_idle",
            "gauge",
            "Open, idle database connections.",
            f64::from(pool.idle),
        );
        gauge(
            &mut out,
            "flashsale_db_pool_max",
            "gauge",
            "Configured maximum database connections.",
            f64::from(pool.max),
        );
        let (configured, up, latency) = match redis {
            RedisGauge::NotConfigured => (0.0, 0.0, None),
            RedisGauge::Up(d) => (1.0, 1.0, Some(d.as_secs_f64())),
            RedisGauge::Down => (1.0, 0.0, None),
        };
        gauge(
            &mut out,
            "flashsale_redis_configured",
            "gauge",
            "1 when a Redis rate limiter is configured.",
            configured,
        );
        gauge(
            &mut out,
            "flashsale_redis_up",
            "gauge",
            "1 when Redis answered PING within its timeout at this scrape.",
            up,
        );
        if let Some(latency) = latency {
            gauge(
                &mut out,
                "flashsale_redis_ping_seconds",
                "gauge",
                "Round trip of a Redis PING at this scrape.",
                latency,
            );
        }
        out
    }
}

fn gauge(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets_render_cumulatively() {
        let m = Metrics::default();
        m.purchase(
            OutcomeKind::Purchased,
            Strategy::Atomic,
            Duration::from_millis(3),
        );
        m.purchase(
            OutcomeKind::SoldOut,
            Strategy::Atomic,
            Duration::from_secs(9),
        );
        let text = m.render(PoolStatus::default(), RedisGauge::Down);
        assert!(
            text.contains("flashsale_purchases_total{outcome=\"purchased\",strategy=\"atomic\"} 1")
        );
        assert!(text.contains("flashsale_purchase_duration_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("flashsale_purchase_duration_seconds_bucket{le=\"5\"} 1"));
        assert!(text.contains("flashsale_purchase_duration_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(text.contains("flashsale_purchase_duration_seconds_count 2"));
        assert!(text.contains("flashsale_redis_up 0"));
    }
}
