//! Stock leases: how several processes sell one hot product without queueing on its row.
//!
//! One process batches its buyers into one transaction per product (`store::batch`), but every
//! such transaction holds the product's row lock until its commit is on disk, so N processes
//! selling one product take turns on the row, each with a batch 1/N the size: the total falls
//! with N. A lease moves units off `products.stock` into a row of `stock_leases` owned by one
//! process, which then sells from its own row; processes only meet on the product's row once
//! per lease, not once per batch.
//!
//! The invariants, each kept by the SQL here and in `pg_batch`:
//! - Units available = `products.stock` + the product's leases. Every read of stock
//!   (`stock`, `GET /api/stock`, the dashboard, the audit) adds them ([`leased!`]).
//! - Any process can sell any unit: when a batch does not fit in the row, the locked path
//!   folds every lease of the product back into the row first ([`FOLD`]); so no buyer is told
//!   "Out of stock" while a lease somewhere still holds units.
//! - A lease is only taken while the row keeps plenty (four leases' worth), so near the end of
//!   the stock nothing is leased and every process sells from the row.
//! - A process returns a lease it has not sold from for [`IDLE_RETURN`], and all of them when
//!   its store closes: at rest `products.stock` alone is exact. It renews the ones it holds
//!   every [`KEEPER_TICK`]; one not renewed for [`EXPIRY`] (its process was killed) is folded
//!   back by any other process's keeper, or by the next start's migration step.
//! - A write to `products.stock` by anyone else (plain SQL) drops the product's leases (the
//!   trigger of migration 0003): it sets the units available, as it always did. Our own writes
//!   mark themselves with [`writer!`] so the trigger lets them be.
//! - Lock order: the product's row before a lease row, everywhere (the fold takes it with
//!   `FOR NO KEY UPDATE`, which an order's foreign-key check does not wait for).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnection, PgPool};
use tokio::task::JoinHandle;

use super::Route;
use crate::store::StoreError;

/// A lease not renewed for this long belongs to a process that died: anyone may fold it back.
pub const EXPIRY: Duration = Duration::from_secs(3);
/// How often a process renews its leases, returns idle ones and reclaims expired ones.
pub const KEEPER_TICK: Duration = Duration::from_millis(500);
/// A lease not sold from for this long goes back to the row.
pub const IDLE_RETURN: Duration = Duration::from_secs(1);
/// The smallest and largest lease taken at once.
const LEASE_MIN: i32 = 64;
const LEASE_MAX: i32 = 1024;
/// A lease is only taken while the row keeps this many leases' worth after it.
const ROW_RESERVE: i32 = 4;
/// After the row refused a lease, how long before asking again (unless a restock came since).
const TAKE_BACKOFF: Duration = Duration::from_millis(200);

/// The units of the leases of product `$id` (an SQL expression; `$id` a column or parameter).
macro_rules! leased {
    ($id:literal) => {
        concat!(
            "(SELECT COALESCE(sum(l.units), 0)::int4 FROM stock_leases l WHERE l.product_id = ",
            $id,
            ")"
        )
    };
}
pub(super) use leased;

/// A condition, true, that marks the statement's write to `products.stock` as ours for the
/// trigger that drops leases on anyone else's (evaluated before the row is written).
macro_rules! writer {
    () => {
        "set_config('flashsale.writer', 'on', true) = 'on'"
    };
}
pub(super) use writer;

/// The guarded decrement every one-statement sale starts with: CTE `p`, `$1` the product,
/// `$2` the units; it returns the product's name, price and the units available after it
/// (`$leased` the expression for the product's leased units).
macro_rules! decrement {
    ($leased:expr) => {
        concat!(
            "WITH p AS (
                 UPDATE products SET stock = stock - $2, updated_at = CURRENT_TIMESTAMP
                 WHERE id = $1 AND stock >= $2 AND ",
            writer!(),
            " RETURNING id, name, stock + ",
            $leased,
            " AS stock, price
             )"
        )
    };
}
pub(super) use decrement;

/// A batch's orders, inserted in arrival order: CTE `o` from the product row `p` and the
/// arrays of buyers (`$users`) and quantities (`$quantities`), one order each.
macro_rules! insert_orders {
    ($users:literal, $quantities:literal) => {
        concat!(
            "o AS (
                 INSERT INTO orders (user_id, product_id, quantity, total_price)
                 SELECT t.user_id, p.id, t.quantity, p.price * t.quantity
                 FROM p, unnest(",
            $users,
            "::text[], ",
            $quantities,
            "::int4[]) WITH ORDINALITY AS t(user_id, quantity, ord)
                 ORDER BY t.ord
                 RETURNING id, user_id, quantity, total_price, created_at
             )"
        )
    };
}
pub(super) use insert_orders;

/// An SQL text in its two forms, `[without leases, with them]`: a database the reference
/// system's scripts created, not migrated by us, has no `stock_leases` (and needs none: nobody
/// can have leased from it). Pieces are literals, `(writer)`, `(decrement)` (the guarded
/// decrement, [`decrement!`]), `(orders "$n", "$m")` (a batch's orders, [`insert_orders!`]),
/// `(keys ...)` (their idempotency keys, `pg_keys::record_keys!`), `(rows)` (what a sale from
/// the row returns, `pg_batch::row_rows!`; both in scope where the text is written), or
/// `(leased "<id>")`, which the first form reads as `0`.
macro_rules! lease_aware {
    ($($piece:tt),+ $(,)?) => {
        [
            concat!($(lease_aware!(@without $piece)),+),
            concat!($(lease_aware!(@with $piece)),+),
        ]
    };
    (@without (decrement)) => { decrement!("0") };
    (@with (decrement)) => { decrement!(leased!("products.id")) };
    (@without (leased $id:literal)) => { "0" };
    (@with (leased $id:literal)) => { leased!($id) };
    (@without (orders $u:literal, $q:literal)) => { insert_orders!($u, $q) };
    (@with (orders $u:literal, $q:literal)) => { insert_orders!($u, $q) };
    (@without (keys $k:literal, $h:literal, $u:literal, $s:literal)) => { record_keys!($k, $h, $u, $s) };
    (@with (keys $k:literal, $h:literal, $u:literal, $s:literal)) => { record_keys!($k, $h, $u, $s) };
    (@without (rows)) => { row_rows!() };
    (@with (rows)) => { row_rows!() };
    (@without (writer)) => { writer!() };
    (@with (writer)) => { writer!() };
    (@without $s:literal) => { $s };
    (@with $s:literal) => { $s };
}
pub(super) use lease_aware;

/// The form of a [`lease_aware!`] text for a schema with (`true`) or without leases.
pub(super) fn pick(forms: &[&'static str; 2], leases: bool) -> &'static str {
    forms[usize::from(leases)]
}

/// Asks whether the schema has leases (migration 0003 ran). A simple query.
pub(super) const SCHEMA_HAS_LEASES: &str =
    "SELECT to_regclass('stock_leases') IS NOT NULL AS present";

/// Folds leases of product `$1` back into its row: all of them, or only those of holder `$2`,
/// or only those not renewed for `$3` seconds. The row is locked first (see the module's lock
/// order). Returns the row's stock when something was folded.
pub(super) const FOLD: &str = concat!(
    "WITH p AS (SELECT id FROM products WHERE id = $1 FOR NO KEY UPDATE),
     d AS (
         DELETE FROM stock_leases l USING p
         WHERE l.product_id = p.id
           AND ($2::text IS NULL OR l.holder = $2)
           AND ($3::float8 IS NULL OR l.renewed_at < clock_timestamp() - make_interval(secs => $3))
         RETURNING l.units
     ), f AS (SELECT COALESCE(sum(units), 0)::int4 AS units, count(*) AS n FROM d)
     UPDATE products SET stock = stock + f.units, updated_at = CURRENT_TIMESTAMP
     FROM f WHERE products.id = $1 AND f.n > 0 AND ",
    writer!(),
    " RETURNING products.stock"
);

/// Takes `$3` units off the row into holder `$2`'s lease of product `$1`, if the row keeps
/// `$4` times that after. Returns the lease's units.
const TAKE: &str = concat!(
    "WITH p AS (
         UPDATE products SET stock = stock - $3, updated_at = CURRENT_TIMESTAMP
         WHERE id = $1 AND stock >= $3 * ($4 + 1) AND ",
    writer!(),
    " RETURNING id
     )
     INSERT INTO stock_leases (product_id, holder, units, renewed_at)
     SELECT id, $2, $3, CURRENT_TIMESTAMP FROM p
     ON CONFLICT (product_id, holder)
     DO UPDATE SET units = stock_leases.units + EXCLUDED.units, renewed_at = EXCLUDED.renewed_at
     RETURNING units"
);

/// What this process believes it holds of one product (the database is the truth: a sale
/// from a lease that is not there any more simply finds no row).
#[derive(Debug, Clone, Copy)]
struct Held {
    units: i32,
    used: Instant,
    /// When the row last refused a lease, and the units available then.
    refused: Option<(Instant, i32)>,
}

/// The leases of one store: who it is, what it holds, its keeper task.
#[derive(Debug)]
pub(crate) struct Leases {
    /// The schema has `stock_leases` (learnt on each new connection, and by migrating).
    on: AtomicBool,
    holder: String,
    held: Mutex<HashMap<i32, Held>>,
    keeper: OnceLock<JoinHandle<()>>,
}

impl Drop for Leases {
    fn drop(&mut self) {
        if let Some(task) = self.keeper.get() {
            task.abort();
        }
    }
}

impl Leases {
    pub(super) fn new() -> Self {
        // Random per store, so two stores of one process (tests) never share a lease.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().chars().take(64).collect::<String>())
            .unwrap_or_default();
        Self {
            on: AtomicBool::new(false),
            holder: format!("{host}:{}:{random:016x}", std::process::id()),
            held: Mutex::new(HashMap::new()),
            keeper: OnceLock::new(),
        }
    }

    /// Whether the schema has leases: every lease-aware statement picks its form by this.
    pub(super) fn on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    pub(super) fn learn(&self, present: bool) {
        self.on.store(present, Ordering::Release);
    }

    pub(super) fn holder(&self) -> &str {
        &self.holder
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Held>> {
        // A poisoned lock only means a holder panicked between plain field writes.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The units this process believes it holds of `product_id`.
    pub(super) fn believed(&self, product_id: i32) -> i32 {
        self.held().get(&product_id).map_or(0, |h| h.units)
    }

    /// Records what a sale or a take left in the lease.
    pub(super) fn note(&self, product_id: i32, units: i32) {
        let mut held = self.held();
        let h = held.entry(product_id).or_insert(Held {
            units: 0,
            used: Instant::now(),
            refused: None,
        });
        h.units = units;
        h.used = Instant::now();
    }

    fn forget(&self, product_id: i32) {
        self.held().remove(&product_id);
    }

    /// How many units to lease for batches of `total` with `available` units in all, or
    /// `None` when the row cannot keep its reserve after it, or refused a lease a moment ago
    /// with no restock since (near the end of the stock, asking on every batch would cost a
    /// statement each).
    fn want(&self, product_id: i32, total: i32, available: i32) -> Option<i32> {
        let want = total.saturating_mul(16).clamp(LEASE_MIN, LEASE_MAX);
        if available < want.saturating_mul(ROW_RESERVE + 1) {
            return None;
        }
        let held = self.held();
        if let Some((at, then)) = held.get(&product_id).and_then(|h| h.refused)
            && at.elapsed() < TAKE_BACKOFF
            && available <= then
        {
            return None;
        }
        Some(want)
    }

    /// After a batch of `total` sold from the row, leaving `available` units in all: takes a
    /// lease for the next batches unless this process already holds enough. A failure here
    /// costs the batch nothing (it has sold); the next batch simply sells from the row again.
    pub(super) async fn top_up(
        &self,
        conn: &mut PgConnection,
        route: Route,
        product_id: i32,
        total: i32,
        available: i32,
    ) {
        if !self.on() || self.believed(product_id) >= total {
            return;
        }
        let Some(want) = self.want(product_id, total, available) else {
            return;
        };
        let taken: Result<Option<i32>, sqlx::Error> = sqlx::query_scalar(TAKE)
            .persistent(route.persistent())
            .bind(product_id)
            .bind(&self.holder)
            .bind(want)
            .bind(ROW_RESERVE)
            .fetch_optional(conn)
            .await;
        match taken {
            Ok(Some(units)) => self.note(product_id, units),
            Ok(None) => {
                let mut held = self.held();
                let h = held.entry(product_id).or_insert(Held {
                    units: 0,
                    used: Instant::now(),
                    refused: None,
                });
                h.refused = Some((Instant::now(), available));
            }
            Err(e) => tracing::debug!(product_id, "taking a stock lease failed: {e}"),
        }
    }

    /// Starts the keeper unless it runs: renewals, idle returns, reclaims (see the module).
    pub(super) fn ensure_keeper(self: &Arc<Self>, pool: &PgPool, deadline: Duration) {
        if !self.on() {
            return;
        }
        self.keeper
            .get_or_init(|| tokio::spawn(keep(Arc::downgrade(self), pool.clone(), deadline)));
    }

    /// Returns every lease this process holds (its store is closing).
    pub(super) async fn return_all(&self, pool: &PgPool, deadline: Duration) {
        if let Some(task) = self.keeper.get() {
            task.abort();
        }
        let products: Vec<i32> = self.held().keys().copied().collect();
        for product_id in products {
            match fold(pool, deadline, product_id, Some(&self.holder), None).await {
                Ok(_) => self.forget(product_id),
                Err(e) => tracing::warn!(
                    product_id,
                    "could not return a stock lease ({e}); it is folded back within {}s by \
                     another process or the next start",
                    EXPIRY.as_secs()
                ),
            }
        }
    }
}

/// Folds leases of one product back into its row on a connection of its own (see [`FOLD`]);
/// whether anything was folded.
pub(super) async fn fold(
    pool: &PgPool,
    deadline: Duration,
    product_id: i32,
    holder: Option<&str>,
    older_than: Option<Duration>,
) -> Result<bool, StoreError> {
    let query = sqlx::query_scalar::<_, i32>(FOLD)
        .persistent(false)
        .bind(product_id)
        .bind(holder)
        .bind(older_than.map(|d| d.as_secs_f64()))
        .fetch_optional(pool);
    match tokio::time::timeout(deadline, query).await {
        Ok(folded) => Ok(folded?.is_some()),
        Err(_) => Err(StoreError::Timeout(deadline)),
    }
}

/// Folds back, at start, the leases that processes no longer running left behind.
pub(super) async fn reclaim_expired(pool: &PgPool, deadline: Duration) -> Result<(), StoreError> {
    let expired = sqlx::query_scalar::<_, i32>(
        "SELECT DISTINCT product_id FROM stock_leases
         WHERE renewed_at < clock_timestamp() - make_interval(secs => $1)",
    )
    .persistent(false)
    .bind(EXPIRY.as_secs_f64())
    .fetch_all(pool);
    let expired = match tokio::time::timeout(deadline, expired).await {
        Ok(found) => found?,
        Err(_) => return Err(StoreError::Timeout(deadline)),
    };
    for product_id in expired {
        if fold(pool, deadline, product_id, None, Some(EXPIRY)).await? {
            tracing::info!(
                product_id,
                "folded back a stock lease its process left behind"
            );
        }
    }
    Ok(())
}

/// The keeper of one store's leases; ends when the store is gone.
async fn keep(leases: Weak<Leases>, pool: PgPool, deadline: Duration) {
    let mut tick = tokio::time::interval(KEEPER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(leases) = leases.upgrade() else {
            return;
        };
        if let Err(e) = keep_once(&leases, &pool, deadline).await {
            tracing::debug!("stock lease keeper: {e}");
        }
    }
}

async fn keep_once(leases: &Leases, pool: &PgPool, deadline: Duration) -> Result<(), StoreError> {
    let (idle, holding): (Vec<i32>, bool) = {
        let held = leases.held();
        let idle = held
            .iter()
            .filter(|(_, h)| h.used.elapsed() >= IDLE_RETURN)
            .map(|(id, _)| *id)
            .collect();
        (idle, held.values().any(|h| h.units > 0))
    };
    for product_id in idle {
        fold(pool, deadline, product_id, Some(&leases.holder), None).await?;
        leases.forget(product_id);
    }
    if holding {
        let renew =
            sqlx::query("UPDATE stock_leases SET renewed_at = CURRENT_TIMESTAMP WHERE holder = $1")
                .persistent(false)
                .bind(&leases.holder)
                .execute(pool);
        match tokio::time::timeout(deadline, renew).await {
            Ok(done) => {
                done?;
            }
            Err(_) => return Err(StoreError::Timeout(deadline)),
        }
    }
    reclaim_expired(pool, deadline).await
}
