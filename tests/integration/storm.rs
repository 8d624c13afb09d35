//! 500 concurrent purchases of random quantities over three products: stock and orders agree
//! to the unit, every acknowledged order exists, no stock goes negative.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use flashsale_core::purchase::{Outcome, PurchaseRequest};
use flashsale_core::strategy::Strategy;
use futures::future::join_all;
use rstest::rstest;

use crate::support::{Engine, seeded, unlimited};

const PRODUCTS: [(i32, i32); 3] = [(1, 120), (2, 90), (3, 60)];
const PURCHASES: usize = 500;

/// A small deterministic generator, so a failing storm can be replayed.
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

#[rstest]
#[case::row_lock_on_postgres(Engine::Postgres, Strategy::RowLock)]
#[case::row_lock_on_sqlite(Engine::Sqlite, Strategy::RowLock)]
#[case::atomic_on_postgres(Engine::Postgres, Strategy::Atomic)]
#[case::atomic_on_sqlite(Engine::Sqlite, Strategy::Atomic)]
#[case::batched_on_postgres(Engine::Postgres, Strategy::Batched)]
#[case::batched_on_sqlite(Engine::Sqlite, Strategy::Batched)]
#[tokio::test]
async fn storm_of_500_keeps_stock_and_orders_in_balance(
    #[case] engine: Engine,
    #[case] strategy: Strategy,
) {
    let (_held, store) = seeded(engine).await;
    for (id, stock) in PRODUCTS {
        store.set_stock(id, stock).await.expect("restock");
    }
    let before = store.max_order_id().await.expect("watermark");
    let purchaser = unlimited(&store);
    let mut seed = 42;
    let plan: Vec<(i32, i64, String)> = (0..PURCHASES)
        .map(|i| {
            let product = PRODUCTS[(lcg(&mut seed) % 3) as usize].0;
            let quantity = 1 + (lcg(&mut seed) % 3) as i64;
            (product, quantity, format!("storm_{i}"))
        })
        .collect();
    let outcomes = join_all(plan.iter().map(|(product, quantity, user)| {
        let p = purchaser.clone();
        async move {
            p.purchase(PurchaseRequest {
                product_id: i64::from(*product),
                user_id: user,
                client_ip: IpAddr::from([10, 0, 0, 1]),
                quantity: *quantity,
                strategy,
            })
            .await
            .outcome
        }
    }))
    .await;

    let acknowledged: HashSet<i64> = outcomes
        .iter()
        .filter_map(|o| o.order().map(|o| o.id))
        .collect();
    let mut sold_out = 0;
    for o in &outcomes {
        match o {
            Outcome::Purchased(order) => assert!(order.remaining_stock >= 0, "{order:?}"),
            Outcome::SoldOut { available } => {
                assert!(*available >= 0);
                sold_out += 1;
            }
            Outcome::Busy(_) => {}
            other => panic!("unexpected outcome in a storm: {other:?}"),
        }
    }
    assert!(
        !acknowledged.is_empty() && sold_out > 0,
        "the storm must both sell and sell out"
    );

    let mut stored_ids = HashSet::new();
    let mut units_by_product = HashMap::new();
    for (id, initial) in PRODUCTS {
        let orders = store
            .orders_after(id, before, "storm_")
            .await
            .expect("orders");
        let units: i64 = orders.iter().map(|o| i64::from(o.quantity)).sum();
        let final_stock = store.stock(id).await.expect("stock").expect("product");
        assert!(final_stock >= 0, "product {id} went negative");
        assert_eq!(
            i64::from(initial),
            i64::from(final_stock) + units,
            "product {id} on {engine:?} with {strategy}"
        );
        stored_ids.extend(orders.iter().map(|o| o.id));
        units_by_product.insert(id, units);
    }
    assert!(
        acknowledged.is_subset(&stored_ids),
        "every Purchased order id exists"
    );
    assert_eq!(
        acknowledged, stored_ids,
        "no order exists that its buyer was not told of"
    );
}
