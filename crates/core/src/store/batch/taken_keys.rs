//! A keyed batch that rolled back because one of its keys was taken: a retry of a request
//! already done, or of one in flight (the same key twice in one batch, or committed by another
//! process meanwhile). Keyed purchases buy first and look their key up only when it is taken,
//! so this is how every retry reaches its record; it must not cost the batch's other buyers
//! their shared transaction. One lookup of the batch's keys finds the taken ones, which hear
//! [`StoreError::Duplicate`] (their callers replay the record); the rest are applied again as
//! one batch. Only when that finds no taken key, or clashes again, does every keyed purchase go
//! alone, so that only the one whose key is taken hears it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::Batcher;
use crate::store::backend::Backend;
use crate::store::sale::{Applied, BatchItem, ProductBatch};
use crate::store::{NewPurchase, Sale, StoreError};

/// One answer per purchase, in the batches' order.
type Answers = Vec<Vec<Result<Sale, StoreError>>>;

/// The batches again, after one rolled back on a taken key (see the module). What the batches
/// applied again leave of each product's stock is noted in `batcher`, as for any batch.
pub(super) async fn apply_again(
    backend: &Arc<dyn Backend>,
    batcher: &Batcher,
    batches: &[ProductBatch],
) -> Answers {
    let keys: Vec<String> = batches
        .iter()
        .flat_map(|b| &b.items)
        .filter_map(|i| i.key.as_ref().map(|k| k.key.clone()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let taken: HashSet<String> = match backend.idempotency_lookup_many(&keys).await {
        // A record that fails to read is still a record: its key is taken.
        Ok(found) => found.into_iter().map(|(key, _)| key).collect(),
        Err(_) => HashSet::new(),
    };
    if taken.is_empty() {
        return apply_keyed_alone(backend, batcher, batches).await;
    }
    let is_taken = |item: &BatchItem| item.key.as_ref().is_some_and(|k| taken.contains(&k.key));
    let rest: Vec<ProductBatch> = batches
        .iter()
        .map(|b| ProductBatch {
            product_id: b.product_id,
            items: b.items.iter().filter(|i| !is_taken(i)).cloned().collect(),
        })
        .filter(|b| !b.items.is_empty())
        .collect();
    let applied = backend.apply_batches(&rest).await;
    let rest_answers = if applied
        .iter()
        .any(|a| matches!(a, Err(StoreError::Duplicate)))
    {
        apply_keyed_alone(backend, batcher, &rest).await
    } else {
        rest.iter()
            .zip(applied)
            .map(|(b, a)| answers_of(batcher, b, a))
            .collect()
    };
    let mut by_product: HashMap<i32, VecDeque<Result<Sale, StoreError>>> = rest
        .iter()
        .map(|b| b.product_id)
        .zip(rest_answers.into_iter().map(VecDeque::from))
        .collect();
    batches
        .iter()
        .map(|b| {
            b.items
                .iter()
                .map(|item| {
                    if is_taken(item) {
                        return Err(StoreError::Duplicate);
                    }
                    by_product
                        .get_mut(&b.product_id)
                        .and_then(VecDeque::pop_front)
                        .unwrap_or_else(|| Err(StoreError::Other("batch sale missing".into())))
                })
                .collect()
        })
        .collect()
}

/// Each purchase's answer from its batch's.
fn answers_of(
    batcher: &Batcher,
    batch: &ProductBatch,
    applied: Applied,
) -> Vec<Result<Sale, StoreError>> {
    match applied {
        Ok((sales, stock_left)) => {
            batcher.note_stock(batch.product_id, stock_left);
            sales.into_iter().map(Ok).collect()
        }
        Err(e) => vec![Err(e); batch.items.len()],
    }
}

/// After a batch rolled back on a taken key: every keyed purchase as an atomic purchase of
/// its own (its key in its own transaction), the keyless ones as one batch again. One answer
/// per purchase, in the batches' order.
async fn apply_keyed_alone(
    backend: &Arc<dyn Backend>,
    batcher: &Batcher,
    batches: &[ProductBatch],
) -> Answers {
    let keyless: Vec<ProductBatch> = batches
        .iter()
        .map(|b| ProductBatch {
            product_id: b.product_id,
            items: b
                .items
                .iter()
                .filter(|i| i.key.is_none())
                .cloned()
                .collect(),
        })
        .filter(|b| !b.items.is_empty())
        .collect();
    let mut keyless_answers: HashMap<i32, Applied> = if keyless.is_empty() {
        HashMap::new()
    } else {
        let applied = backend.apply_batches(&keyless).await;
        keyless.iter().map(|b| b.product_id).zip(applied).collect()
    };
    let mut answers = Vec::with_capacity(batches.len());
    for b in batches {
        let mut keyless_sales: Vec<Result<Sale, StoreError>> =
            match keyless_answers.remove(&b.product_id) {
                Some(Ok((sales, stock_left))) => {
                    batcher.note_stock(b.product_id, stock_left);
                    sales.into_iter().map(Ok).collect()
                }
                Some(Err(e)) => vec![Err(e); b.items.len()],
                None => Vec::new(),
            };
        keyless_sales.reverse();
        let mut product_answers = Vec::with_capacity(b.items.len());
        for item in &b.items {
            product_answers.push(match &item.key {
                Some(key) => {
                    let p = NewPurchase {
                        product_id: b.product_id,
                        user_id: &item.user_id,
                        quantity: item.quantity,
                    };
                    backend.purchase_atomic(p, Some(key.record())).await
                }
                None => keyless_sales
                    .pop()
                    .unwrap_or_else(|| Err(StoreError::Other("batch sale missing".into()))),
            });
        }
        answers.push(product_answers);
    }
    answers
}
