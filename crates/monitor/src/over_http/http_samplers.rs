//! The sources over HTTP besides the products: the statistics (`/api/admin/stats`, as sales of
//! the top products), the server's health report (`/api/health`; a 503 is a report too), and
//! its purchase counters (`/metrics`, into a one-minute window of their growth).

use std::time::{Duration, Instant};

use super::replies::{describe, metrics_withheld, no_health, withheld};
use crate::driver::{Sampler, Step, StepContext};
use crate::error_rate::{self, ErrorWindow, PurchaseCounts, Reading};
use crate::sales::{DaySales, ProductSales, SalesCoverage, SalesSnapshot};
use crate::{Source, Update};
use flashsale_api::Health;
use flashsale_client::ApiClient;
use flashsale_core::model::Stats;

/// The server's statistics as the sales panes read them: totals and revenue by day as given,
/// the top products only (their revenue and the units per day are not on the wire, and sell
/// rates come from the stock polls instead).
pub fn sales_from_stats(stats: &Stats) -> SalesSnapshot {
    SalesSnapshot {
        total_revenue: stats.total_revenue,
        total_units_sold: stats.total_units_sold,
        products: stats
            .top_products
            .iter()
            .map(|t| ProductSales {
                product_id: t.id,
                units: t.total_sold,
                revenue: t.revenue,
                units_last_minute: 0,
            })
            .collect(),
        revenue_by_day: stats
            .revenue_by_day
            .iter()
            .map(|d| DaySales {
                date: d.date.clone(),
                revenue: d.revenue,
                units: d.units,
            })
            .collect(),
        coverage: SalesCoverage::TopProducts,
        ..SalesSnapshot::default()
    }
}

/// The statistics; without the admin token they are withheld, not failed.
#[derive(Debug)]
pub struct HttpStatsSampler {
    client: ApiClient,
}

impl HttpStatsSampler {
    pub fn new(client: ApiClient) -> Self {
        Self { client }
    }
}

impl Sampler for HttpStatsSampler {
    type Data = Stats;

    fn source(&self) -> Source {
        Source::Sales
    }

    async fn step(&mut self, _cx: StepContext) -> Step<Stats> {
        match self.client.stats().await {
            Ok(stats) => Step::Data(stats),
            Err(e) => match withheld(&e, self.client.has_admin_token()) {
                Some(reason) => Step::Withheld(reason),
                None => Step::Failed {
                    error: describe(&e),
                    partial: None,
                },
            },
        }
    }

    fn update(data: Stats) -> Update {
        Update::Sales(sales_from_stats(&data))
    }
}

/// The server's health report; a server with no such endpoint withholds it.
#[derive(Debug)]
pub struct HttpHealthSampler {
    client: ApiClient,
}

impl HttpHealthSampler {
    pub fn new(client: ApiClient) -> Self {
        Self { client }
    }
}

impl Sampler for HttpHealthSampler {
    type Data = Health;

    fn source(&self) -> Source {
        Source::Health
    }

    async fn step(&mut self, _cx: StepContext) -> Step<Health> {
        match self.client.health().await {
            Ok(health) => Step::Data(health),
            Err(e) => match no_health(&e) {
                Some(reason) => Step::Withheld(reason),
                None => Step::Failed {
                    error: describe(&e),
                    partial: None,
                },
            },
        }
    }

    fn update(data: Health) -> Update {
        Update::Health(data)
    }
}

/// Why the server's purchase counters are missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// The server keeps them to itself, or has none: said calmly, asked again later.
    Withheld(String),
    /// The read failed, or the body holds no counter we can read.
    Failed(String),
}

/// Reads the server's purchase counters from `/metrics`.
pub async fn purchase_counters(client: &ApiClient) -> Result<PurchaseCounts, Missing> {
    match client.metrics().await {
        Ok(body) => error_rate::purchase_counters(&body).ok_or_else(|| {
            Missing::Failed(format!(
                "/metrics unreadable: no {} samples in it",
                error_rate::PURCHASES_METRIC
            ))
        }),
        Err(e) => Err(match metrics_withheld(&e, client.has_admin_token()) {
            Some(reason) => Missing::Withheld(reason),
            None => Missing::Failed(describe(&e)),
        }),
    }
}

/// The purchase counters, read every period into a one-minute window. A failed read leaves the
/// window as it is: counters are cumulative, so the next good read's growth covers the gap.
#[derive(Debug)]
pub struct HttpMetricsSampler {
    client: ApiClient,
    window: ErrorWindow,
    /// Hold the first good read back and read again this much later, so that the first report
    /// has a window of its own (a one-off snapshot: one read gives totals, not a rate).
    warm_up: Option<Duration>,
}

impl HttpMetricsSampler {
    /// A sampler whose first report is its first read (`warm_up` `None`, the dashboard's), or a
    /// second read `warm_up` after the first.
    pub fn new(client: ApiClient, warm_up: Option<Duration>) -> Self {
        Self {
            client,
            window: ErrorWindow::default(),
            warm_up,
        }
    }
}

impl Sampler for HttpMetricsSampler {
    type Data = Reading;

    fn source(&self) -> Source {
        Source::Metrics
    }

    async fn step(&mut self, _cx: StepContext) -> Step<Reading> {
        match purchase_counters(&self.client).await {
            Ok(totals) => {
                let reading = self.window.record(Instant::now(), totals);
                match self.warm_up.take() {
                    Some(gap) => Step::Pending(gap),
                    None => Step::Data(reading),
                }
            }
            Err(Missing::Withheld(reason)) => Step::Withheld(reason),
            Err(Missing::Failed(error)) => Step::Failed {
                error,
                partial: None,
            },
        }
    }

    fn update(data: Reading) -> Update {
        Update::ServerPurchases(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_core::model::{DayRevenue, TopProduct};
    use flashsale_core::money::Money;

    #[test]
    fn stats_become_sales_of_the_top_products_only() {
        let stats = Stats {
            total_revenue: Money::from_cents(100_000),
            total_units_sold: 14,
            top_products: vec![TopProduct {
                id: 5,
                name: "Hub".into(),
                total_sold: 4,
                revenue: Money::ZERO,
            }],
            revenue_by_day: vec![DayRevenue {
                date: "2026-11-25".into(),
                revenue: Money::from_cents(100_000),
                units: 0,
            }],
        };
        let s = sales_from_stats(&stats);
        assert_eq!(s.coverage, SalesCoverage::TopProducts);
        assert_eq!(s.total_units_sold, 14);
        assert_eq!(s.of(5).map(|p| p.units), Some(4));
        assert_eq!(s.of(1), None, "not listed: unknown, not zero");
        assert_eq!(s.revenue_by_day[0].revenue, Money::from_cents(100_000));
    }
}
