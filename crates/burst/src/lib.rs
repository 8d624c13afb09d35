//! The burst engine: storms of concurrent purchases through the shared purchase module (or an
//! HTTP server), with live progress, latency percentiles and an oversell audit.
//!
//! ```text
//!  start(spec, target) ─> [restock] ─> audit scope ─> engine::fire ─┬─> workers ─> target
//!                                                                   └─> collector ─> watch<Progress>
//!                     <─ BurstReport <─ audit (database, independent of what buyers were told)
//! ```
//!
//! With `spec.watchers`, event streams are opened on the HTTP target before the first purchase
//! and timed against the purchases' stock changes after the last (`watchers`).

mod engine;
pub mod report;
pub mod rng;
pub mod spec;
pub mod tally;
pub mod target;
pub mod watchers;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use engine::PROGRESS_INTERVAL;
pub use report::{BurstReport, StopReason};
pub use spec::{BurstSpec, Load, Phase, Quantity, WeightedProduct};
pub use tally::{Counts, ErrorReason, Latency, Progress};
pub use target::Target;
pub use watchers::WatchReport;

use flashsale_core::audit::{Audit, AuditScope};
use flashsale_core::store::{Store, StoreError};

/// Why a burst could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BurstError {
    #[error("invalid burst: {0}")]
    Invalid(String),
    #[error("product {0} does not exist")]
    UnknownProduct(i32),
    #[error("--restock needs database access (give --database-url)")]
    RestockNeedsDatabase,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the burst task stopped unexpectedly")]
    Crashed,
    #[error("--watchers: {0}")]
    Watchers(#[from] watchers::WatchError),
}

/// A running burst: watch its progress, cancel it, await its report.
#[derive(Debug)]
pub struct BurstHandle {
    progress: watch::Receiver<Progress>,
    cancel: CancellationToken,
    task: JoinHandle<Result<BurstReport, BurstError>>,
}

impl BurstHandle {
    /// A receiver of progress snapshots (at least 4 a second while it runs).
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// Stops starting purchases; those in flight finish, then the audit runs.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A token that cancels this burst, for signal handlers and key bindings.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for the report.
    pub async fn finish(self) -> Result<BurstReport, BurstError> {
        self.task.await.unwrap_or(Err(BurstError::Crashed))
    }
}

/// Starts a burst on the current tokio runtime. `auditor` is the database the audit (and any
/// restock) reads and writes; without one the report says it could not audit.
pub fn start(
    spec: BurstSpec,
    target: Target,
    auditor: Option<Store>,
) -> Result<BurstHandle, BurstError> {
    spec.validate().map_err(BurstError::Invalid)?;
    if spec.restock.is_some() && auditor.is_none() {
        return Err(BurstError::RestockNeedsDatabase);
    }
    if spec.watchers > 0 && matches!(target, Target::Local(_)) {
        return Err(BurstError::Invalid(
            "watchers need an HTTP target (--target): they hold the server's event streams".into(),
        ));
    }
    let (tx, rx) = watch::channel(Progress {
        planned: spec.planned(),
        ..Progress::default()
    });
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(spec, target, auditor, tx, cancel.clone()));
    Ok(BurstHandle {
        progress: rx,
        cancel,
        task,
    })
}

/// Runs a burst to its report (a convenience over [`start`] + [`BurstHandle::finish`]).
pub async fn run_to_end(
    spec: BurstSpec,
    target: Target,
    auditor: Option<Store>,
) -> Result<BurstReport, BurstError> {
    start(spec, target, auditor)?.finish().await
}

async fn run(
    spec: BurstSpec,
    target: Target,
    auditor: Option<Store>,
    progress: watch::Sender<Progress>,
    cancel: CancellationToken,
) -> Result<BurstReport, BurstError> {
    let ids: Vec<i32> = spec.products.iter().map(|p| p.id).collect();
    if let Target::Http(client) = &target
        && spec.watchers > 0
    {
        // One stream first, so a server without them is refused before any restock is written.
        watchers::Watchers::open(client, &ids, 1).await?;
    }
    let scopes = match &auditor {
        Some(store) => Some(prepare(&spec, store).await?),
        None => None,
    };
    let timed_out = Arc::new(AtomicBool::new(false));
    if let Some(limit) = spec.time_limit {
        let (cancel, timed_out) = (cancel.clone(), Arc::clone(&timed_out));
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(limit) => {
                    timed_out.store(true, Ordering::Relaxed);
                    cancel.cancel();
                }
                _ = cancel.cancelled() => {}
            }
        });
    }
    let description = target.describe();
    let target_kind = match &target {
        Target::Local(_) => TargetKind::Local,
        Target::Http(_) => TargetKind::Http,
    };
    // Opened after any restock, so each stream's first figure is the burst's starting stock.
    let watching = match &target {
        Target::Http(client) if spec.watchers > 0 => {
            Some(watchers::Watchers::open(client, &ids, spec.watchers).await?)
        }
        _ => None,
    };
    let fired = engine::fire(spec.clone(), target, progress.clone(), cancel.clone()).await;
    let watched = match watching {
        Some(w) => Some(w.finish(fired.tally.changes()).await),
        None => None,
    };
    let stopped_by = if fired.started >= spec.planned() {
        StopReason::Completed
    } else if timed_out.load(Ordering::Relaxed) {
        StopReason::TimeLimit
    } else {
        StopReason::Cancelled
    };
    // Stop the time-limit timer, if any.
    cancel.cancel();

    let (audit, audit_error) = match (&auditor, &scopes) {
        (Some(store), Some(scopes)) => {
            let mut audits = Vec::with_capacity(scopes.len());
            let mut error = None;
            for (i, scope) in scopes.iter().enumerate() {
                match Audit::run(store, scope, fired.tally.acknowledged(i)).await {
                    Ok(a) => audits.push(a),
                    Err(e) => {
                        error = Some(format!("could not audit: {e}"));
                        break;
                    }
                }
            }
            match error {
                None => (Some(Audit::combine(&audits)), None),
                Some(e) => (None, Some(e)),
            }
        }
        _ => (
            None,
            Some("no database access to audit against".to_string()),
        ),
    };

    let mut last = fired
        .tally
        .clone()
        .snapshot(spec.planned(), fired.started, fired.elapsed);
    last.finished = true;
    let _ = progress.send(last);

    let counts = fired.tally.counts();
    let secs = fired.elapsed.as_secs_f64();
    let local = matches!(target_kind, TargetKind::Local);
    Ok(BurstReport {
        strategy: local.then_some(spec.strategy),
        unsafe_strategy: local && spec.strategy.is_unsafe(),
        target: description,
        product_id: spec.products[0].id,
        products: spec.products.iter().map(|p| p.id).collect(),
        buyers: spec.buyers,
        concurrency: spec.concurrency(),
        load_model: match spec.load {
            Load::Closed { .. } => "closed",
            Load::Open { .. } => "open",
        },
        planned: spec.planned(),
        attempts: counts.total(),
        purchased: counts.purchased,
        units_purchased: fired.tally.units(),
        sold_out: counts.sold_out,
        not_found: counts.not_found,
        rate_limited: counts.rate_limited(),
        rate_limited_user: counts.rate_limited_user,
        rate_limited_ip: counts.rate_limited_ip,
        invalid: counts.invalid,
        busy: counts.busy,
        failed: counts.failed,
        error_reasons: fired.tally.error_reasons(),
        cancelled: spec.planned().saturating_sub(fired.started),
        stopped_by,
        duration_ms: fired.elapsed.as_millis() as u64,
        throughput_per_s: if secs > 0.0 {
            counts.total() as f64 / secs
        } else {
            0.0
        },
        latency_ms: fired.tally.latency(),
        audit,
        audit_error,
        user_prefix: spec.user_prefix.clone(),
        seed: spec.seed,
        latency_histogram: report::buckets(&fired.tally),
        watchers: watched,
    })
}

enum TargetKind {
    Local,
    Http,
}

/// Restocks when asked, then records each product's audit scope.
async fn prepare(spec: &BurstSpec, store: &Store) -> Result<Vec<AuditScope>, BurstError> {
    let mut scopes = Vec::with_capacity(spec.products.len());
    for p in &spec.products {
        if let Some(stock) = spec.restock
            && !store.set_stock(p.id, stock).await?
        {
            return Err(BurstError::UnknownProduct(p.id));
        }
        let scope = AuditScope::before(store, p.id, &spec.user_prefix).await?;
        if spec.restock.is_none() && store.stock(p.id).await?.is_none() {
            return Err(BurstError::UnknownProduct(p.id));
        }
        scopes.push(scope);
    }
    Ok(scopes)
}
