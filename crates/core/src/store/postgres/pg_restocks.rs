//! Restocks made by other processes, heard at once. The `batched` strategy answers a product it
//! has seen sold out from memory (see `store::batch`); a restock through the same store clears
//! that memory, but a restock by another process (the dashboard beside a running `serve`, a
//! second `serve`, `burst --restock`) would otherwise be seen only when the memory expires.
//! Every restock we make notifies [`CHANNEL`] in its own statement; each store that remembers
//! sold-out products listens and forgets the product the moment the notification arrives.
//!
//! The listener only makes the memory shorter, never longer, and never adds work: if it is
//! down (starting, cut off, reconnecting), the memory still expires on its own timer, as it did
//! before anyone listened.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::task::JoinHandle;

use crate::store::batch::Batcher;

/// The notification channel (per database, as PostgreSQL scopes them); the payload is the id.
pub(super) const CHANNEL: &str = "flashsale_restock";
/// The longest pause between attempts to (re)connect the listener.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The listening task of one store, started on first need, stopped with the store.
#[derive(Debug)]
pub struct RestockWatch {
    options: PgConnectOptions,
    task: OnceLock<JoinHandle<()>>,
}

impl RestockWatch {
    pub(crate) fn new(options: PgConnectOptions) -> Self {
        Self {
            options,
            task: OnceLock::new(),
        }
    }

    /// Starts listening unless already doing so; each restock heard makes `batcher` forget
    /// the product. Cheap when it is: one atomic load.
    pub(crate) fn ensure(&self, batcher: &Arc<Batcher>) {
        self.task
            .get_or_init(|| tokio::spawn(listen(self.options.clone(), Arc::clone(batcher))));
    }
}

impl Drop for RestockWatch {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

async fn listen(options: PgConnectOptions, batcher: Arc<Batcher>) {
    // A pool of its own: a listener holds its connection for ever, and must not take a slot
    // from the purchases' pool.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options);
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "restock listener: cannot connect; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::debug!(error = %e, "restock listener: LISTEN failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        backoff = Duration::from_millis(100);
        tracing::debug!("restock listener: listening");
        // A restock made while nobody listened is not heard; the memory's own timer bounds it,
        // as it did before anyone listened. No extra reads here: under a storm of sold-out
        // answers, a read forced at this moment competes for the pool with nothing to gain.
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match n.payload().parse::<i32>() {
                    Ok(id) => batcher.forget(id),
                    Err(_) => tracing::debug!(payload = n.payload(), "restock listener: not an id"),
                },
                // Connection lost and re-established: what was sent meanwhile is gone, and the
                // memory's timer covers it.
                Ok(None) => tracing::debug!("restock listener: reconnected"),
                Err(e) => {
                    tracing::debug!(error = %e, "restock listener: lost; reconnecting");
                    tokio::time::sleep(backoff).await;
                    break;
                }
            }
        }
    }
}
