//! The flows written once over any [`Backend`](super::backend::Backend): the row-lock and naive
//! strategies step by step, the batched strategy's sold-out gate in front of its gatherers, and
//! seeding. Each engine only says how each step is done in its SQL.

use super::backend::Transaction;
use super::batch::SoldOut;
use super::sale::order_of;
use super::sale::{BatchItem, BatchKey};
use super::seed::{self, SeedReport};
use super::{KeyRecord, NewPurchase, Sale, Store, StoreError};
use crate::money::Money;
use crate::strategy::RaceHook;

/// Statements of a row-lock purchase after its `BEGIN`: lock, decrement, order, key, commit.
const ROW_LOCK_STATEMENTS: u32 = 5;
/// Statements of the naive strategy's write: the stock, then the order.
const NAIVE_WRITE_STATEMENTS: u32 = 2;

/// How a transaction's steps came out: what to tell the buyer, and whether to keep the writes.
enum Ending<T> {
    Commit(T),
    Rollback(T),
}

/// Ends `tx` as its steps say: commit or roll back; a failed step rolls back too (best effort:
/// the error that ended the steps is what the caller hears).
async fn end<T>(
    tx: Box<dyn Transaction>,
    steps: Result<Ending<T>, StoreError>,
) -> Result<T, StoreError> {
    match steps {
        Ok(Ending::Commit(v)) => {
            tx.commit().await?;
            Ok(v)
        }
        Ok(Ending::Rollback(v)) => {
            tx.rollback().await?;
            Ok(v)
        }
        Err(e) => {
            if let Err(again) = tx.rollback().await {
                tracing::debug!(error = %again, "rollback after a failed step failed too");
            }
            Err(e)
        }
    }
}

/// BEGIN; read and lock the product; guarded decrement; insert the order (and the key); COMMIT,
/// all on one connection: what the reference system got wrong. The guard is redundant under the
/// lock and kept anyway: a decrement that could go wrong silently is worth one comparison.
pub(super) async fn row_lock(
    store: &Store,
    p: NewPurchase<'_>,
    key: Option<KeyRecord<'_>>,
) -> Result<Sale, StoreError> {
    let mut tx = store.backend.begin().await?;
    store
        .within(ROW_LOCK_STATEMENTS, async move {
            let steps = row_lock_steps(tx.as_mut(), p, key).await;
            end(tx, steps).await
        })
        .await
}

async fn row_lock_steps(
    tx: &mut dyn Transaction,
    p: NewPurchase<'_>,
    key: Option<KeyRecord<'_>>,
) -> Result<Ending<Sale>, StoreError> {
    let Some(product) = tx.lock_product(p.product_id).await? else {
        return Ok(Ending::Rollback(Sale::NotFound));
    };
    let sold_out = Sale::SoldOut {
        available: product.stock,
    };
    if product.stock < p.quantity {
        return Ok(Ending::Rollback(sold_out));
    }
    let Some(remaining) = tx.decrement(p.product_id, p.quantity).await? else {
        return Ok(Ending::Rollback(sold_out));
    };
    let total = Money::from_cents(product.price_cents).times(i64::from(p.quantity));
    let inserted = tx.insert_order(p, total).await?;
    if let Some(key) = key {
        tx.insert_key(key, inserted.id, remaining).await?;
    }
    Ok(Ending::Commit(Sale::Purchased(order_of(
        p,
        product.name,
        total,
        remaining,
        inserted,
    ))))
}

/// UNSAFE by design: the reference system's lost update. Reads, waits on the race hook, then
/// writes the stock computed here, with no lock and no transaction. The read and the write are
/// bounded apart: the hook between them may wait as long as a demonstration asks (or for its
/// peers), which is no database's fault. A key is recorded after the order, best effort: there
/// is no transaction to join.
pub(super) async fn naive(
    store: &Store,
    p: NewPurchase<'_>,
    race: Option<&RaceHook>,
    key: Option<KeyRecord<'_>>,
) -> Result<Sale, StoreError> {
    let product = store
        .within(1, store.backend.read_unlocked(p.product_id))
        .await?;
    let Some(product) = product else {
        return Ok(Sale::NotFound);
    };
    if product.stock < p.quantity {
        return Ok(Sale::SoldOut {
            available: product.stock,
        });
    }
    if let Some(hook) = race {
        hook.wait().await;
    }
    let remaining = product.stock - p.quantity;
    let total = Money::from_cents(product.price_cents).times(i64::from(p.quantity));
    let inserted = store
        .within(
            NAIVE_WRITE_STATEMENTS,
            store.backend.write_unlocked(p, remaining, total),
        )
        .await?;
    if let Some(key) = key
        && let Err(e) = store
            .backend
            .record_key(key, "purchased", Some(inserted.id), Some(remaining))
            .await
    {
        tracing::warn!(error = %e, "naive purchase: idempotency key not recorded");
    }
    Ok(Sale::Purchased(order_of(
        p,
        product.name,
        total,
        remaining,
        inserted,
    )))
}

/// The batched strategy: a product known to be sold out costs no lock and no write (memory, or
/// one plain read when the memory is stale); anything else queues on the product's gatherer,
/// or on its seller's when another process sells it (`forward`).
pub(super) async fn batched(
    store: &Store,
    p: NewPurchase<'_>,
    key: Option<KeyRecord<'_>>,
) -> Result<Sale, StoreError> {
    if let Some(answer) = sold_out_from_memory(store, p.product_id, p.quantity).await {
        return answer;
    }
    let item = BatchItem {
        user_id: p.user_id.to_string(),
        quantity: p.quantity,
        key: key.map(BatchKey::of),
    };
    match &store.forwarding {
        Some(forwarding) => super::forward::sell(store, forwarding, p.product_id, item).await,
        None => {
            store
                .batcher
                .submit(&store.backend, p.product_id, item)
                .await
        }
    }
}

/// The batched strategy for a purchase another process forwarded here: as [`batched`], never
/// forwarded again.
pub(super) async fn batched_forwarded(
    store: &Store,
    product_id: i32,
    item: BatchItem,
) -> Result<Sale, StoreError> {
    if item.quantity < 1 {
        return Err(StoreError::Invalid("quantity must be at least 1".into()));
    }
    if let Some(answer) = sold_out_from_memory(store, product_id, item.quantity).await {
        return answer;
    }
    store.batcher.submit(&store.backend, product_id, item).await
}

/// The answer for a product the gatherers remember as sold out, if it still is.
async fn sold_out_from_memory(
    store: &Store,
    product_id: i32,
    quantity: i32,
) -> Option<Result<Sale, StoreError>> {
    let known = store.batcher.sold_out(product_id);
    if known != SoldOut::Unknown
        && let Some(restocks) = &store.restocks
    {
        // The memory is in use: let restocks elsewhere clear it.
        restocks.ensure(&store.batcher);
    }
    match known {
        SoldOut::Known => Some(Ok(Sale::SoldOut { available: 0 })),
        SoldOut::Stale => match store.stock(product_id).await {
            Ok(Some(0)) => {
                store.batcher.remember_sold_out(product_id);
                Some(Ok(Sale::SoldOut { available: 0 }))
            }
            Ok(Some(available)) => {
                store.batcher.forget(product_id);
                (available < quantity).then_some(Ok(Sale::SoldOut { available }))
            }
            Ok(None) => {
                store.batcher.forget(product_id);
                Some(Ok(Sale::NotFound))
            }
            Err(e) => {
                // Let the next purchase try the confirming read again.
                store.batcher.confirm_failed(product_id);
                Some(Err(e))
            }
        },
        SoldOut::Unknown => None,
    }
}

/// Inserts the reference products and a week of sample orders in one transaction, unless
/// products exist (concurrent seeders wait for each other: the second sees the first's
/// products).
pub(super) async fn seed(store: &Store) -> Result<SeedReport, StoreError> {
    let mut tx = store.backend.begin().await?;
    let steps = seed_steps(tx.as_mut()).await;
    end(tx, steps).await
}

async fn seed_steps(tx: &mut dyn Transaction) -> Result<Ending<SeedReport>, StoreError> {
    {
        if tx.count_products_exclusively().await? > 0 {
            return Ok(Ending::Rollback(SeedReport {
                products: 0,
                orders: 0,
                already_seeded: true,
            }));
        }
        let mut ids = Vec::with_capacity(seed::PRODUCTS.len());
        for product in &seed::PRODUCTS {
            ids.push(tx.insert_seed_product(product).await?);
        }
        for order in &seed::ORDERS {
            let price = seed::PRODUCTS[order.product].price;
            tx.insert_seed_order(
                order,
                ids[order.product],
                price.times(i64::from(order.quantity)),
            )
            .await?;
        }
        Ok(Ending::Commit(SeedReport {
            products: ids.len(),
            orders: seed::ORDERS.len(),
            already_seeded: false,
        }))
    }
}
