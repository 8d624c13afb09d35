//! The final report of a burst: the JSON object scripts read, and the readable summary with a
//! latency histogram that people read.

use std::fmt::Write as _;

use serde::Serialize;

use super::tally::{ErrorReason, Latency, Tally};
use flashsale_core::audit::Audit;
use flashsale_core::format::ms;
use flashsale_core::strategy::Strategy;

/// Why the burst stopped starting purchases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StopReason {
    /// Every planned purchase ran.
    Completed,
    /// Cancelled (Esc, Ctrl-C): the rest were never started.
    Cancelled,
    /// The time limit passed: the rest were never started.
    TimeLimit,
}

/// One bar of the latency histogram: purchases that took up to `up_to_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    pub up_to_ms: f64,
    pub count: u64,
}

/// Everything a burst did. Field names are part of the CLI's contract (`burst --json`), in
/// camelCase like every other JSON of ours and the reference system's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BurstReport {
    /// For an HTTP target, the server's own strategy as its health report names it (`null`
    /// when it does not say); the burst engine leaves it `None` and `flashsale burst` fills it.
    pub strategy: Option<Strategy>,
    /// True for strategies that can oversell (`naive`).
    pub unsafe_strategy: bool,
    pub target: String,
    /// The first (or only) product.
    pub product_id: i32,
    pub products: Vec<i32>,
    pub buyers: u32,
    pub concurrency: u32,
    /// "closed" or "open".
    pub load_model: &'static str,
    /// Purchases planned: `attempts` plus `cancelled`.
    pub planned: u64,
    /// Purchases that ran (the sum of every outcome): fewer than planned after a cancel or
    /// the time limit.
    pub attempts: u64,
    pub purchased: u64,
    pub units_purchased: u64,
    pub sold_out: u64,
    pub not_found: u64,
    pub rate_limited: u64,
    pub rate_limited_user: u64,
    pub rate_limited_ip: u64,
    pub invalid: u64,
    pub busy: u64,
    pub failed: u64,
    /// Why purchases were busy or failed, the most frequent first (empty when none were).
    pub error_reasons: Vec<ErrorReason>,
    /// Planned purchases never started (cancel or time limit).
    pub cancelled: u64,
    pub stopped_by: StopReason,
    pub duration_ms: u64,
    pub throughput_per_s: f64,
    pub latency_ms: Latency,
    /// `None` when the database could not be read (then `audit_error` says why).
    pub audit: Option<Audit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_error: Option<String>,
    pub user_prefix: String,
    pub seed: u64,
    pub latency_histogram: Vec<Bucket>,
    /// The event streams held open during the burst (`--watchers`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watchers: Option<super::WatchReport>,
}

/// Bucket bounds of the summary's histogram, in ms.
const BOUNDS_MS: [f64; 16] = [
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    5000.0,
    f64::INFINITY,
];

/// Counts of the tally's latencies per bucket, empty buckets at either end trimmed.
pub fn buckets(tally: &Tally) -> Vec<Bucket> {
    let h = tally.histogram();
    let mut out = Vec::new();
    let mut low = 0u64;
    for bound in BOUNDS_MS {
        let high = if bound.is_finite() {
            (bound * 1000.0) as u64
        } else {
            h.max().max(low)
        };
        let count = if h.is_empty() || high < low {
            0
        } else {
            h.count_between(low, high)
        };
        out.push(Bucket {
            up_to_ms: bound,
            count,
        });
        low = high + 1;
    }
    let first = out.iter().position(|b| b.count > 0).unwrap_or(0);
    let last = out
        .iter()
        .rposition(|b| b.count > 0)
        .map(|i| i + 1)
        .unwrap_or(0);
    out.get(first..last)
        .map(<[Bucket]>::to_vec)
        .unwrap_or_default()
}

impl BurstReport {
    /// Whether purchases ran and every one of them was busy or failed: the burst measured
    /// nothing but a broken setup (a server that is not there, a database refusing us).
    pub fn all_failed(&self) -> bool {
        self.attempts > 0 && self.busy + self.failed == self.attempts
    }

    /// Whether the audit ran and found nothing wrong.
    pub fn audit_ok(&self) -> Option<bool> {
        self.audit.map(|a| a.ok)
    }

    /// The report as `flashsale burst --json` prints it, pretty: the one serializer behind
    /// `--json`, `--report FILE` and the dashboard's export, so the three cannot drift apart.
    pub fn json(&self) -> Result<String, String> {
        serde_json::to_string_pretty(self).map_err(|e| format!("the report as JSON: {e}"))
    }

    /// The readable summary.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let strategy = self
            .strategy
            .map(Strategy::label)
            .unwrap_or_else(|| "server's strategy".into());
        let _ = writeln!(
            o,
            "burst: {} purchases of product {} by {} buyers, {}, {} model (concurrency {}), against {}",
            self.planned,
            self.products
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(","),
            self.buyers,
            strategy,
            self.load_model,
            self.concurrency,
            self.target
        );
        let _ = writeln!(
            o,
            "  ran {}, {}, {}",
            if self.duration_ms < 1000 {
                format!("{} ms", self.duration_ms)
            } else {
                format!("{:.2} s", self.duration_ms as f64 / 1000.0)
            },
            if self.all_failed() {
                "no purchase went through".to_string()
            } else {
                format!("{:.0} purchases/s", self.throughput_per_s)
            },
            match self.stopped_by {
                _ if self.all_failed() => format!(
                    "every one of the {} purchases that ran was busy or failed",
                    self.attempts
                ),
                StopReason::Completed => "every purchase ran".to_string(),
                StopReason::Cancelled => format!(
                    "cancelled after {} of {}: the rest never started",
                    self.attempts, self.planned
                ),
                StopReason::TimeLimit => format!(
                    "time limit reached after {} of {}: the rest never started",
                    self.attempts, self.planned
                ),
            }
        );
        let _ = writeln!(o, "\noutcomes");
        for (name, n) in [
            ("purchased", self.purchased),
            ("sold out", self.sold_out),
            ("rate limited (user)", self.rate_limited_user),
            ("rate limited (ip)", self.rate_limited_ip),
            ("not found", self.not_found),
            ("invalid", self.invalid),
            ("busy", self.busy),
            ("failed", self.failed),
            ("cancelled", self.cancelled),
        ] {
            if n > 0 || name == "purchased" {
                let _ = writeln!(o, "  {name:<20} {n:>9}");
            }
        }
        let _ = writeln!(o, "  {:<20} {:>9}", "units purchased", self.units_purchased);
        if !self.error_reasons.is_empty() {
            let _ = writeln!(o, "\nwhy purchases were busy or failed");
            for r in &self.error_reasons {
                let _ = writeln!(o, "  {:>9}  {}", r.count, r.reason);
            }
        }
        let l = self.latency_ms;
        let _ = writeln!(
            o,
            "\nlatency ms   p50 {}   p90 {}   p99 {}   p99.9 {}   max {}",
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max)
        );
        let peak = self
            .latency_histogram
            .iter()
            .map(|b| b.count)
            .max()
            .unwrap_or(0)
            .max(1);
        for b in &self.latency_histogram {
            let label = if b.up_to_ms.is_finite() {
                format!("<= {} ms", b.up_to_ms)
            } else {
                "slower".to_string()
            };
            let bar = "#".repeat(((b.count * 40).div_ceil(peak)) as usize);
            let _ = writeln!(o, "  {label:>12} {:>9} {bar}", b.count);
        }
        let _ = writeln!(o);
        if let Some(w) = &self.watchers {
            o.push_str(&w.text());
        }
        match (&self.audit, &self.audit_error) {
            (Some(a), _) => {
                let _ = writeln!(
                    o,
                    "audit: {}   (stock {} -> {}, units sold {}, oversold {}, lost updates {}, unacknowledged {}, phantom {})",
                    a.verdict(),
                    a.stock_before,
                    a.stock_after,
                    a.units_sold,
                    a.oversold,
                    a.lost_updates,
                    a.unacknowledged,
                    a.phantom
                );
            }
            (None, Some(e)) => {
                let _ = writeln!(o, "audit: NOT RUN ({e})");
            }
            (None, None) => {
                let _ = writeln!(o, "audit: NOT RUN");
            }
        }
        if let Some(s) = self.strategy.filter(|s| s.is_unsafe()) {
            let _ = writeln!(
                o,
                "strategy {s} is UNSAFE: it exists to show what overselling looks like"
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::Record;
    use flashsale_core::purchase::OutcomeKind;
    use std::time::Duration;

    #[test]
    fn histogram_buckets_count_every_latency_once() {
        let mut t = Tally::new(1);
        for ms in [1u64, 1, 3, 7, 40, 40, 40, 900] {
            t.record(&Record {
                product: 0,
                kind: OutcomeKind::SoldOut,
                units: 0,
                order_id: None,
                latency: Duration::from_millis(ms),
                reason: None,
                change: None,
            });
        }
        let b = buckets(&t);
        assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 8);
        assert_eq!(b.first().map(|b| b.up_to_ms), Some(1.0));
        assert_eq!(b.last().map(|b| b.up_to_ms), Some(1000.0));
    }

    #[test]
    fn empty_tally_has_no_buckets() {
        assert!(buckets(&Tally::new(1)).is_empty());
    }
}
