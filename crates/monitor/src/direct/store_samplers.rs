//! The sources read from the store: stock (`products()`), sales (a baseline once, then only new
//! and missing orders), and the pool (the purchase store's in-memory figures beside the server's
//! `pg_stat_activity`). Each poll is one step for the driver; store errors arrive classified
//! (`flashsale_core::failure`) and are shown as they are.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::Utc;
use serde::Serialize;

use super::read_route::ReadRoute;
use crate::driver::{Sampler, Step, StepContext};
use crate::read_replica::ReadsFrom;
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
    reads: ReadRoute,
    reached: Reached,
}

impl StockSampler {
    pub(super) fn new(reads: ReadRoute, reached: Reached) -> Self {
        Self { reads, reached }
    }
}

impl Sampler for StockSampler {
    type Data = Vec<Product>;

    fn source(&self) -> Source {
        Source::Stock
    }

    async fn step(&mut self, _cx: StepContext) -> Step<Vec<Product>> {
        let products = self.reads.read(async |store| store.products().await);
        match products.await {
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
    reads: ReadRoute,
    reached: Reached,
    /// The tally, and the server it was counted on.
    tally: Option<(SalesTally, ReadsFrom)>,
}

impl SalesSampler {
    pub(super) fn new(reads: ReadRoute, reached: Reached) -> Self {
        Self {
            reads,
            reached,
            tally: None,
        }
    }

    /// One poll, on the read replica while it answers (the whole poll on one server: a
    /// replica's figures are a moment behind the primary's, never a mix of the two).
    async fn poll(&mut self) -> Result<(SalesSnapshot, bool), StoreError> {
        let (store, from) = self.reads.pick();
        match self.poll_on(&store, from).await {
            Err(e) if from == ReadsFrom::Replica => {
                self.reads.mark_down(&e);
                let primary = self.reads.primary().clone();
                self.poll_on(&primary, ReadsFrom::Primary).await
            }
            other => other,
        }
    }

    /// [`poll_on_tally`](Self::poll_on_tally) with the tally kept for `from`: one counted on
    /// the other server starts again from a baseline (the replica is behind the primary, so
    /// one's watermarks are not the other's).
    async fn poll_on(
        &mut self,
        store: &Store,
        from: ReadsFrom,
    ) -> Result<(SalesSnapshot, bool), StoreError> {
        let mut tally = match self.tally.take() {
            Some((t, on)) if on == from => Some(t),
            _ => None,
        };
        let polled = Self::poll_on_tally(&mut tally, store).await;
        self.tally = tally.map(|t| (t, from));
        polled
    }

    /// The baseline the first time (or after the table was reset), then only new and missing
    /// orders. Returns the snapshot and whether more rows are waiting.
    async fn poll_on_tally(
        tally: &mut Option<SalesTally>,
        store: &Store,
    ) -> Result<(SalesSnapshot, bool), StoreError> {
        let today = Utc::now().date_naive();
        let since = today - chrono::Days::new((flashsale_core::model::REVENUE_DAYS - 1) as u64);
        let mut more = false;
        if let Some(t) = &mut *tally {
            // A watermark above the table's highest id means the table was emptied (`db
            // reset`): start again from a fresh baseline.
            if store.max_order_id().await? < t.high() {
                *tally = None;
            } else {
                let rows = store
                    .orders_since(t.high(), &t.missing(), sales::BATCH)
                    .await?;
                let high = t.high();
                more = rows.iter().filter(|r| r.id > high).count() as i64 >= sales::BATCH;
                t.apply(&rows, Instant::now());
            }
        }
        let t = match &mut *tally {
            Some(t) => t,
            None => {
                let b = store.sales_baseline(since, sales::GAP_WINDOW).await?;
                tally.insert(SalesTally::from_baseline(&b, Instant::now()))
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
