//! Fires a burst: workers (closed model) or a scheduler (open model) run purchases through the
//! target and send each result to a collector, which aggregates and publishes progress. A
//! cancellation token stops new purchases; purchases already started always run to their end,
//! so nothing is left half-done.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::rng::SplitMix;
use super::spec::{BurstSpec, Load};
use super::tally::{Progress, Record, Tally};
use super::target::Target;
use flashsale_core::purchase::PurchaseRequest;

/// How often progress is published: at least 4 times a second.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// The shared counters of a running burst.
struct Shared {
    spec: BurstSpec,
    target: Target,
    started: Arc<AtomicU64>,
    records: mpsc::UnboundedSender<Record>,
}

impl Shared {
    /// The `i`-th purchase: its buyer, product and quantity are fixed by the index and the seed,
    /// so the same spec replays the same purchases.
    async fn fire(&self, i: u64, measured_from: Instant) {
        let mut rng = SplitMix::new(self.spec.seed ^ i.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let product = self.spec.pick_product(&mut rng);
        let quantity = self.spec.quantity.pick(&mut rng);
        let buyer = self.spec.buyer_of(i);
        let user = self.spec.user_id(buyer);
        let key = self
            .spec
            .idempotency_keys
            .then(|| format!("{}-{i}", self.spec.user_prefix));
        let outcome = self
            .target
            .purchase(
                PurchaseRequest {
                    product_id: i64::from(self.spec.products[product].id),
                    user_id: &user,
                    client_ip: self.spec.ip_of(buyer),
                    quantity: i64::from(quantity),
                    strategy: self.spec.strategy,
                },
                key.as_deref(),
            )
            .await;
        let _ = self
            .records
            .send(Record::new(product, &outcome, measured_from.elapsed()));
    }
}

/// What the firing phase produced.
pub struct Fired {
    pub tally: Tally,
    pub started: u64,
    pub elapsed: Duration,
}

/// Runs the purchases of `spec` against `target` until done or cancelled, publishing progress.
pub async fn fire(
    spec: BurstSpec,
    target: Target,
    progress: watch::Sender<Progress>,
    cancel: CancellationToken,
) -> Fired {
    let planned = spec.planned();
    let (tx, rx) = mpsc::unbounded_channel();
    let started = Arc::new(AtomicU64::new(0));
    let tally = if spec.watchers > 0 {
        Tally::keeping_changes(spec.products.len())
    } else {
        Tally::new(spec.products.len())
    };
    let shared = Arc::new(Shared {
        spec,
        target,
        started: Arc::clone(&started),
        records: tx,
    });
    let start = Instant::now();
    let collector = tokio::spawn(collect(
        rx,
        tally,
        planned,
        Arc::clone(&started),
        progress,
        start,
    ));
    match shared.spec.load.clone() {
        Load::Closed { concurrency } => closed(&shared, planned, concurrency, &cancel).await,
        Load::Open { .. } => open(&shared, start, &cancel).await,
    }
    // Dropping the last sender ends the collector once it has drained every record.
    drop(shared);
    let tally = collector.await.unwrap_or_else(|_| Tally::new(0));
    Fired {
        tally,
        started: started.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
    }
}

/// `concurrency` workers, each taking the next purchase when its last one ends.
async fn closed(shared: &Arc<Shared>, planned: u64, concurrency: u32, cancel: &CancellationToken) {
    let next = Arc::new(AtomicU64::new(0));
    let workers = u64::from(concurrency).min(planned.max(1));
    let mut set = JoinSet::new();
    for _ in 0..workers {
        let (shared, next, cancel) = (Arc::clone(shared), Arc::clone(&next), cancel.clone());
        set.spawn(async move {
            // Cancellation is only looked at between purchases: a started one always finishes.
            while !cancel.is_cancelled() {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= planned {
                    break;
                }
                shared.started.fetch_add(1, Ordering::Relaxed);
                shared.fire(i, Instant::now()).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
}

/// Arrivals on the phases' schedule; latency counts from each arrival's intended time, so a
/// stalled server shows as latency instead of as fewer requests (coordinated omission).
async fn open(shared: &Arc<Shared>, start: Instant, cancel: &CancellationToken) {
    let Load::Open {
        phases,
        max_in_flight,
    } = shared.spec.load.clone()
    else {
        return;
    };
    let permits = Arc::new(Semaphore::new(max_in_flight as usize));
    let mut set = JoinSet::new();
    let mut i = 0u64;
    let mut phase_start = start;
    'phases: for phase in phases {
        let gap = Duration::from_secs_f64(1.0 / phase.rate_per_s);
        for k in 0..phase.arrivals() {
            let intended = phase_start + gap.mul_f64(k as f64);
            tokio::select! {
                _ = cancel.cancelled() => break 'phases,
                _ = tokio::time::sleep_until(intended) => {}
            }
            let permit = tokio::select! {
                _ = cancel.cancelled() => break 'phases,
                p = Arc::clone(&permits).acquire_owned() => p,
            };
            let shared = Arc::clone(shared);
            shared.started.fetch_add(1, Ordering::Relaxed);
            let index = i;
            set.spawn(async move {
                shared.fire(index, intended).await;
                drop(permit);
            });
            i += 1;
            // Reap finished tasks as we go so the set does not grow with the whole schedule.
            while set.try_join_next().is_some() {}
        }
        phase_start += phase.duration;
    }
    while set.join_next().await.is_some() {}
}

async fn collect(
    mut rx: mpsc::UnboundedReceiver<Record>,
    mut tally: Tally,
    planned: u64,
    started: Arc<AtomicU64>,
    progress: watch::Sender<Progress>,
    start: Instant,
) -> Tally {
    let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Unbiased: under a flood of records the tick still gets its turn.
        tokio::select! {
            record = rx.recv() => match record {
                Some(r) => tally.record(&r),
                None => break,
            },
            _ = tick.tick() => {
                let _ = progress.send(tally.snapshot(planned, started.load(Ordering::Relaxed), start.elapsed()));
            }
        }
    }
    tally
}
