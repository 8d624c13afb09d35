//! The `batched` strategy on PostgreSQL: a single statement while the batch fits in the stock
//! (one product, or several sharing it), else the locked path that allocates in arrival order.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::Route;
use super::pg_keys::record_keys;
use super::pg_leases::{FOLD, Leases, decrement, insert_orders, lease_aware, leased, pick, writer};

use crate::model::Order;
use crate::money::Money;
use crate::store::batch;
use crate::store::row::from_row;
use crate::store::sale::{Applied, BatchItem, ProductBatch};
use crate::store::{Sale, StoreError};

from_row! {
    struct BatchRow {
        id: i64,
        product_id: i32,
        user_id: String,
        quantity: i32,
        total_cents: i64,
        created_at: NaiveDateTime,
        name: String,
        stock: i32,
    }
}

/// The `batched` strategy for one product. From this process's lease when it holds enough
/// (`pg_leases`: no wait on the product's row behind other processes); else, optimistically,
/// one statement: when the batch's total fits in the row's stock (the common case while a sale
/// lasts), a guarded decrement of the total and the insert of every order, one round trip, no
/// explicit transaction, then a lease for the next batches. Otherwise (or for an unknown
/// product) the locked path folds every lease back and allocates in arrival order.
async fn apply(
    conn: &mut PgConnection,
    route: Route,
    leases: &Leases,
    product_id: i32,
    items: &[BatchItem],
) -> Applied {
    match sell_if_fits(conn, route, leases, product_id, items, false).await? {
        Some(applied) => applied,
        None => apply_locked(conn, route, leases.on(), product_id, items).await,
    }
}

/// One product's keyed batch when it fits, its keys recorded by the selling statement itself
/// (one round trip, no `BEGIN`/`COMMIT`); a taken key fails the statement whole (23505), so
/// nothing of it commits. `None` when the batch does not fit: the caller takes the locked path
/// in a transaction that records the keys.
pub(super) async fn sell_keyed_if_fits(
    conn: &mut PgConnection,
    route: Route,
    leases: &Leases,
    batch: &ProductBatch,
) -> Result<Option<Applied>, StoreError> {
    sell_if_fits(conn, route, leases, batch.product_id, &batch.items, true).await
}

/// The lease's statement, then the row's; `None` when neither could sell the whole batch.
/// With `keyed`, each statement also records the items' idempotency keys.
async fn sell_if_fits(
    conn: &mut PgConnection,
    route: Route,
    leases: &Leases,
    product_id: i32,
    items: &[BatchItem],
    keyed: bool,
) -> Result<Option<Applied>, StoreError> {
    let total: i64 = items.iter().map(|i| i64::from(i.quantity)).sum();
    let Ok(total) = i32::try_from(total) else {
        return Ok(None);
    };
    let users: Vec<&str> = items.iter().map(|i| i.user_id.as_str()).collect();
    let quantities: Vec<i32> = items.iter().map(|i| i.quantity).collect();
    // One entry per item, NULL for those without a key; read only by the keyed statements.
    let (keys, hashes): (Vec<Option<&str>>, Vec<Option<&str>>) = if keyed {
        items
            .iter()
            .map(|i| {
                let key = i.key.as_ref();
                (
                    key.map(|k| k.key.as_str()),
                    key.map(|k| k.request_hash.as_str()),
                )
            })
            .unzip()
    } else {
        (Vec::new(), Vec::new())
    };
    let believed = leases.believed(product_id);
    if leases.on() && believed >= total {
        let sql = if keyed {
            SELL_FROM_LEASE_KEYED
        } else {
            SELL_FROM_LEASE
        };
        let mut query = sqlx::query_as(sql)
            .persistent(route.persistent())
            .bind(product_id)
            .bind(leases.holder())
            .bind(total)
            .bind(&users)
            .bind(&quantities);
        if keyed {
            query = query.bind(&keys).bind(&hashes);
        }
        let rows: Vec<BatchRow> = query.fetch_all(&mut *conn).await?;
        if !rows.is_empty() {
            leases.note(product_id, believed - total);
            return Ok(Some(sales_of(product_id, items, rows)));
        }
        // The lease is gone (returned, folded by a process that ran short, dropped by a
        // restock) or smaller than believed: the row decides.
        leases.note(product_id, 0);
    }
    let forms = if keyed {
        &SELL_FROM_ROW_KEYED
    } else {
        &SELL_FROM_ROW
    };
    let mut query = sqlx::query_as(pick(forms, leases.on()))
        .persistent(route.persistent())
        .bind(product_id)
        .bind(total)
        .bind(&users)
        .bind(&quantities);
    if keyed {
        query = query.bind(&keys).bind(&hashes);
    }
    let rows: Vec<BatchRow> = query.fetch_all(&mut *conn).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let available = rows[0].stock;
    leases
        .top_up(conn, route, product_id, total, available)
        .await;
    Ok(Some(sales_of(product_id, items, rows)))
}

/// The CTEs of one product's batch sold from this process's lease (`$2` the holder), ending
/// with its orders `o`; `p.available` is every unit available: the row, this lease after the
/// sale, and other processes' leases.
macro_rules! sell_from_lease {
    () => {
        concat!(
            "WITH l AS (
                 UPDATE stock_leases SET units = units - $3, renewed_at = CURRENT_TIMESTAMP
                 WHERE product_id = $1 AND holder = $2 AND units >= $3
                 RETURNING product_id, units
             ), p AS (
                 SELECT p.id, p.name, p.price,
                        p.stock + l.units + (SELECT COALESCE(sum(x.units), 0)::int4
                                             FROM stock_leases x
                                             WHERE x.product_id = p.id AND x.holder <> $2)
                            AS available
                 FROM products p JOIN l ON l.product_id = p.id
             ), ",
            insert_orders!("$4", "$5"),
        )
    };
}

/// What a sale from the lease returns: every order, with the product's name and every unit
/// available.
macro_rules! lease_rows {
    () => {
        "
         SELECT o.id::int8 AS id, p.id AS product_id, o.user_id, o.quantity,
                (o.total_price * 100)::int8 AS total_cents, o.created_at, p.name,
                p.available::int4 AS stock
         FROM o CROSS JOIN p ORDER BY o.id"
    };
}

/// What a sale from the row returns (its stock counts the leases).
macro_rules! row_rows {
    () => {
        "
         SELECT o.id::int8 AS id, p.id AS product_id, o.user_id, o.quantity,
                (o.total_price * 100)::int8 AS total_cents, o.created_at, p.name, p.stock
         FROM o CROSS JOIN p ORDER BY o.id"
    };
}

/// One product's batch sold from this process's lease.
const SELL_FROM_LEASE: &str = concat!(sell_from_lease!(), lease_rows!());

/// [`SELL_FROM_LEASE`] recording the idempotency keys `$6` (their hashes `$7`; `NULL` for an
/// item without one) of the items, each with its order.
const SELL_FROM_LEASE_KEYED: &str = concat!(
    sell_from_lease!(),
    record_keys!("$6", "$7", "$4", "p.available"),
    lease_rows!()
);

/// One product's batch sold from its row when the total fits; the stock it reports counts
/// the leases too.
const SELL_FROM_ROW: [&str; 2] = lease_aware!((decrement), ", ", (orders "$3", "$4"), (rows));

/// [`SELL_FROM_ROW`] recording the idempotency keys `$5` (hashes `$6`) as
/// [`SELL_FROM_LEASE_KEYED`] does.
const SELL_FROM_ROW_KEYED: [&str; 2] = lease_aware!(
    (decrement),
    ", ",
    (orders "$3", "$4"),
    (keys "$5", "$6", "$3", "p.stock"),
    (rows)
);

/// The sales of one product's items from the rows its share of a batch statement returned.
/// Ids come from one sequence in insertion order, and insertion follows arrival order; check
/// rather than trust, because a mismatch would hand one buyer another's order. The statement
/// has committed by now (or commits with its transaction), so a mismatch is reported, never
/// silently absorbed.
fn sales_of(product_id: i32, items: &[BatchItem], rows: Vec<BatchRow>) -> Applied {
    let in_order = rows.len() == items.len()
        && rows
            .iter()
            .zip(items)
            .all(|(r, item)| r.user_id == item.user_id && r.quantity == item.quantity);
    if !in_order {
        tracing::error!(product_id, "batch rows out of order; orders were committed");
        return Err(StoreError::Other("batch result out of order".into()));
    }
    let total: i32 = items.iter().map(|i| i.quantity).sum();
    let stock_left = rows[0].stock;
    let mut remaining = stock_left + total;
    let sales = rows
        .into_iter()
        .map(|r| {
            remaining -= r.quantity;
            Sale::Purchased(Order {
                id: r.id,
                product_id,
                product_name: r.name,
                quantity: r.quantity,
                total_price: Money::from_cents(r.total_cents),
                remaining_stock: remaining,
                created_at: r.created_at,
            })
        })
        .collect();
    Ok((sales, Some(stock_left)))
}

/// The purchases of several products gathered together. One statement sells every product
/// whose share fits in its stock (rows locked in id order first, so two such statements, in
/// two lanes or two processes, cannot deadlock); each product that did not fit, or is unknown,
/// then takes the locked path on its own.
pub(super) async fn apply_many(
    conn: &mut PgConnection,
    route: Route,
    leases: &Leases,
    batches: &[ProductBatch],
) -> Vec<Applied> {
    if let [only] = batches {
        return vec![apply(conn, route, leases, only.product_id, &only.items).await];
    }
    let mut sold = match sell_fitting(conn, route, leases.on(), batches).await {
        Ok(sold) => sold,
        Err(e) => return batches.iter().map(|_| Err(e.clone())).collect(),
    };
    let mut applied = Vec::with_capacity(batches.len());
    for b in batches {
        applied.push(match sold.remove(&b.product_id) {
            Some(rows) => sales_of(b.product_id, &b.items, rows),
            None => apply_locked(conn, route, leases.on(), b.product_id, &b.items).await,
        });
    }
    applied
}

/// The one statement of [`apply_many`]: the rows it returned, by product.
async fn sell_fitting(
    conn: &mut PgConnection,
    route: Route,
    leases: bool,
    batches: &[ProductBatch],
) -> Result<HashMap<i32, Vec<BatchRow>>, StoreError> {
    let (mut ids, mut totals) = (Vec::new(), Vec::new());
    for b in batches {
        // A share too large to add up in an int4 cannot fit: the locked path refuses it.
        let total: i64 = b.items.iter().map(|i| i64::from(i.quantity)).sum();
        if let Ok(total) = i32::try_from(total) {
            ids.push(b.product_id);
            totals.push(total);
        }
    }
    let (mut item_products, mut users, mut quantities) = (Vec::new(), Vec::new(), Vec::new());
    for b in batches {
        for item in &b.items {
            item_products.push(b.product_id);
            users.push(item.user_id.as_str());
            quantities.push(item.quantity);
        }
    }
    const SELL_FITTING: [&str; 2] = lease_aware!(
        "WITH want AS (
             SELECT * FROM unnest($1::int4[], $2::int4[]) AS w(id, total)
         ), locked AS (
             SELECT p.id FROM products p JOIN want ON want.id = p.id
             WHERE p.stock >= want.total
             ORDER BY p.id FOR UPDATE OF p
         ), u AS (
             UPDATE products p SET stock = p.stock - want.total, updated_at = CURRENT_TIMESTAMP
             FROM want JOIN locked ON locked.id = want.id
             WHERE p.id = want.id AND p.stock >= want.total AND ",
        (writer),
        "
             RETURNING p.id, p.name, p.stock + ",
        (leased "p.id"),
        " AS stock, p.price
         ), o AS (
             INSERT INTO orders (user_id, product_id, quantity, total_price)
             SELECT t.user_id, u.id, t.quantity, u.price * t.quantity
             FROM unnest($3::int4[], $4::text[], $5::int4[]) WITH ORDINALITY
                  AS t(product_id, user_id, quantity, ord)
             JOIN u ON u.id = t.product_id
             ORDER BY t.ord
             RETURNING id, product_id, user_id, quantity, total_price, created_at
         )
         SELECT o.id::int8 AS id, o.product_id, o.user_id, o.quantity,
                (o.total_price * 100)::int8 AS total_cents, o.created_at, u.name, u.stock
         FROM o JOIN u ON u.id = o.product_id ORDER BY o.id"
    );
    let rows: Vec<BatchRow> = sqlx::query_as(pick(&SELL_FITTING, leases))
        .persistent(route.persistent())
        .bind(&ids)
        .bind(&totals)
        .bind(&item_products)
        .bind(&users)
        .bind(&quantities)
        .fetch_all(&mut *conn)
        .await?;
    let mut by_product: HashMap<i32, Vec<BatchRow>> = HashMap::new();
    for row in rows {
        by_product.entry(row.product_id).or_default().push(row);
    }
    Ok(by_product)
}

/// The batch when its total does not fit in the row: every lease of the product folded back
/// (the row locked first), allocate in arrival order (each as if alone), one guarded
/// decrement, one multi-row insert, in one transaction. So no buyer is told "Out of stock"
/// while another process's lease still holds units.
async fn apply_locked(
    conn: &mut PgConnection,
    route: Route,
    leases: bool,
    product_id: i32,
    items: &[BatchItem],
) -> Result<(Vec<Sale>, Option<i32>), StoreError> {
    let mut tx = conn.begin().await?;
    if leases {
        sqlx::query(FOLD)
            .persistent(route.persistent())
            .bind(product_id)
            .bind(None::<&str>)
            .bind(None::<f64>)
            .execute(&mut *tx)
            .await?;
    }
    let product: Option<(String, i32, i64, NaiveDateTime)> = sqlx::query_as(
        "SELECT name, stock, (price * 100)::int8, CURRENT_TIMESTAMP::timestamp
             FROM products WHERE id = $1 FOR NO KEY UPDATE",
    )
    .persistent(route.persistent())
    .bind(product_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((name, stock, price_cents, now)) = product else {
        tx.rollback().await?;
        return Ok((items.iter().map(|_| Sale::NotFound).collect(), None));
    };
    let (allocation, sold) = batch::allocate(stock, items);
    let price = Money::from_cents(price_cents);
    let accepted: Vec<&BatchItem> = items
        .iter()
        .zip(&allocation)
        .filter(|(_, a)| a.is_ok())
        .map(|(i, _)| i)
        .collect();
    let mut ids = Vec::with_capacity(accepted.len());
    if !accepted.is_empty() {
        let users: Vec<&str> = accepted.iter().map(|i| i.user_id.as_str()).collect();
        let quantities: Vec<i32> = accepted.iter().map(|i| i.quantity).collect();
        let totals: Vec<i64> = accepted
            .iter()
            .map(|i| price.times(i64::from(i.quantity)).cents())
            .collect();
        let rows: Vec<(i64, String, i32)> = sqlx::query_as(concat!(
            "WITH u AS (
                     UPDATE products SET stock = stock - $2, updated_at = CURRENT_TIMESTAMP
                     WHERE id = $1 AND stock >= $2 AND ",
            writer!(),
            " RETURNING id
                 )
                 INSERT INTO orders (user_id, product_id, quantity, total_price)
                 SELECT t.user_id, u.id, t.quantity, t.cents::numeric / 100
                 FROM u, unnest($3::text[], $4::int4[], $5::int8[]) WITH ORDINALITY
                      AS t(user_id, quantity, cents, ord)
                 ORDER BY t.ord
                 RETURNING id::int8, user_id, quantity"
        ))
        .persistent(route.persistent())
        .bind(product_id)
        .bind(sold)
        .bind(&users)
        .bind(&quantities)
        .bind(&totals)
        .fetch_all(&mut *tx)
        .await?;
        // PostgreSQL returns inserted rows in the order the SELECT fed them; check it rather
        // than trust it, because a mismatch would hand one buyer another's order.
        let in_order = rows.len() == accepted.len()
            && rows
                .iter()
                .zip(&accepted)
                .all(|((_, u, q), item)| *u == item.user_id && *q == item.quantity);
        if !in_order {
            tx.rollback().await?;
            return Err(StoreError::Other(
                "batch insert did not line up; rolled back".into(),
            ));
        }
        ids = rows.into_iter().map(|(id, _, _)| id).collect();
    }
    tx.commit().await?;
    let mut ids = ids.into_iter();
    let mut sales = Vec::with_capacity(items.len());
    for (item, a) in items.iter().zip(allocation) {
        sales.push(match a {
            Ok(remaining) => Sale::Purchased(Order {
                id: ids
                    .next()
                    .ok_or_else(|| StoreError::Other("batch order missing".into()))?,
                product_id,
                product_name: name.clone(),
                quantity: item.quantity,
                total_price: price.times(i64::from(item.quantity)),
                remaining_stock: remaining,
                created_at: now,
            }),
            Err(available) => Sale::SoldOut { available },
        });
    }
    Ok((sales, Some(stock - sold)))
}
