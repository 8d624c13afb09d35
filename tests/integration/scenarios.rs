//! The reference system's own concurrency scenarios, for every safe strategy on both engines.

use flashsale_core::purchase::Outcome;
use flashsale_core::strategy::Strategy;
use rstest::rstest;

use crate::support::{Engine, buy_all, seeded, unlimited};

const PRODUCT: i32 = 2;

#[rstest]
#[case::row_lock_on_postgres(Engine::Postgres, Strategy::RowLock)]
#[case::row_lock_on_sqlite(Engine::Sqlite, Strategy::RowLock)]
#[case::atomic_on_postgres(Engine::Postgres, Strategy::Atomic)]
#[case::atomic_on_sqlite(Engine::Sqlite, Strategy::Atomic)]
#[case::batched_on_postgres(Engine::Postgres, Strategy::Batched)]
#[case::batched_on_sqlite(Engine::Sqlite, Strategy::Batched)]
#[tokio::test]
async fn ten_buyers_on_stock_five_get_exactly_five_orders(
    #[case] engine: Engine,
    #[case] strategy: Strategy,
) {
    let (_held, store) = seeded(engine).await;
    store.set_stock(PRODUCT, 5).await.expect("restock");
    let purchaser = unlimited(&store);
    let users: Vec<String> = (0..10).map(|i| format!("user_{i}")).collect();
    let outcomes = buy_all(&purchaser, &users, PRODUCT, strategy).await;
    let purchased = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Purchased(_)))
        .count();
    let sold_out = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::SoldOut { .. }))
        .count();
    assert_eq!(
        (purchased, sold_out),
        (5, 5),
        "{strategy} on {engine:?}: {outcomes:#?}"
    );
    assert_eq!(store.stock(PRODUCT).await.expect("stock"), Some(0));
}

#[rstest]
#[case::row_lock_on_postgres(Engine::Postgres, Strategy::RowLock)]
#[case::row_lock_on_sqlite(Engine::Sqlite, Strategy::RowLock)]
#[case::atomic_on_postgres(Engine::Postgres, Strategy::Atomic)]
#[case::atomic_on_sqlite(Engine::Sqlite, Strategy::Atomic)]
#[case::batched_on_postgres(Engine::Postgres, Strategy::Batched)]
#[case::batched_on_sqlite(Engine::Sqlite, Strategy::Batched)]
#[tokio::test]
async fn fifty_users_buying_three_times_sell_exactly_the_stock(
    #[case] engine: Engine,
    #[case] strategy: Strategy,
) {
    let (_held, store) = seeded(engine).await;
    store.set_stock(PRODUCT, 100).await.expect("restock");
    let before = store.max_order_id().await.expect("watermark");
    let purchaser = unlimited(&store);
    let attempts: Vec<String> = (0..50)
        .flat_map(|u| (0..3).map(move |_| format!("load_test_user_{u}")))
        .collect();
    let outcomes = buy_all(&purchaser, &attempts, PRODUCT, strategy).await;
    let purchased = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Purchased(_)))
        .count() as i64;
    let final_stock = i64::from(store.stock(PRODUCT).await.expect("stock").expect("product"));
    let units_in_db: i64 = store
        .orders_after(PRODUCT, before, "load_test_user_")
        .await
        .expect("orders")
        .iter()
        .map(|o| i64::from(o.quantity))
        .sum();
    assert_eq!(units_in_db, 100 - final_stock, "{strategy} on {engine:?}");
    assert_eq!(purchased, units_in_db);
    assert!(units_in_db <= 100);
    assert_eq!(
        purchased, 100,
        "150 attempts at stock 100 sell it all: {outcomes:?}"
    );
}

/// Under REPEATABLE READ, concurrent purchases of one row raise serialization failures
/// (40001): the purchase module retries them a bounded number of times, and what finally fails
/// says so, with nothing oversold.
#[tokio::test]
async fn serialization_failures_are_retried_a_bounded_number_of_times() {
    let (db, _store) = crate::support::TestDb::seeded().await;
    let mut conn = db.conn().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {} SET default_transaction_isolation TO 'repeatable read'",
        db.name
    )))
    .execute(&mut conn)
    .await
    .expect("isolation");
    drop(conn);
    // New connections pick the setting up.
    let store = db
        .store_with(flashsale_core::config::PoolSettings::default())
        .await;
    store.set_stock(PRODUCT, 20).await.expect("restock");
    let p = unlimited(&store);
    for strategy in [Strategy::RowLock, Strategy::Atomic] {
        let users: Vec<String> = (0..30).map(|i| format!("rr_{strategy}_{i}")).collect();
        let receipts = futures::future::join_all(users.iter().map(|u| {
            let p = p.clone();
            async move {
                p.purchase(flashsale_core::purchase::PurchaseRequest {
                    product_id: i64::from(PRODUCT),
                    user_id: u,
                    client_ip: std::net::IpAddr::from([127, 0, 0, 1]),
                    quantity: 1,
                    strategy,
                })
                .await
            }
        }))
        .await;
        let retried = receipts.iter().filter(|r| r.retries > 0).count();
        assert!(
            retried > 0,
            "{strategy}: concurrent purchases conflicted and were retried"
        );
        assert!(
            receipts.iter().all(|r| r.retries <= 3),
            "{strategy}: retries are bounded"
        );
        for r in &receipts {
            match &r.outcome {
                Outcome::Purchased(_) | Outcome::SoldOut { .. } => {}
                Outcome::Failed(why) => assert!(why.contains("conflict"), "{strategy}: {why}"),
                other => panic!("{strategy}: {other:?}"),
            }
        }
        let purchased = receipts
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Purchased(_)))
            .count() as i64;
        let left = i64::from(store.stock(PRODUCT).await.expect("stock").expect("product"));
        assert_eq!(
            purchased,
            20 - left,
            "{strategy}: stock and acknowledged purchases agree"
        );
        store.set_stock(PRODUCT, 20).await.expect("restock");
    }
}
