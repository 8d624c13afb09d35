//! The circuit breaker in front of Redis: after one failed check, checks stop calling Redis
//! (each answers [`LimiterError::CircuitOpen`] at once, and the policy decides) while one
//! background task PINGs it every [`PROBE_EVERY`]; the first answer closes the circuit. A Redis
//! outage then costs a purchase nothing, where each used to wait for a refused connection or
//! the whole timeout; and the log gets one line when the circuit opens and one when it closes,
//! not one per purchase.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::connection::RedisConn;

use super::LimiterError;

/// How often the probe asks Redis while the circuit is open.
pub const PROBE_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
struct Shared {
    open: AtomicBool,
    /// Checks answered without Redis while open (reported when it closes).
    skipped: AtomicU64,
}

/// Whether Redis is believed reachable; shared by every clone of the limiter.
#[derive(Debug, Clone, Default)]
pub struct Breaker {
    shared: Arc<Shared>,
}

impl Breaker {
    /// `Err(CircuitOpen)` while open: the caller must not call Redis.
    pub fn admit(&self) -> Result<(), LimiterError> {
        if self.shared.open.load(Ordering::Acquire) {
            self.shared.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(LimiterError::CircuitOpen);
        }
        Ok(())
    }

    pub fn is_open(&self) -> bool {
        self.shared.open.load(Ordering::Acquire)
    }

    /// A check failed with `error`: opens the circuit (once, however many checks fail at the
    /// same moment) and starts the probe. Outside a Tokio runtime there is nothing to probe
    /// with, and the circuit stays closed.
    pub fn trip(&self, error: &LimiterError, conn: RedisConn, timeout: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self
            .shared
            .open
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        tracing::warn!(
            %error,
            probe_every_ms = PROBE_EVERY.as_millis() as u64,
            "redis rate limiter unavailable: circuit open; purchases follow the policy without asking redis until a probe answers"
        );
        runtime.spawn(probe(self.shared.clone(), conn, timeout));
    }
}

async fn probe(shared: Arc<Shared>, mut conn: RedisConn, timeout: Duration) {
    let opened = Instant::now();
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let ping = redis::cmd("PING");
        let answered = tokio::time::timeout(timeout, ping.query_async::<String>(&mut conn)).await;
        if matches!(answered, Ok(Ok(_))) {
            shared.open.store(false, Ordering::Release);
            let skipped = shared.skipped.swap(0, Ordering::Relaxed);
            tracing::info!(
                open_ms = opened.elapsed().as_millis() as u64,
                checks_skipped = skipped,
                "redis rate limiter answers again: circuit closed"
            );
            return;
        }
    }
}
