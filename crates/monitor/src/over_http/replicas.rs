//! One sampler per replica of a deployment watched as a list of URLs (`dashboard --api A,B,C`):
//! its `/api/health` (strategy, what it reports down), `/api/ready` (whether a load balancer
//! would send it traffic) and `/metrics` (purchase counters and handling-time histogram, into
//! one-minute windows). A replica out of reach is a failure of its own sampler only, in the
//! words of the others (`API unreachable: connection refused by ...`, `... timed out`).

use std::time::{Duration, Instant};

use super::http_samplers::Missing;
use super::replies::{describe, metrics_withheld, reached};
use crate::driver::{Sampler, Step, StepContext};
use crate::error_rate::{self, ErrorWindow, Reading};
use crate::purchase_latency::{self, LatencyWindow};
use crate::{Source, Update};
use flashsale_api::Health;
use flashsale_client::ApiClient;

/// What one poll of a replica found. It answered: it is up, whatever it says of itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaReading {
    /// Its place in the `--api` list, from 0.
    pub index: u16,
    /// `/api/health` (200 or 503); `None` when it has no such endpoint or the body was not
    /// one.
    pub health: Option<Health>,
    /// `/api/ready`: 200 is `true`, 503 (draining, a dependency down) is `false`; `None` for
    /// any other answer (no such endpoint).
    pub ready: Option<bool>,
    /// Its purchase counters and their growth over the last minute, or why there are none.
    pub counters: Result<Reading, Missing>,
    /// The p99 of its purchase handling time over the same minute, in ms (a bucket's bound).
    pub p99_ms: Option<f64>,
}

impl ReplicaReading {
    /// Purchases per second over the window; `None` before two reads of the counters.
    pub fn purchases_per_sec(&self) -> Option<f64> {
        let r = self.counters.as_ref().ok()?;
        let c = r.last_minute?;
        let secs = r.span.as_secs_f64();
        (secs > 0.0).then(|| c.purchases as f64 / secs)
    }

    /// Busy and failed purchases as a percentage of the window's; `None` without purchases.
    pub fn error_rate_percent(&self) -> Option<f64> {
        self.counters.as_ref().ok()?.last_minute?.rate_percent()
    }

    /// (errors, purchases) over the window, the order the alert rule takes them in.
    pub fn last_minute(&self) -> Option<(u64, u64)> {
        Some(self.counters.as_ref().ok()?.last_minute?.pair())
    }

    /// The strategy its health report names; `None` when it names none.
    pub fn strategy(&self) -> Option<&str> {
        self.health
            .as_ref()
            .map(|h| h.strategy.as_str())
            .filter(|s| !s.is_empty())
    }
}

/// Polls one replica: its three endpoints at once, every period.
#[derive(Debug)]
pub struct ReplicaSampler {
    index: u16,
    client: ApiClient,
    errors: ErrorWindow,
    latency: LatencyWindow,
    /// As [`super::HttpMetricsSampler`]'s: hold the first good read back and read again this
    /// much later, so a one-off snapshot has a window of its own.
    warm_up: Option<Duration>,
}

impl ReplicaSampler {
    pub fn new(index: u16, client: ApiClient, warm_up: Option<Duration>) -> Self {
        Self {
            index,
            client,
            errors: ErrorWindow::default(),
            latency: LatencyWindow::default(),
            warm_up,
        }
    }
}

impl Sampler for ReplicaSampler {
    type Data = ReplicaReading;

    fn source(&self) -> Source {
        Source::Replica(self.index)
    }

    async fn step(&mut self, _cx: StepContext) -> Step<ReplicaReading> {
        let (health, ready, metrics) = tokio::join!(
            self.client.health(),
            self.client.status_of(flashsale_api::READY),
            self.client.metrics(),
        );
        // Down is out of reach: no endpoint answered at all. The health check's words say
        // how (refused, timed out, unknown host).
        let health = match health {
            Ok(h) => Some(h),
            Err(e)
                if !reached(&e)
                    && ready.as_ref().is_err_and(|r| !reached(r))
                    && metrics.as_ref().is_err_and(|m| !reached(m)) =>
            {
                return Step::Failed {
                    error: describe(&e),
                    partial: None,
                };
            }
            Err(_) => None,
        };
        let ready = match ready {
            Ok(200) => Some(true),
            Ok(503) => Some(false),
            _ => None,
        };
        let now = Instant::now();
        let (counters, p99_ms) = match metrics {
            Ok(body) => {
                let counters = error_rate::purchase_counters(&body)
                    .map(|totals| self.errors.record(now, totals))
                    .ok_or_else(|| {
                        Missing::Failed(format!(
                            "/metrics unreadable: no {} samples in it",
                            error_rate::PURCHASES_METRIC
                        ))
                    });
                let p99 = purchase_latency::purchase_buckets(&body)
                    .and_then(|b| self.latency.record(now, b));
                (counters, p99)
            }
            Err(e) => (
                Err(match metrics_withheld(&e, self.client.has_admin_token()) {
                    Some(reason) => Missing::Withheld(reason),
                    None => Missing::Failed(describe(&e)),
                }),
                None,
            ),
        };
        if counters.is_ok()
            && let Some(gap) = self.warm_up.take()
        {
            return Step::Pending(gap);
        }
        Step::Data(ReplicaReading {
            index: self.index,
            health,
            ready,
            counters,
            p99_ms,
        })
    }

    fn update(data: ReplicaReading) -> Update {
        Update::Replica(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_rate::PurchaseCounts;

    fn reading(last_minute: Option<PurchaseCounts>, span: Duration) -> ReplicaReading {
        ReplicaReading {
            index: 1,
            health: None,
            ready: Some(true),
            counters: Ok(Reading {
                last_minute,
                span,
                totals: PurchaseCounts {
                    purchases: 5_000,
                    errors: 9,
                },
                restarted: false,
            }),
            p99_ms: Some(25.0),
        }
    }

    #[test]
    fn a_replicas_rates_come_from_its_counters_growth_over_the_window() {
        let c = |purchases, errors| Some(PurchaseCounts { purchases, errors });
        let r = reading(c(300, 6), Duration::from_secs(30));
        assert_eq!(r.purchases_per_sec(), Some(10.0));
        assert_eq!(r.error_rate_percent(), Some(2.0));
        assert_eq!(r.last_minute(), Some((6, 300)));
        let r = reading(c(0, 0), Duration::from_secs(30));
        assert_eq!(r.purchases_per_sec(), Some(0.0));
        assert_eq!(r.error_rate_percent(), None, "no purchases: no rate");
        let r = reading(None, Duration::ZERO);
        assert_eq!(r.purchases_per_sec(), None, "one read: totals, not a rate");
        let r = reading(c(10, 0), Duration::ZERO);
        assert_eq!(r.purchases_per_sec(), None, "no time between the reads");
        let r = ReplicaReading {
            counters: Err(Missing::Withheld("the server has no /metrics".into())),
            ..reading(None, Duration::ZERO)
        };
        assert_eq!(
            (r.purchases_per_sec(), r.error_rate_percent()),
            (None, None)
        );
        assert_eq!(r.strategy(), None);
    }

    #[tokio::test]
    async fn a_replica_nobody_listens_on_is_a_failure_of_its_sampler_in_words() {
        // A port just freed: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let client = ApiClient::new(
            &format!("http://127.0.0.1:{port}"),
            1,
            Duration::from_secs(2),
        )
        .expect("client");
        let mut sampler = ReplicaSampler::new(2, client, None);
        assert_eq!(sampler.source(), Source::Replica(2));
        match crate::driver::once(&mut sampler).await {
            crate::driver::Report::Failed { error, partial } => {
                assert!(
                    error.contains("unreachable") && error.contains("refused"),
                    "{error}"
                );
                assert!(partial.is_none());
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
