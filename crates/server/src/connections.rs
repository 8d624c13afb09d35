//! The open connections: at most `max`, each with a slot saying when it opened, whether it
//! has sent anything, whether a request is in flight and a token that closes it. When all
//! slots are taken, a new connection takes the slot of the oldest one between requests that
//! has sent nothing for the silent grace, or else of the oldest one between requests older than
//! the grace (a trickling socket, an idle keep-alive). A connection younger than those has not
//! had time to send its request and is never evicted; nor is one with a request in flight.
//! With nothing to evict, the new connection is refused.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Evicted connections still closing that may be held beyond the limit.
const CLOSING_ALLOWANCE: usize = 128;

/// One connection's state, shared by its task, its requests and the registry.
#[derive(Debug)]
pub struct Slot {
    opened: Instant,
    /// Whether any byte has been read from it.
    heard: AtomicBool,
    in_flight: AtomicU32,
    closing: AtomicBool,
    close: CancellationToken,
    /// Serving an event stream: its send buffer is bounded (`heard_io`).
    event_stream: AtomicBool,
}

impl Slot {
    /// The connection now carries an event stream, which lasts: `heard_io` bounds its
    /// kernel send buffer, so a client that stops reading is found out (and dropped) after
    /// kilobytes, not megabytes.
    pub fn mark_event_stream(&self) {
        self.event_stream.store(true, Ordering::Relaxed);
    }

    pub fn is_event_stream(&self) -> bool {
        self.event_stream.load(Ordering::Relaxed)
    }

    /// Completes when the connection should close (evicted, or the server is stopping).
    pub async fn closed(&self) {
        self.close.cancelled().await;
    }

    /// Closes the connection at once (a stream whose client stopped reading): between
    /// requests, as an event stream's connection is, it is dropped without a drain.
    pub fn close(&self) {
        self.close.cancel();
    }

    /// Whether the connection has been told to close.
    pub fn is_closing(&self) -> bool {
        self.close.is_cancelled()
    }

    /// Marks a request in flight until the guard drops.
    pub fn busy(self: &Arc<Self>) -> BusyGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        BusyGuard(self.clone())
    }

    /// Whether a request is in flight.
    pub fn is_busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// Something was read from the connection.
    pub fn heard(&self) {
        if !self.heard.load(Ordering::Relaxed) {
            self.heard.store(true, Ordering::Relaxed);
        }
    }

    fn evictable(&self, now: Instant, grace: Duration, silent_only: bool) -> bool {
        !self.closing.load(Ordering::Acquire)
            && self.in_flight.load(Ordering::Acquire) == 0
            && (!silent_only || !self.heard.load(Ordering::Relaxed))
            && now.saturating_duration_since(self.opened) >= grace
    }
}

/// A request in flight on a slot.
pub struct BusyGuard(Arc<Slot>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug, Default)]
struct Registry {
    next: u64,
    /// By id, so by age: the first entries are the oldest.
    slots: BTreeMap<u64, Arc<Slot>>,
    /// Slots told to close that have not closed yet.
    closing: usize,
    /// The most connections open at once since [`Connections::take_peak`] last asked.
    peak: usize,
}

/// Every open connection.
#[derive(Debug)]
pub struct Connections {
    registry: Mutex<Registry>,
    max: usize,
    grace: Duration,
    silent_grace: Duration,
}

/// What became of a new connection.
pub enum Admission {
    /// Served in this slot (freed when the guard drops). `evicted`: whether another
    /// connection was closed to make room.
    Admitted { slot: SlotGuard, evicted: bool },
    /// Every slot is taken by a connection that is busy or younger than the grace.
    Refused,
    /// Room would be made, but too many evicted connections have not closed yet: worth asking
    /// again once their tasks have run.
    Closing,
}

impl Connections {
    /// `silent_grace`: how long a connection that has sent nothing is safe; `grace`: any
    /// other between requests.
    pub fn new(max: usize, silent_grace: Duration, grace: Duration) -> Arc<Self> {
        Arc::new(Self {
            registry: Mutex::new(Registry::default()),
            max: max.max(1),
            grace,
            silent_grace: silent_grace.min(grace),
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding it leaves the map consistent (every change is one call).
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open connections (those told to close included).
    pub fn open(&self) -> usize {
        self.lock().slots.len()
    }

    /// The most connections open at once since the last call (or the start), and the number
    /// open now; the peak starts again from now.
    pub fn take_peak(&self) -> (usize, usize) {
        let mut r = self.lock();
        let open = r.slots.len();
        let peak = std::mem::replace(&mut r.peak, open).max(open);
        (peak, open)
    }

    /// A slot for a connection accepted now.
    pub fn admit(self: &Arc<Self>) -> Admission {
        let now = Instant::now();
        let mut r = self.lock();
        let mut evicted = false;
        if r.slots.len() - r.closing >= self.max {
            if !self.evict_one(&mut r, now) {
                return Admission::Refused;
            }
            evicted = true;
        }
        // Evicted connections close within moments; a small bound on them all the same (they
        // hold descriptors, and the limit was chosen to leave the rest for the database).
        if r.slots.len() >= self.max + CLOSING_ALLOWANCE.min(self.max / 4 + 1) {
            return Admission::Closing;
        }
        let id = r.next;
        r.next += 1;
        let slot = Arc::new(Slot {
            opened: now,
            heard: AtomicBool::new(false),
            in_flight: AtomicU32::new(0),
            closing: AtomicBool::new(false),
            close: CancellationToken::new(),
            event_stream: AtomicBool::new(false),
        });
        r.slots.insert(id, slot.clone());
        r.peak = r.peak.max(r.slots.len());
        Admission::Admitted {
            slot: SlotGuard {
                id,
                slot,
                owner: self.clone(),
            },
            evicted,
        }
    }

    /// Tells the oldest evictable connection to close; false when there is none.
    pub fn evict_oldest(&self) -> bool {
        let mut r = self.lock();
        self.evict_one(&mut r, Instant::now())
    }

    /// The oldest silent connection past the silent grace, else the oldest past the grace.
    fn evict_one(&self, r: &mut Registry, now: Instant) -> bool {
        let pick = |grace, silent_only| {
            r.slots
                .values()
                .find(|s| s.evictable(now, grace, silent_only))
                .cloned()
        };
        let victim = pick(self.silent_grace, true).or_else(|| pick(self.grace, false));
        match victim {
            Some(s) => {
                s.closing.store(true, Ordering::Release);
                s.close.cancel();
                r.closing += 1;
                true
            }
            None => false,
        }
    }

    /// Tells every connection to close (shutdown: they finish the request in flight first).
    pub fn close_all(&self) {
        let mut r = self.lock();
        let mut newly = 0;
        for s in r.slots.values() {
            if !s.closing.swap(true, Ordering::AcqRel) {
                newly += 1;
            }
            s.close.cancel();
        }
        r.closing += newly;
    }
}

/// A connection's hold on its slot.
pub struct SlotGuard {
    id: u64,
    slot: Arc<Slot>,
    owner: Arc<Connections>,
}

impl SlotGuard {
    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut r = self.owner.lock();
        if let Some(s) = r.slots.remove(&self.id)
            && s.closing.load(Ordering::Acquire)
        {
            r.closing = r.closing.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(a: Admission) -> (SlotGuard, bool) {
        match a {
            Admission::Admitted { slot, evicted } => (slot, evicted),
            Admission::Refused | Admission::Closing => panic!("refused"),
        }
    }

    #[test]
    fn full_registry_evicts_the_oldest_idle_connection_past_the_grace() {
        let c = Connections::new(2, Duration::ZERO, Duration::ZERO);
        let (a, _) = admitted(c.admit());
        let (b, _) = admitted(c.admit());
        let _busy = b.slot().busy();
        let (_c3, evicted) = admitted(c.admit());
        assert!(evicted);
        assert!(a.slot().close.is_cancelled(), "the idle one goes");
        assert!(!b.slot().close.is_cancelled(), "a busy one stays");
        drop(a);
        assert_eq!(c.open(), 2);
    }

    #[test]
    fn connections_younger_than_the_grace_are_never_evicted() {
        let c = Connections::new(1, Duration::from_secs(60), Duration::from_secs(60));
        let (a, _) = admitted(c.admit());
        assert!(matches!(c.admit(), Admission::Refused));
        assert!(!a.slot().close.is_cancelled());
        drop(a);
        let (_b, evicted) = admitted(c.admit());
        assert!(!evicted);
    }

    #[test]
    fn silent_connections_go_first_and_sooner() {
        let c = Connections::new(2, Duration::ZERO, Duration::from_secs(60));
        let (talker, _) = admitted(c.admit());
        talker.slot().heard();
        let (silent, _) = admitted(c.admit());
        let (new, evicted) = admitted(c.admit());
        new.slot().heard();
        assert!(evicted);
        assert!(
            silent.slot().close.is_cancelled(),
            "the silent one, though younger"
        );
        assert!(
            !talker.slot().close.is_cancelled(),
            "one that spoke keeps its grace"
        );
        assert!(matches!(c.admit(), Admission::Refused));
    }

    #[test]
    fn the_peak_is_the_most_open_at_once_since_it_was_last_taken() {
        let c = Connections::new(8, Duration::ZERO, Duration::ZERO);
        let guards: Vec<_> = (0..5).map(|_| admitted(c.admit()).0).collect();
        drop(guards);
        let (_one, _) = admitted(c.admit());
        assert_eq!(c.take_peak(), (5, 1));
        assert_eq!(c.take_peak(), (1, 1), "it starts again from what is open");
    }
}
