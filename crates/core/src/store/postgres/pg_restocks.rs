//! Restocks made by other processes, heard at once. The `batched` strategy answers a product it
//! has seen sold out from memory (see `store::batch`); a restock through the same store clears
//! that memory, but a restock by another process (the dashboard beside a running `serve`, a
//! second `serve`, `burst --restock`) would otherwise be seen only when the memory expires.
//! Every restock we make notifies [`CHANNEL`] in its own statement, and a restock by anyone
//! else (plain SQL) through the trigger of migration 0004; each store that remembers sold-out
//! products listens and forgets the product the moment the notification arrives.
//!
//! The listener only makes the memory shorter, never longer, and never adds work: if it is
//! down (starting, cut off, reconnecting), the memory still expires on its own timer, as it did
//! before anyone listened.
//!
//! `LISTEN` needs a session of its own, which a transaction pooler does not keep: behind one
//! (see `pg_route`) the listener connects to `database_listen_url` when given, and otherwise
//! stops, saying so once in the log; restocks by other processes are then seen when the
//! memory expires (within [`crate::store::batch::SOLD_OUT_MEMORY`]).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::task::JoinHandle;

use sqlx::postgres::PgConnection;

use super::pg_leases::{pick, writer};
use super::pg_route::{PoolerState, Route};
use crate::store::batch::Batcher;
use crate::store::{Restock, StoreError};

/// The notification channel (per database, as PostgreSQL scopes them); the payload is the id.
/// Migration 0004's trigger names it too.
pub(super) const CHANNEL: &str = "flashsale_restock";
/// The longest pause between attempts to (re)connect the listener.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Sets product `id`'s stock in one statement that also notifies [`CHANNEL`] (heard with the
/// commit by every store remembering the product sold out) and answers the units available it
/// replaced. The stock set is every unit there is: the product's leases go (the row locked
/// first, the lock order of `pg_leases`; the update waits for the delete, which a row it had
/// already rewritten would skip), and what they held counts in the stock replaced.
pub(super) async fn set_stock(
    conn: &mut PgConnection,
    route: Route,
    leases: bool,
    id: i32,
    stock: i32,
) -> Result<Option<Restock>, StoreError> {
    // `p` locks the row first, so the stock it reads is the one the update replaces. The
    // update must name `p` (or what reads it): sub-statements run in no set order, and a `p`
    // run after the update would find its row already rewritten by this statement and skip it.
    const SET_STOCK: [&str; 2] = [
        concat!(
            "WITH p AS (SELECT id, name, stock FROM products WHERE id = $1 FOR NO KEY UPDATE),
             restocked AS (
                 UPDATE products SET stock = $2, updated_at = CURRENT_TIMESTAMP
                 FROM p WHERE products.id = p.id AND ",
            writer!(),
            " RETURNING products.id
             )
             SELECT p.name, p.stock FROM restocked JOIN p USING (id),
                    pg_notify($3, restocked.id::text)"
        ),
        concat!(
            "WITH p AS (SELECT id, name, stock FROM products WHERE id = $1 FOR NO KEY UPDATE),
             dropped AS (
                 DELETE FROM stock_leases l USING p WHERE l.product_id = p.id RETURNING l.units
             ),
             restocked AS (
                 UPDATE products SET stock = $2, updated_at = CURRENT_TIMESTAMP
                 WHERE id = $1 AND (SELECT count(*) FROM dropped) >= 0 AND ",
            writer!(),
            " RETURNING id
             )
             SELECT p.name, (p.stock + (SELECT COALESCE(SUM(units), 0) FROM dropped))::int4
             FROM restocked JOIN p USING (id), pg_notify($3, restocked.id::text)"
        ),
    ];
    let done: Option<(String, i32)> = sqlx::query_as(pick(&SET_STOCK, leases))
        .persistent(route.persistent())
        .bind(id)
        .bind(stock)
        .bind(CHANNEL)
        .fetch_optional(conn)
        .await?;
    Ok(done.map(|(name, previous_stock)| Restock {
        product_id: id,
        name,
        stock,
        previous_stock,
    }))
}

/// The listening task of one store, started on first need, stopped with the store.
#[derive(Debug)]
pub struct RestockWatch {
    options: PgConnectOptions,
    /// What the store has learnt about a pooler on its way to the database.
    pooler: Arc<PoolerState>,
    /// `options` name a URL of their own (`database_listen_url`), not the store's database.
    own_url: bool,
    task: OnceLock<JoinHandle<()>>,
}

impl RestockWatch {
    pub(super) fn new(options: PgConnectOptions, pooler: Arc<PoolerState>, own_url: bool) -> Self {
        Self {
            options,
            pooler,
            own_url,
            task: OnceLock::new(),
        }
    }

    /// Starts listening unless already doing so; each restock heard makes `batcher` forget
    /// the product. Cheap when it is: one atomic load.
    pub(crate) fn ensure(&self, batcher: &Arc<Batcher>) {
        self.task.get_or_init(|| {
            tokio::spawn(listen(
                self.options.clone(),
                Arc::clone(batcher),
                Arc::clone(&self.pooler),
                self.own_url,
            ))
        });
    }
}

impl Drop for RestockWatch {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

/// Whether the listener has to stop: the store's database is behind a transaction pooler and no
/// listen URL of its own was given. Said once.
fn behind_pooler_without_url(pooler: &PoolerState, own_url: bool) -> bool {
    if own_url || pooler.route() == Route::Direct {
        return false;
    }
    tracing::warn!(
        "restock listener off: the database is behind a transaction pooler, which cannot carry \
         LISTEN; restocks by other processes are seen within {} ms instead of at once \
         (set database_listen_url to a direct or session-pooled URL to hear them at once)",
        crate::store::batch::SOLD_OUT_MEMORY.as_millis()
    );
    true
}

async fn listen(
    options: PgConnectOptions,
    batcher: Arc<Batcher>,
    pooler: Arc<PoolerState>,
    own_url: bool,
) {
    // A pool of its own: a listener holds its connection for ever, and must not take a slot
    // from the purchases' pool.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options);
    let mut backoff = Duration::from_millis(100);
    loop {
        if behind_pooler_without_url(&pooler, own_url) {
            return;
        }
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
