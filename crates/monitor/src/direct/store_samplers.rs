//! The sources read from the store: stock (`products()`), sales (a baseline once, then only new
//! and missing orders), and the pool (the purchase store's in-memory figures beside the server's
//! `pg_stat_activity`). Each poll is one step for the driver; store errors arrive classified
//! (`flashsale_core::failure`) and are shown as they are.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::Utc;
use serde::Serialize;

use crate::driver::{Sampler, Step, StepContext};
use crate::sales::{self, SalesSnapshot, SalesTally};
use crate::{Source, Update};
use flashsale_core::config::BackendKind;
use flashsale_core::model::Product;
use flashsale_core::store::{AcquireStats, ActivityCount, PoolStatus, Store, StoreError};

/// Whether any query of the samplers has succeeded yet.
pub(super) type Reached = Arc<AtomicBool>;

/// Every product with its stock.
#[derive(Debug)]
pub struct StockSampler {
    store: Store,
    reached: Reached,
}

impl StockSampler {
    pub(super) fn new(store: Store, reached: Reached) -> Self {
        Self { store, reached }
    }
}

impl Sampler for StockSampler {
    type Data = Vec<Product>;

    fn source(&self) -> Source {
        Source::Stock
    }

    async fn step(&mut self, _cx: StepContext) -> Step<Vec<Product>> {
        match self.store.products().await {
            Ok(products) => {
                self.reached.store(true, Ordering::Relaxed);
                Step::Data(products)
            }
            Err(e) => Step::Failed {
                error: e.to_string(),
                partial: None,
            },
        }
    }

    fn update(data: Vec<Product>) -> Update {
        Update::Stock(data)
    }
}

/// Sales counted incrementally: the tally survives between steps.
#[derive(Debug)]
pub struct SalesSampler {
    store: Store,
    reached: Reached,
    tally: Option<SalesTally>,
}

impl SalesSampler {
    pub(super) fn new(store: Store, reached: Reached) -> Self {
        Self {
            store,
            reached,
            tally: None,
        }
    }

    /// The baseline the first time (or after the table was reset), then only new and missing
    /// orders. Returns the snapshot and whether more rows are waiting.
    async fn poll(&mut self) -> Result<(SalesSnapshot, bool), StoreError> {
        let today = Utc::now().date_naive();
        let since = today - chrono::Days::new((flashsale_core::model::REVENUE_DAYS - 1) as u64);
        let mut more = false;
        if let Some(t) = &mut self.tally {
            // A watermark above the table's highest id means the table was emptied (`db
            // reset`): start again from a fresh baseline.
            if self.store.max_order_id().await? < t.high() {
                self.tally = None;
            } else {
                let rows = self
                    .store
                    .orders_since(t.high(), &t.missing(), sales::BATCH)
                    .await?;
                let high = t.high();
                more = rows.iter().filter(|r| r.id > high).count() as i64 >= sales::BATCH;
                t.apply(&rows, Instant::now());
            }
        }
        let t = match &mut self.tally {
            Some(t) => t,
            None => {
                let b = self.store.sales_baseline(since, sales::GAP_WINDOW).await?;
                self.tally
                    .insert(SalesTally::from_baseline(&b, Instant::now()))
            }
        };
        Ok((t.snapshot(Instant::now(), today), more))
    }
}

impl Sampler for SalesSampler {
    type Data = SalesSnapshot;

    fn source(&self) -> Source {
        Source::Sales
    }

    async fn step(&mut self, _cx: StepContext) -> Step<SalesSnapshot> {
        match self.poll().await {
            Ok((snapshot, more)) => {
                self.reached.store(true, Ordering::Relaxed);
                if more {
                    Step::More(snapshot)
                } else {
                    Step::Data(snapshot)
                }
            }
            Err(e) => Step::Failed {
                error: e.to_string(),
                partial: None,
            },
        }
    }

    fn update(data: SalesSnapshot) -> Update {
        Update::Sales(data)
    }
}

/// The pool as the pool pane shows it: our figures, and the server's view when there is one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolSnapshot {
    pub backend: BackendKind,
    pub status: PoolStatus,
    pub acquire: AcquireStats,
    /// `pg_stat_activity` by state; `None` for SQLite.
    pub server: Option<Vec<ActivityCount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_error: Option<String>,
}

/// The purchase store's pool figures, with the server's view queried through the samplers'
/// store.
#[derive(Debug)]
pub struct PoolSampler {
    purchase_store: Store,
    store: Store,
    reached: Reached,
}

impl PoolSampler {
    pub(super) fn new(purchase_store: Store, store: Store, reached: Reached) -> Self {
        Self {
            purchase_store,
            store,
            reached,
        }
    }

    /// The in-memory figures (always good: no query) beside the server's view or its error.
    pub(super) fn figures(
        &self,
        server: Option<Vec<ActivityCount>>,
        server_error: Option<String>,
    ) -> PoolSnapshot {
        PoolSnapshot {
            backend: self.purchase_store.kind(),
            status: self.purchase_store.pool_status(),
            acquire: self.purchase_store.acquire_stats(),
            server,
            server_error,
        }
    }
}

impl Sampler for PoolSampler {
    type Data = PoolSnapshot;

    fn source(&self) -> Source {
        Source::Pool
    }

    async fn step(&mut self, _cx: StepContext) -> Step<PoolSnapshot> {
        match self.store.server_activity().await {
            Ok(server) => {
                self.reached.store(true, Ordering::Relaxed);
                Step::Data(self.figures(server, None))
            }
            Err(e) => {
                let error = e.to_string();
                // The figures still go out: the pane shows them beside the failure.
                Step::Failed {
                    partial: Some(self.figures(None, Some(error.clone()))),
                    error,
                }
            }
        }
    }

    fn update(data: PoolSnapshot) -> Update {
        Update::Pool(data)
    }
}
