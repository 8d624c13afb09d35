//! The `batched` strategy's gatherers. Products are spread over [`GATHERERS`] lanes (by id); each
//! lane's task runs one transaction at a time, and purchases arriving while it is in flight, of
//! any of its products, queue up and go together into the next one: a sale of many products
//! shares commits as one hot product does. A lone purchase is applied at once; after a
//! transaction of many, the gatherer waits a moment (at most a quarter of that transaction, and
//! a millisecond) for as many to queue, so buyers who buy again once answered fill the next
//! commit instead of half of it (`regather`). Each caller still gets its own outcome, as if it
//! had bought alone, in arrival order per product.
//! Lanes never share a product, and a transaction of several products locks their rows in id
//! order, so two lanes (or two processes) cannot deadlock.
//!
//! A product found sold out is remembered for a moment: purchases of it are answered `SoldOut`
//! without a lock or a write until the memory expires or a restock clears it (one through this
//! store at once; on PostgreSQL one by another process too, as soon as its notification arrives).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

mod regather;
mod taken_keys;

use self::regather::Regather;
use super::backend::Backend;
use super::sale::{BatchItem, ProductBatch, any_keyed};
use super::{Sale, StoreError};

/// How long a sold-out product is answered from memory alone; after that, one lock-free read
/// confirms it. The bound on how late a restock nobody was told of is seen (one by another
/// tool, or by another process while the PostgreSQL restock listener is down).
pub const SOLD_OUT_MEMORY: Duration = Duration::from_millis(100);
/// A gatherer with nothing to do for this long ends; the next purchase starts a new one.
const IDLE_EXIT: Duration = Duration::from_secs(10);
/// Default most purchases per transaction.
pub const DEFAULT_MAX_BATCH: usize = 256;
/// How many gatherers (transactions in flight at once) a store runs: several products' batches
/// commit side by side, while one product's purchases stay in one lane, one transaction at a
/// time (its row is the bottleneck; two in flight would only queue on its lock).
pub const GATHERERS: usize = 4;

/// What the batcher remembers of a product's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoldOut {
    /// Seen at zero within [`SOLD_OUT_MEMORY`]: answer without the database.
    Known,
    /// Seen at zero earlier: confirm with a lock-free read.
    Stale,
    /// Not known to be sold out.
    Unknown,
}

struct Job {
    product_id: i32,
    item: BatchItem,
    queued: Instant,
    reply: Reply,
}

/// Where a purchase's outcome goes.
pub(crate) enum Reply {
    /// A caller of [`Batcher::submit`], waiting.
    Caller(oneshot::Sender<Result<Sale, StoreError>>),
    /// Straight to where it is wanted (a forwarded purchase's connection), with no task
    /// waiting on it.
    Call(Box<dyn FnOnce(Result<Sale, StoreError>) + Send>),
}

impl Reply {
    fn send(self, answer: Result<Sale, StoreError>) {
        match self {
            Reply::Caller(tx) => {
                let _ = tx.send(answer);
            }
            Reply::Call(f) => f(answer),
        }
    }
}

/// What is remembered of one product.
#[derive(Default)]
struct Lane {
    sold_out_at: Option<Instant>,
    /// One purchase is confirming a stale sold-out with a read; the others keep answering from
    /// memory meanwhile, so an expiry costs one read, not one per purchase in flight.
    confirming: bool,
}

/// The gatherers of one store, shared by its clones.
pub struct Batcher {
    lanes: Mutex<HashMap<i32, Lane>>,
    /// Each gatherer's queue, while it runs; a product's purchases go to `id mod GATHERERS`.
    gatherers: Mutex<[Option<mpsc::UnboundedSender<Job>>; GATHERERS]>,
    max_batch: usize,
    /// A purchase that waited longer than this for its batch to start answers Busy unapplied.
    max_wait: Duration,
    /// [`SOLD_OUT_MEMORY`], in milliseconds; tests lengthen it to see what clears it.
    memory_ms: AtomicU64,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

impl Batcher {
    pub fn new(max_batch: usize, max_wait: Duration) -> Self {
        Self {
            lanes: Mutex::new(HashMap::new()),
            gatherers: Mutex::new(Default::default()),
            max_batch: max_batch.max(1),
            max_wait,
            memory_ms: AtomicU64::new(SOLD_OUT_MEMORY.as_millis() as u64),
        }
    }

    /// Sets how long a sold-out product is answered from memory. For tests: a long memory
    /// shows whether a restock really clears it, instead of the timer.
    #[doc(hidden)]
    pub fn set_sold_out_memory(&self, memory: Duration) {
        self.memory_ms
            .store(memory.as_millis() as u64, Ordering::Relaxed);
    }

    fn lanes(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Lane>> {
        // A poisoned lock only means a holder panicked between plain field writes.
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What is known about a product's being sold out.
    pub fn sold_out(&self, product_id: i32) -> SoldOut {
        let mut lanes = self.lanes();
        let Some(lane) = lanes.get_mut(&product_id) else {
            return SoldOut::Unknown;
        };
        let memory = Duration::from_millis(self.memory_ms.load(Ordering::Relaxed));
        match lane.sold_out_at {
            Some(at) if at.elapsed() < memory => SoldOut::Known,
            Some(_) if lane.confirming => SoldOut::Known,
            Some(_) => {
                lane.confirming = true;
                SoldOut::Stale
            }
            None => SoldOut::Unknown,
        }
    }

    /// Whether anything is remembered of the product's being sold out (no side effect: unlike
    /// [`Batcher::sold_out`], never starts a confirmation).
    pub(crate) fn remembers_sold_out(&self, product_id: i32) -> bool {
        self.lanes()
            .get(&product_id)
            .is_some_and(|lane| lane.sold_out_at.is_some())
    }

    /// Records that the product was just seen with no stock.
    pub fn remember_sold_out(&self, product_id: i32) {
        let mut lanes = self.lanes();
        let lane = lanes.entry(product_id).or_default();
        lane.sold_out_at = Some(Instant::now());
        lane.confirming = false;
    }

    /// The confirming read failed: the next purchase of the product tries it again.
    pub fn confirm_failed(&self, product_id: i32) {
        if let Some(lane) = self.lanes().get_mut(&product_id) {
            lane.confirming = false;
        }
    }

    /// Forgets what is known about a product's stock (after a restock).
    pub fn forget(&self, product_id: i32) {
        if let Some(lane) = self.lanes().get_mut(&product_id) {
            lane.sold_out_at = None;
            lane.confirming = false;
        }
    }

    /// Records what a batch left of a product: zero is remembered, anything else forgets.
    fn note_stock(&self, product_id: i32, stock_left: Option<i32>) {
        match stock_left {
            Some(0) => self.remember_sold_out(product_id),
            _ => self.forget(product_id),
        }
    }

    /// Queues a purchase on its product's gatherer (starting one if needed) and waits for it.
    pub(crate) async fn submit(
        self: &Arc<Self>,
        backend: &Arc<dyn Backend>,
        product_id: i32,
        item: BatchItem,
    ) -> Result<Sale, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(backend, product_id, item, Reply::Caller(reply));
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Other("batch worker stopped".into())))
    }

    /// Queues a purchase on its product's gatherer (starting one if needed); its outcome goes
    /// to `reply`.
    pub(crate) fn enqueue(
        self: &Arc<Self>,
        backend: &Arc<dyn Backend>,
        product_id: i32,
        item: BatchItem,
        reply: Reply,
    ) {
        let mut job = Job {
            product_id,
            item,
            queued: Instant::now(),
            reply,
        };
        // Two tries: a gatherer may have just ended for idleness, dropping its receiver.
        for _ in 0..2 {
            let lane = product_id.rem_euclid(GATHERERS as i32) as usize;
            let sender = self.sender(backend, lane);
            match sender.send(job) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => {
                    job = back;
                    self.gatherers.lock().unwrap_or_else(|e| e.into_inner())[lane] = None;
                }
            }
        }
        job.reply
            .send(Err(StoreError::Other("batch worker unavailable".into())));
    }

    fn sender(
        self: &Arc<Self>,
        backend: &Arc<dyn Backend>,
        lane: usize,
    ) -> mpsc::UnboundedSender<Job> {
        let mut gatherers = self.gatherers.lock().unwrap_or_else(|e| e.into_inner());
        match &gatherers[lane] {
            Some(s) if !s.is_closed() => s.clone(),
            _ => {
                let (tx, rx) = mpsc::unbounded_channel();
                gatherers[lane] = Some(tx.clone());
                tokio::spawn(gather(Arc::clone(backend), Arc::clone(self), rx));
                tx
            }
        }
    }
}

/// One lane's gatherer: take what has queued (up to the cap), apply it as one batch of its
/// products, answer everyone, repeat.
async fn gather(
    backend: Arc<dyn Backend>,
    batcher: Arc<Batcher>,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let (max_batch, max_wait) = (batcher.max_batch, batcher.max_wait);
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    let mut regather = Regather::default();
    while take_queued(&mut rx, &mut jobs, max_batch, IDLE_EXIT).await {
        regather.wait(&mut rx, &mut jobs, max_batch).await;
        let started = Instant::now();
        // Purchases that waited too long for a batch are not applied: the caller hears Busy
        // while the database is clearly not keeping up, instead of waiting without bound.
        let (stale, live): (Vec<Job>, Vec<Job>) =
            jobs.drain(..).partition(|j| j.queued.elapsed() > max_wait);
        for job in stale {
            job.reply
                .send(Err(StoreError::Busy("purchase queue too long".into())));
        }
        if live.is_empty() {
            continue;
        }
        let (batches, replies) = by_product(live);
        let applied = backend.apply_batches(&batches).await;
        let answers = if any_keyed(&batches)
            && applied
                .iter()
                .any(|a| matches!(a, Err(StoreError::Duplicate)))
        {
            // One of the keys was taken (a retry of a request done or in flight): the whole
            // batch rolled back.
            taken_keys::apply_again(&backend, &batcher, &batches).await
        } else {
            let mut answers = Vec::with_capacity(batches.len());
            for (batch, result) in batches.iter().zip(applied) {
                answers.push(match result {
                    Ok((sales, stock_left)) => {
                        batcher.note_stock(batch.product_id, stock_left);
                        sales.into_iter().map(Ok).collect()
                    }
                    Err(e) => vec![Err(e); batch.items.len()],
                });
            }
            answers
        };
        let answered: usize = replies.iter().map(Vec::len).sum();
        for (replies, answers) in replies.into_iter().zip(answers) {
            for (reply, answer) in replies.into_iter().zip(answers) {
                reply.send(answer);
            }
        }
        regather.answered(answered, started.elapsed());
    }
}

/// A gatherer's wait: for the first job, then whatever has queued behind it, up to `max` in
/// `jobs` (which the caller has emptied). After `idle` without a job the queue is closed, so
/// the next caller starts a fresh gatherer, and what slipped in before the close is still
/// taken. `false` when there is nothing left to do: the task ends.
pub(super) async fn take_queued<T>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    jobs: &mut Vec<T>,
    max: usize,
    idle: Duration,
) -> bool {
    let first = match tokio::time::timeout(idle, rx.recv()).await {
        Ok(Some(job)) => job,
        Ok(None) => return false,
        Err(_) => {
            rx.close();
            match rx.try_recv() {
                Ok(job) => job,
                Err(_) => return false,
            }
        }
    };
    jobs.push(first);
    while jobs.len() < max {
        match rx.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    true
}

/// Groups jobs by product, keeping arrival order within each product; the products in id order
/// (the order their rows are locked in).
fn by_product(jobs: Vec<Job>) -> (Vec<ProductBatch>, Vec<Vec<Reply>>) {
    let mut groups: std::collections::BTreeMap<i32, (Vec<BatchItem>, Vec<Reply>)> =
        std::collections::BTreeMap::new();
    for job in jobs {
        let (items, replies) = groups.entry(job.product_id).or_default();
        items.push(job.item);
        replies.push(job.reply);
    }
    groups
        .into_iter()
        .map(|(product_id, (items, replies))| (ProductBatch { product_id, items }, replies))
        .unzip()
}

/// Allocates a batch in arrival order against `stock`, each purchase as if alone: it gets its
/// units if they are still there, else `SoldOut` with what is left. Returns, per item, the
/// stock remaining after it (`Ok`) or the stock it found (`Err`), and the units sold.
pub fn allocate(stock: i32, items: &[BatchItem]) -> (Vec<Result<i32, i32>>, i32) {
    let mut left = stock;
    let allocation = items
        .iter()
        .map(|item| {
            if item.quantity <= left {
                left -= item.quantity;
                Ok(left)
            } else {
                Err(left)
            }
        })
        .collect();
    (allocation, stock - left)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(qs: &[i32]) -> Vec<BatchItem> {
        qs.iter()
            .map(|q| BatchItem {
                user_id: "u".into(),
                quantity: *q,
                key: None,
            })
            .collect()
    }

    #[test]
    fn an_expired_sold_out_is_confirmed_by_one_purchase_while_the_rest_use_memory() {
        let b = Batcher::new(8, Duration::from_secs(1));
        assert_eq!(b.sold_out(7), SoldOut::Unknown);
        b.remember_sold_out(7);
        assert_eq!(b.sold_out(7), SoldOut::Known);
        if let Some(lane) = b.lanes().get_mut(&7) {
            lane.sold_out_at = Instant::now().checked_sub(SOLD_OUT_MEMORY * 2);
        }
        assert_eq!(
            b.sold_out(7),
            SoldOut::Stale,
            "the first after expiry confirms"
        );
        assert_eq!(
            b.sold_out(7),
            SoldOut::Known,
            "the others answer from memory meanwhile"
        );
        b.confirm_failed(7);
        assert_eq!(
            b.sold_out(7),
            SoldOut::Stale,
            "a failed confirmation is tried again"
        );
        b.remember_sold_out(7);
        assert_eq!(b.sold_out(7), SoldOut::Known);
        b.forget(7);
        assert_eq!(b.sold_out(7), SoldOut::Unknown);
    }

    #[test]
    fn allocation_is_in_arrival_order_and_as_if_alone() {
        let (alloc, sold) = allocate(5, &items(&[2, 2, 3, 1, 1]));
        assert_eq!(alloc, vec![Ok(3), Ok(1), Err(1), Ok(0), Err(0)]);
        assert_eq!(sold, 5);
    }

    #[test]
    fn nothing_left_means_all_sold_out() {
        let (alloc, sold) = allocate(0, &items(&[1, 1]));
        assert_eq!(alloc, vec![Err(0), Err(0)]);
        assert_eq!(sold, 0);
    }
}
