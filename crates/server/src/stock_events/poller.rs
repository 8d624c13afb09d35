//! The hub's poller (see the parent module): the stock of every watched product read in one
//! query every interval, the coalesced figures published when their wait ends, and the streams
//! whose client stopped reading dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::{SWEEP_EVERY, StockEvents};
use flashsale_core::store::{Store, StoreError};

/// One poll in flight: when it began, and the figures it read.
type Poll = Pin<Box<dyn Future<Output = (Instant, Result<Vec<(i32, i32)>, StoreError>)> + Send>>;

/// The poller (see the module), until `stop`. The poll's query runs beside the flushing: a
/// figure whose coalescing wait ends while the database is slow to answer the poll (a storm)
/// is published on time, not after the query.
pub async fn run(hub: Arc<StockEvents>, store: Store, stop: CancellationToken) {
    let mut failing = false;
    let mut next_poll = Instant::now();
    let mut next_sweep = Instant::now() + SWEEP_EVERY;
    let mut in_flight: Option<Poll> = None;
    loop {
        let now = Instant::now();
        if now >= next_sweep {
            let dropped = hub.drop_stalled(now);
            if dropped > 0 {
                tracing::info!(
                    dropped,
                    "stock event streams dropped: their clients stopped reading"
                );
            }
            next_sweep = now + SWEEP_EVERY;
        }
        let pending = hub.flush(now);
        let mut watched_none = false;
        if in_flight.is_none() && now >= next_poll {
            let ids = hub.watched(now);
            if ids.is_empty() {
                watched_none = true;
                next_poll = now + hub.every;
            } else {
                let store = store.clone();
                in_flight = Some(Box::pin(async move { (now, store.stocks(&ids).await) }));
            }
        }
        let idle = watched_none && hub.streams() == 0 && pending.is_none();
        let mut until = if in_flight.is_some() {
            next_sweep
        } else {
            next_poll.max(now).min(next_sweep)
        };
        if let Some(p) = pending {
            until = until.min(p);
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = hub.wake.notified() => {}
            (began, read) = async { in_flight.as_mut().expect("guarded").await }, if in_flight.is_some() => {
                in_flight = None;
                match read {
                    Ok(found) => {
                        if failing {
                            tracing::info!("stock event poll answers again");
                            failing = false;
                        }
                        for (id, stock) in found {
                            hub.note(id, stock, began);
                        }
                    }
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = %e, "stock event poll failed; streams hold their last figure");
                            failing = true;
                        }
                    }
                }
                next_poll = began + hub.every;
            }
            () = tokio::time::sleep_until(until.into()), if !idle => {}
        }
    }
}
