//! The open connections: at most `max`, each with a slot saying when it opened, whether a
//! request is in flight and a token that closes it. When all slots are taken, a new connection
//! takes the slot of the oldest one that is between requests and older than the grace (a
//! silent or trickling socket, or an idle keep-alive); one younger than the grace has not had
//! time to send its request and is never evicted. With nothing to evict, the new connection is
//! refused.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// One connection's state, shared by its task, its requests and the registry.
#[derive(Debug)]
pub struct Slot {
    opened: Instant,
    in_flight: AtomicU32,
    closing: AtomicBool,
    close: CancellationToken,
}

impl Slot {
    /// Completes when the connection should close (evicted, or the server is stopping).
    pub async fn closed(&self) {
        self.close.cancelled().await;
    }

    /// Marks a request in flight until the guard drops.
    pub fn busy(self: &Arc<Self>) -> BusyGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        BusyGuard(self.clone())
    }

    fn evictable(&self, now: Instant, grace: Duration) -> bool {
        !self.closing.load(Ordering::Acquire)
            && self.in_flight.load(Ordering::Acquire) == 0
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
}

/// Every open connection.
#[derive(Debug)]
pub struct Connections {
    registry: Mutex<Registry>,
    max: usize,
    grace: Duration,
}

/// What became of a new connection.
pub enum Admission {
    /// Served in this slot (freed when the guard drops). `evicted`: whether another
    /// connection was closed to make room.
    Admitted { slot: SlotGuard, evicted: bool },
    /// Every slot is taken by a connection that is busy or younger than the grace.
    Refused,
}

impl Connections {
    pub fn new(max: usize, grace: Duration) -> Arc<Self> {
        Arc::new(Self {
            registry: Mutex::new(Registry::default()),
            max: max.max(1),
            grace,
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

    /// A slot for a connection accepted now.
    pub fn admit(self: &Arc<Self>) -> Admission {
        let now = Instant::now();
        let mut r = self.lock();
        let mut evicted = false;
        if r.slots.len() - r.closing >= self.max {
            if !Self::evict_one(&mut r, now, self.grace) {
                return Admission::Refused;
            }
            evicted = true;
        }
        // Evicted connections close within moments; a bound on them all the same, so that a
        // peer whose close stalls cannot make us hold twice the limit.
        if r.slots.len() > self.max + self.max / 4 {
            return Admission::Refused;
        }
        let id = r.next;
        r.next += 1;
        let slot = Arc::new(Slot {
            opened: now,
            in_flight: AtomicU32::new(0),
            closing: AtomicBool::new(false),
            close: CancellationToken::new(),
        });
        r.slots.insert(id, slot.clone());
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
        Self::evict_one(&mut r, Instant::now(), self.grace)
    }

    fn evict_one(r: &mut Registry, now: Instant, grace: Duration) -> bool {
        let victim = r.slots.values().find(|s| s.evictable(now, grace)).cloned();
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
            Admission::Refused => panic!("refused"),
        }
    }

    #[test]
    fn full_registry_evicts_the_oldest_idle_connection_past_the_grace() {
        let c = Connections::new(2, Duration::ZERO);
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
        let c = Connections::new(1, Duration::from_secs(60));
        let (a, _) = admitted(c.admit());
        assert!(matches!(c.admit(), Admission::Refused));
        assert!(!a.slot().close.is_cancelled());
        drop(a);
        let (_b, evicted) = admitted(c.admit());
        assert!(!evicted);
    }
}
