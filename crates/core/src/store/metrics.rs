//! Connection-pool health as the dashboard shows it: how long purchases wait for a connection
//! (p50/p99 over the last minute), how many are waiting now, and how many gave up.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Seconds of history kept: one histogram per second.
const WINDOW_SECS: usize = 60;

/// Acquire waits over the last minute.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AcquireStats {
    /// Acquires in the window.
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Tasks waiting for a connection right now.
    pub waiting: i64,
    /// Acquire timeouts since start.
    pub timeouts_total: u64,
    /// Acquire timeouts in the window.
    pub timeouts_window: u64,
}

struct Slot {
    second: u64,
    waits: Histogram<u64>,
    timeouts: u64,
}

/// Recorder of acquire waits, shared by every clone of a store.
pub struct PoolMetrics {
    origin: Instant,
    slots: Mutex<Vec<Slot>>,
    waiting: AtomicI64,
    timeouts: AtomicU64,
}

impl std::fmt::Debug for PoolMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolMetrics")
            .field("waiting", &self.waiting.load(Ordering::Relaxed))
            .finish()
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 10 min at 2 significant figures: small, and precise enough for a p99.
    Histogram::new_with_bounds(1, 600_000_000, 2).expect("constant histogram bounds are valid")
}

impl Default for PoolMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl PoolMetrics {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            slots: Mutex::new(
                (0..WINDOW_SECS)
                    .map(|_| Slot {
                        second: u64::MAX,
                        waits: histogram(),
                        timeouts: 0,
                    })
                    .collect(),
            ),
            waiting: AtomicI64::new(0),
            timeouts: AtomicU64::new(0),
        }
    }

    /// Marks the start of a wait; the returned guard records it when it ends.
    pub fn start_wait(&self) -> WaitGuard<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        WaitGuard {
            metrics: self,
            started: Instant::now(),
            done: false,
        }
    }

    fn with_slot(&self, at: Instant, f: impl FnOnce(&mut Slot)) {
        let second = at.saturating_duration_since(self.origin).as_secs();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut slots[(second % WINDOW_SECS as u64) as usize];
        if slot.second != second {
            slot.second = second;
            slot.waits.reset();
            slot.timeouts = 0;
        }
        f(slot);
    }

    fn finish(&self, started: Instant, timed_out: bool) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let now = Instant::now();
        let us = (now.saturating_duration_since(started).as_micros() as u64).clamp(1, 600_000_000);
        if timed_out {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        self.with_slot(now, |slot| {
            let _ = slot.waits.record(us);
            if timed_out {
                slot.timeouts += 1;
            }
        });
    }

    /// The last minute's figures.
    pub fn snapshot(&self) -> AcquireStats {
        let now_second = Instant::now()
            .saturating_duration_since(self.origin)
            .as_secs();
        let mut merged = histogram();
        let mut timeouts_window = 0;
        {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            for slot in slots.iter() {
                if slot.second != u64::MAX
                    && now_second.saturating_sub(slot.second) < WINDOW_SECS as u64
                {
                    let _ = merged.add(&slot.waits);
                    timeouts_window += slot.timeouts;
                }
            }
        }
        let ms = |us: u64| us as f64 / 1000.0;
        let empty = merged.is_empty();
        AcquireStats {
            count: merged.len(),
            p50_ms: if empty {
                0.0
            } else {
                ms(merged.value_at_quantile(0.5))
            },
            p99_ms: if empty {
                0.0
            } else {
                ms(merged.value_at_quantile(0.99))
            },
            max_ms: if empty { 0.0 } else { ms(merged.max()) },
            waiting: self.waiting.load(Ordering::Relaxed).max(0),
            timeouts_total: self.timeouts.load(Ordering::Relaxed),
            timeouts_window,
        }
    }
}

/// An acquire in progress; records its wait when dropped or finished.
pub struct WaitGuard<'a> {
    metrics: &'a PoolMetrics,
    started: Instant,
    done: bool,
}

impl WaitGuard<'_> {
    /// Ends the wait, counting a timeout when `timed_out`.
    pub fn finish(mut self, timed_out: bool) -> Duration {
        self.done = true;
        self.metrics.finish(self.started, timed_out);
        self.started.elapsed()
    }
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        // A wait abandoned (its future dropped) still ends.
        if !self.done {
            self.metrics.finish(self.started, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_and_timeouts_are_counted() {
        let m = PoolMetrics::new();
        let g = m.start_wait();
        assert_eq!(m.snapshot().waiting, 1);
        g.finish(false);
        m.start_wait().finish(true);
        drop(m.start_wait());
        let s = m.snapshot();
        assert_eq!(
            (s.count, s.waiting, s.timeouts_total, s.timeouts_window),
            (3, 0, 1, 1)
        );
        assert!(s.p99_ms >= s.p50_ms);
    }
}
