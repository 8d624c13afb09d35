//! The stock changes that `GET /api/stock/{id}/events` and `GET /api/stock/events?ids=` push:
//! one `watch` channel per watched product, holding its latest figure and the sequence number
//! of the change that set it. "Latest value" semantics: a stream that falls behind skips to
//! the newest figure, so nothing is ever queued per stream.
//!
//! Two sources publish, through one rule (a figure replaces the held one only if it covers
//! more, as in `read_view`):
//!
//! - this process's purchases, at their answer (`note`);
//! - one poller task per process (`run`): while any product is watched, every `every` (the
//!   read view's staleness bound, 100 ms by default) it reads the stock of every watched
//!   product in ONE query and notes each figure, so changes by other processes and tools
//!   (another `serve`, a burst, plain SQL) are seen within the bound. No stream ever queries.
//!
//! Coalescing happens here, once for every stream: a product's figure is published at most
//! once per `every`; a change noted sooner waits (the latest one wins) until that much time
//! has passed since the previous one. The poller also drops products nobody watches any more
//! and, once a second, the streams whose client has stopped reading (`Probe`).
//!
//! Sequence numbers are per process, from 1, one per published change of any product; a
//! stream's `id:` is `<boot>-<seq>`, `boot` telling this process from another (or from its
//! own earlier run), so a `Last-Event-ID` of another process is ignored and the client gets
//! every figure afresh.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, watch};

mod poller;

pub use poller::run;

use super::chunked;
use super::connections::Slot;
use flashsale_core::store::{Store, StoreError};

/// The figure a product's channel holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    pub stock: i32,
    /// The change that set it (see the module).
    pub seq: u64,
    /// Its event as every stream sends it (`id:` and `data:` lines), written once per change
    /// however many streams send it.
    pub frame: Bytes,
    /// The same as one chunk of a chunked body, for the streams written on their socket.
    pub chunk: Bytes,
}

/// One watched product.
#[derive(Debug)]
struct Watched {
    id: i32,
    tx: watch::Sender<Tick>,
    /// Every commit of this process before this moment is in the held figure.
    covers: Instant,
    /// When the held figure was published.
    published: Instant,
    /// A newer figure waiting for the coalescing interval: units, covers.
    pending: Option<(i32, Instant)>,
    /// Since when nobody watches it: no longer polled, and forgotten after
    /// [`FORGET_AFTER`]. Kept meanwhile so that its change numbers still mean something to a
    /// client that resumes.
    dormant_since: Option<Instant>,
}

/// A stream's liveness as the poller sees it: when it last handed hyper a frame, and the
/// connection to close when that is too long ago.
#[derive(Debug)]
pub struct Probe {
    /// Milliseconds since the hub's epoch.
    last_frame: AtomicU64,
    slot: Option<Arc<Slot>>,
    /// Written on its socket by us (`event_socket`), not by hyper.
    on_socket: bool,
}

/// Every watched product and every open stream; see the module.
#[derive(Debug)]
pub struct StockEvents {
    every: Duration,
    heartbeat: Duration,
    boot: u32,
    epoch: Instant,
    seq: AtomicU64,
    products: Mutex<HashMap<i32, Watched>>,
    streams: Mutex<HashMap<u64, Arc<Probe>>>,
    next_stream: AtomicU64,
    wake: Notify,
}

/// How long a product nobody watches keeps its figure and change number.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// How often a stream's connection is checked for a client that stopped reading.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change is a call on plain fields: a panic elsewhere leaves the map sound.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl StockEvents {
    /// `every`: the coalescing interval and the poll period (zero: 100 ms); `heartbeat`: the
    /// silence after which a stream gets a comment.
    pub fn new(every: Duration, heartbeat: Duration) -> Self {
        let every = if every.is_zero() {
            Duration::from_millis(100)
        } else {
            every
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let boot = (now.subsec_nanos() ^ (now.as_secs() as u32).rotate_left(16))
            ^ std::process::id().rotate_left(8);
        Self {
            every,
            heartbeat: heartbeat.max(Duration::from_millis(1)),
            boot,
            epoch: Instant::now(),
            seq: AtomicU64::new(0),
            products: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
            next_stream: AtomicU64::new(0),
            wake: Notify::new(),
        }
    }

    pub fn every(&self) -> Duration {
        self.every
    }

    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    /// A stream that has not taken a frame for this long is dropped.
    pub fn stall_limit(&self) -> Duration {
        self.heartbeat * 2
    }

    /// The `id:` of the change `seq`.
    pub fn event_id(&self, seq: u64) -> String {
        format!("{:08x}-{seq}", self.boot)
    }

    /// The sequence number of a `Last-Event-ID` this process wrote; `None` for anything else.
    pub fn resume_point(&self, last_event_id: &str) -> Option<u64> {
        let (boot, seq) = last_event_id.trim().split_once('-')?;
        if u32::from_str_radix(boot, 16).ok()? != self.boot {
            return None;
        }
        seq.parse().ok()
    }

    /// Channels of `ids`, reading in one query those nobody watches yet. `Ok(Err(missing))`
    /// names the ids that are no product.
    pub async fn subscribe(
        &self,
        store: &Store,
        ids: &[i32],
    ) -> Result<Result<Vec<(i32, watch::Receiver<Tick>)>, Vec<i32>>, StoreError> {
        let mut read: HashMap<i32, (i32, Instant)> = HashMap::new();
        loop {
            let unread: Vec<i32> = {
                let products = lock(&self.products);
                // A product nobody watched was not polled: read again.
                ids.iter()
                    .copied()
                    .filter(|id| {
                        products.get(id).is_none_or(|w| w.tx.receiver_count() == 0)
                            && !read.contains_key(id)
                    })
                    .collect()
            };
            if !unread.is_empty() {
                let began = Instant::now();
                let found = store.stocks(&unread).await?;
                read.extend(found.into_iter().map(|(id, s)| (id, (s, began))));
                let missing: Vec<i32> = unread
                    .iter()
                    .copied()
                    .filter(|id| !read.contains_key(id))
                    .collect();
                if !missing.is_empty() {
                    return Ok(Err(missing));
                }
            }
            let mut products = lock(&self.products);
            let now = Instant::now();
            // A product watched when this began and forgotten by the poller since is read
            // again (the loop); `products` is not held across the read.
            if ids
                .iter()
                .any(|id| !products.contains_key(id) && !read.contains_key(id))
            {
                continue;
            }
            let mut out = Vec::with_capacity(ids.len());
            for &id in ids {
                if let (Some(w), Some(&(stock, began))) = (products.get_mut(&id), read.get(&id)) {
                    self.note_in(w, stock, began, now);
                }
                let w = products.entry(id).or_insert_with(|| {
                    let (stock, began) = read[&id];
                    let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
                    Watched {
                        id,
                        tx: watch::channel(self.tick(id, stock, seq)).0,
                        covers: began,
                        published: now.checked_sub(self.every).unwrap_or(now),
                        pending: None,
                        dormant_since: None,
                    }
                });
                w.dormant_since = None;
                out.push((id, w.tx.subscribe()));
            }
            drop(products);
            self.wake.notify_one();
            return Ok(Ok(out));
        }
    }

    /// A figure of `id`: `stock` units, with every commit of this process before `covers` in
    /// it. Ignored for a product nobody watches, or one that covers less than the held figure.
    pub fn note(&self, id: i32, stock: i32, covers: Instant) {
        let mut products = lock(&self.products);
        let Some(w) = products.get_mut(&id) else {
            return;
        };
        let wake = self.note_in(w, stock, covers, Instant::now());
        drop(products);
        if wake {
            self.wake.notify_one();
        }
    }

    /// [`StockEvents::note`] on a held entry; true when a wait began (the poller must know).
    fn note_in(&self, w: &mut Watched, stock: i32, covers: Instant, now: Instant) -> bool {
        if covers < w.covers || w.pending.is_some_and(|(_, c)| covers < c) {
            return false;
        }
        if w.tx.borrow().stock == stock {
            w.covers = covers;
            w.pending = None;
            return false;
        }
        if now.saturating_duration_since(w.published) >= self.every {
            self.publish(w, stock, covers, now);
            false
        } else {
            let first = w.pending.is_none();
            w.pending = Some((stock, covers));
            first
        }
    }

    /// The figure `stock` of product `id`, set by change `seq`, with its event.
    fn tick(&self, id: i32, stock: i32, seq: u64) -> Tick {
        let frame = format!(
            "id: {}\ndata: {{\"productId\":{id},\"stock\":{stock}}}\n\n",
            self.event_id(seq)
        );
        Tick {
            stock,
            seq,
            chunk: chunked::chunk(frame.as_bytes()),
            frame: Bytes::from(frame),
        }
    }

    fn publish(&self, w: &mut Watched, stock: i32, covers: Instant, now: Instant) {
        // Under the products' lock: changes are sent in the order of their numbers, which
        // a stream's resume point relies on (`event_stream`).
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        w.tx.send_replace(self.tick(w.id, stock, seq));
        w.covers = covers;
        w.published = now;
        w.pending = None;
    }

    /// Publishes the figures whose wait is over; the earliest wait still running.
    fn flush(&self, now: Instant) -> Option<Instant> {
        let mut products = lock(&self.products);
        let mut next: Option<Instant> = None;
        for w in products.values_mut() {
            if let Some((stock, covers)) = w.pending {
                let due = w.published + self.every;
                if due <= now {
                    self.publish(w, stock, covers, now);
                } else {
                    next = Some(next.map_or(due, |n| n.min(due)));
                }
            }
        }
        next
    }

    /// The products someone watches; those nobody has watched for [`FORGET_AFTER`] are
    /// forgotten.
    fn watched(&self, now: Instant) -> Vec<i32> {
        let mut products = lock(&self.products);
        products.retain(|_, w| {
            if w.tx.receiver_count() > 0 {
                w.dormant_since = None;
                return true;
            }
            let since = *w.dormant_since.get_or_insert(now);
            now.saturating_duration_since(since) < FORGET_AFTER
        });
        products
            .iter()
            .filter(|(_, w)| w.dormant_since.is_none())
            .map(|(id, _)| *id)
            .collect()
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Registers a stream on the connection `slot`, written on its socket by us or by hyper;
    /// it is forgotten when the guard drops.
    pub fn open_stream(self: &Arc<Self>, slot: Option<Arc<Slot>>, on_socket: bool) -> StreamGuard {
        if let Some(slot) = &slot {
            slot.mark_event_stream();
        }
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let probe = Arc::new(Probe {
            last_frame: AtomicU64::new(self.millis(Instant::now())),
            slot,
            on_socket,
        });
        lock(&self.streams).insert(id, probe.clone());
        StreamGuard {
            id,
            probe,
            hub: self.clone(),
        }
    }

    /// Open streams.
    pub fn streams(&self) -> usize {
        lock(&self.streams).len()
    }

    /// Open streams written on their socket by us.
    pub fn streams_on_sockets(&self) -> usize {
        lock(&self.streams).values().filter(|p| p.on_socket).count()
    }

    /// Closes the connections of streams that have not taken a frame within the stall limit:
    /// their client stopped reading (the socket's buffers are full, so hyper stops asking the
    /// stream for frames). Returns how many.
    fn drop_stalled(&self, now: Instant) -> usize {
        let limit = u64::try_from(self.stall_limit().as_millis()).unwrap_or(u64::MAX);
        let now = self.millis(now);
        let streams = lock(&self.streams);
        let mut dropped = 0;
        for probe in streams.values() {
            if now.saturating_sub(probe.last_frame.load(Ordering::Relaxed)) > limit
                && let Some(slot) = &probe.slot
                && !slot.is_closing()
            {
                slot.close();
                dropped += 1;
            }
        }
        dropped
    }
}

/// A stream's registration; see [`StockEvents::open_stream`].
#[derive(Debug)]
pub struct StreamGuard {
    id: u64,
    probe: Arc<Probe>,
    hub: Arc<StockEvents>,
}

impl StreamGuard {
    /// The stream handed hyper a frame.
    pub fn framed(&self) {
        let now = self.hub.millis(Instant::now());
        self.probe.last_frame.store(now, Ordering::Relaxed);
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        lock(&self.hub.streams).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub_with(id: i32, stock: i32, at: Instant) -> (StockEvents, watch::Receiver<Tick>) {
        let hub = StockEvents::new(Duration::from_millis(100), Duration::from_secs(15));
        let (tx, rx) = watch::channel(hub.tick(id, stock, 1));
        hub.seq.store(1, Ordering::Relaxed);
        lock(&hub.products).insert(
            id,
            Watched {
                id,
                tx,
                covers: at,
                published: at - Duration::from_secs(1),
                pending: None,
                dormant_since: None,
            },
        );
        (hub, rx)
    }

    #[test]
    fn a_change_is_published_at_once_then_coalesced_for_the_interval() {
        let t0 = Instant::now();
        let (hub, rx) = hub_with(1, 50, t0);
        hub.note(1, 49, t0 + Duration::from_millis(1));
        assert_eq!(*rx.borrow(), hub.tick(1, 49, 2), "at once");
        hub.note(1, 48, t0 + Duration::from_millis(2));
        hub.note(1, 47, t0 + Duration::from_millis(3));
        hub.note(1, 46, t0 + Duration::from_millis(2));
        assert_eq!(rx.borrow().stock, 49, "within the interval: held back");
        let next = hub.flush(Instant::now()).expect("a wait is running");
        assert!(next > Instant::now());
        hub.flush(next);
        assert_eq!(
            *rx.borrow(),
            hub.tick(1, 47, 3),
            "the latest wins; one that covers less never"
        );
    }

    #[test]
    fn a_change_is_written_once_as_the_event_every_stream_sends() {
        let hub = StockEvents::new(Duration::from_millis(100), Duration::from_secs(15));
        let tick = hub.tick(7, 42, 9);
        assert_eq!(
            std::str::from_utf8(&tick.frame).expect("utf-8"),
            format!(
                "id: {}\ndata: {{\"productId\":7,\"stock\":42}}\n\n",
                hub.event_id(9)
            )
        );
    }

    #[test]
    fn a_figure_that_covers_less_never_replaces_a_newer_one() {
        let t0 = Instant::now();
        let (hub, rx) = hub_with(1, 50, t0 + Duration::from_millis(10));
        hub.note(1, 60, t0);
        assert_eq!(rx.borrow().stock, 50);
        hub.note(2, 60, t0 + Duration::from_secs(1));
        assert!(!lock(&hub.products).contains_key(&2), "nobody watches 2");
    }

    #[test]
    fn only_this_processes_ids_resume() {
        let hub = StockEvents::new(Duration::from_millis(100), Duration::from_secs(15));
        let id = hub.event_id(42);
        assert_eq!(hub.resume_point(&id), Some(42));
        let other = StockEvents::new(Duration::from_millis(100), Duration::from_secs(15));
        if other.boot != hub.boot {
            assert_eq!(other.resume_point(&id), None);
        }
        assert_eq!(hub.resume_point("42"), None);
        assert_eq!(hub.resume_point("zz-1"), None);
    }
}
