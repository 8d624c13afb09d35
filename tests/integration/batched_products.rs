//! The `batched` strategy across products: purchases of different products that arrive
//! together share transactions (seen in PostgreSQL itself: the orders' `xmin`, the id of the
//! transaction that inserted them), each buyer gets its own outcome in arrival order per
//! product, and near the end of stock every product sells exactly what it had.

use std::collections::HashMap;
use std::net::IpAddr;

use flashsale_core::purchase::{Outcome, PurchaseRequest};
use flashsale_core::strategy::Strategy;
use futures::stream::{self, StreamExt};
use rstest::rstest;
use sqlx::Connection;

use crate::support::{Engine, TestDb, seeded, unlimited};

const PRODUCTS: [i32; 5] = [1, 2, 3, 4, 5];

/// `n` single-unit purchases spread round-robin over [`PRODUCTS`], 64 at a time; each outcome
/// with the product it was for.
async fn spread_storm(store: &flashsale_core::store::Store, n: u32) -> Vec<(i32, Outcome)> {
    let p = unlimited(store);
    stream::iter(0..n)
        .map(|i| {
            let p = p.clone();
            async move {
                let product = PRODUCTS[i as usize % PRODUCTS.len()];
                let user = format!("spread_{i}");
                let outcome = p
                    .purchase(PurchaseRequest {
                        product_id: i64::from(product),
                        user_id: &user,
                        client_ip: IpAddr::from([10, 1, 0, 1]),
                        quantity: 1,
                        strategy: Strategy::Batched,
                    })
                    .await
                    .outcome;
                (product, outcome)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchases_of_different_products_share_transactions() {
    let (db, store) = TestDb::seeded().await;
    for id in PRODUCTS {
        store.set_stock(id, 1_000).await.expect("restock");
    }
    let before = store.max_order_id().await.expect("watermark");
    let outcomes = spread_storm(&store, 1_000).await;
    assert!(
        outcomes
            .iter()
            .all(|(_, o)| matches!(o, Outcome::Purchased(_))),
        "{:?}",
        outcomes
            .iter()
            .find(|(_, o)| !matches!(o, Outcome::Purchased(_)))
    );

    let mut conn = db.conn().await;
    let per_transaction: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT count(*), count(DISTINCT product_id) FROM orders WHERE id > $1
         GROUP BY xmin::text",
    )
    .bind(before)
    .fetch_all(&mut conn)
    .await
    .expect("orders by inserting transaction");
    let _ = conn.close().await;
    let transactions = per_transaction.len();
    let widest = per_transaction.iter().map(|(_, p)| *p).max().unwrap_or(0);
    assert!(
        widest > 1,
        "some transaction carried purchases of several products: {per_transaction:?}"
    );
    assert!(
        transactions < 1_000 / 4,
        "1,000 purchases in {transactions} transactions: they shared commits"
    );
}

#[rstest]
#[case::postgres(Engine::Postgres)]
#[case::sqlite(Engine::Sqlite)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_product_sells_exactly_its_stock_when_demand_exceeds_it(#[case] engine: Engine) {
    let (_held, store) = seeded(engine).await;
    let stocks: HashMap<i32, i32> = PRODUCTS.iter().map(|&id| (id, 10 + id * 7)).collect();
    for (&id, &stock) in &stocks {
        store.set_stock(id, stock).await.expect("restock");
    }
    let outcomes = spread_storm(&store, 600).await;

    let mut sold: HashMap<i32, i32> = HashMap::new();
    let mut remaining_seen: HashMap<i32, Vec<i32>> = HashMap::new();
    for (product, o) in &outcomes {
        match o {
            Outcome::Purchased(order) => {
                assert_eq!(order.product_id, *product, "{order:?}");
                *sold.entry(*product).or_default() += 1;
                remaining_seen
                    .entry(*product)
                    .or_default()
                    .push(order.remaining_stock);
            }
            Outcome::SoldOut { available } => assert_eq!(*available, 0, "{product}"),
            other => panic!("unexpected {other:?}"),
        }
    }
    for (&id, &stock) in &stocks {
        assert_eq!(sold.get(&id), Some(&stock), "product {id} sold all it had");
        assert_eq!(store.stock(id).await.expect("stock"), Some(0));
        // Each buyer was told the stock left after their own purchase: all different, from
        // stock - 1 down to 0.
        let mut seen = remaining_seen.remove(&id).unwrap_or_default();
        seen.sort_unstable();
        assert_eq!(seen, (0..stock).collect::<Vec<_>>(), "product {id}");
    }
}
