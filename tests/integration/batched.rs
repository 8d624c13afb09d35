//! The `batched` strategy: concurrent purchases share transactions, each buyer still gets its
//! own outcome, a sold-out product costs no lock or write, and a restock reopens it at once.

use std::net::IpAddr;
use std::time::Duration;

use flashsale_core::config::PoolSettings;
use flashsale_core::model::Order;
use flashsale_core::purchase::{Outcome, PurchaseRequest, Purchaser};
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;
use futures::future::join_all;
use sqlx::Connection;

use crate::support::{TestDb, unlimited};

async fn buy(p: &Purchaser, product: i64, user: &str) -> Outcome {
    p.purchase(PurchaseRequest {
        product_id: product,
        user_id: user,
        client_ip: IpAddr::from([127, 0, 0, 1]),
        quantity: 1,
        strategy: Strategy::Batched,
    })
    .await
    .outcome
}

#[tokio::test]
async fn concurrent_purchases_share_transactions_and_keep_their_own_orders() {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(1, 1_000).await.expect("restock");
    let p = unlimited(&store);
    let users: Vec<String> = (0..400).map(|i| format!("batch_{i}")).collect();
    let outcomes = join_all(users.iter().map(|u| buy(&p, 1, u))).await;
    let mut ids = Vec::new();
    for (user, outcome) in users.iter().zip(&outcomes) {
        let order = outcome
            .order()
            .unwrap_or_else(|| panic!("{user}: {outcome:?}"));
        ids.push((order.id, user.clone(), order.remaining_stock));
    }
    let mut conn = db.conn().await;
    for (id, user, _) in &ids {
        let owner: String = sqlx::query_scalar("SELECT user_id FROM orders WHERE id = $1")
            .bind(*id as i32)
            .fetch_one(&mut conn)
            .await
            .expect("order exists");
        assert_eq!(&owner, user, "order {id} belongs to its buyer");
    }
    // Orders of one transaction share its timestamp: far fewer transactions than purchases.
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT created_at) FROM orders WHERE user_id LIKE 'batch\\_%'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("count");
    let _ = conn.close().await;
    assert!(
        transactions < 100,
        "400 concurrent purchases took {transactions} transactions"
    );
    let mut remaining: Vec<i32> = ids.iter().map(|(_, _, r)| *r).collect();
    remaining.sort_unstable();
    let expected: Vec<i32> = (600..1_000).collect();
    assert_eq!(
        remaining, expected,
        "each buyer saw the stock as if it bought alone, in turn"
    );
    assert_eq!(store.stock(1).await.expect("stock"), Some(600));
}

#[tokio::test]
async fn a_small_batch_cap_still_sells_exactly_the_stock() {
    let (db, _store) = TestDb::seeded().await;
    let store = db
        .store_with(PoolSettings {
            batch_max: 2,
            ..PoolSettings::default()
        })
        .await;
    store.set_stock(2, 30).await.expect("restock");
    let p = unlimited(&store);
    let users: Vec<String> = (0..100).map(|i| format!("cap_{i}")).collect();
    let outcomes = join_all(users.iter().map(|u| buy(&p, 2, u))).await;
    let purchased = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Purchased(_)))
        .count();
    assert_eq!(purchased, 30);
    assert_eq!(store.stock(2).await.expect("stock"), Some(0));
}

#[tokio::test]
async fn a_sold_out_product_answers_without_a_lock_and_a_restock_reopens_it_at_once() {
    let (db, _store) = TestDb::seeded().await;
    // A short statement timeout: a purchase that waited on the row lock below would be Busy.
    let store = db
        .store_with(PoolSettings {
            statement_timeout: Duration::from_millis(300),
            ..PoolSettings::default()
        })
        .await;
    store.set_stock(3, 1).await.expect("restock");
    let p = Purchaser::new(store.clone(), RateLimiter::off(), 10);
    assert!(matches!(buy(&p, 3, "first").await, Outcome::Purchased(_)));
    assert_eq!(
        buy(&p, 3, "second").await,
        Outcome::SoldOut { available: 0 }
    );

    // Someone holds the product's row lock; sold-out answers must not need it.
    let mut conn = db.conn().await;
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM products WHERE id = 3 FOR UPDATE")
        .execute(&mut *tx)
        .await
        .expect("lock");
    for i in 0..30 {
        let outcome = buy(&p, 3, &format!("late_{i}")).await;
        assert_eq!(outcome, Outcome::SoldOut { available: 0 }, "attempt {i}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tx.rollback().await.expect("release");

    // A restock through the store reopens it for the very next purchase.
    store.set_stock(3, 2).await.expect("restock");
    assert!(matches!(
        buy(&p, 3, "after_restock").await,
        Outcome::Purchased(_)
    ));

    // A restock by someone else is seen once the memory lapses.
    assert!(matches!(
        buy(&p, 3, "takes_last").await,
        Outcome::Purchased(_)
    ));
    assert_eq!(
        buy(&p, 3, "too_late").await,
        Outcome::SoldOut { available: 0 }
    );
    sqlx::query("UPDATE products SET stock = 5 WHERE id = 3")
        .execute(&mut conn)
        .await
        .expect("outside restock");
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(matches!(
        buy(&p, 3, "after_outside_restock").await,
        Outcome::Purchased(_)
    ));
    let _ = conn.close().await;
}

#[tokio::test]
async fn batched_purchases_of_several_products_stay_separate() {
    let (_db, store) = TestDb::seeded().await;
    for id in 1..=5 {
        store.set_stock(id, 10).await.expect("restock");
    }
    let p = unlimited(&store);
    let attempts: Vec<(i64, String)> = (0..100)
        .map(|i| (1 + i % 5, format!("multi_{i}")))
        .collect();
    let outcomes = join_all(attempts.iter().map(|(product, u)| buy(&p, *product, u))).await;
    for (product, outcome) in attempts.iter().map(|(p, _)| p).zip(&outcomes) {
        if let Some(order) = outcome.order() {
            assert_eq!(i64::from(order.product_id), *product);
        }
    }
    for id in 1..=5 {
        assert_eq!(
            store.stock(id).await.expect("stock"),
            Some(0),
            "product {id}"
        );
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Purchased(_)))
            .count(),
        50
    );
}

/// Product 4 sold out and remembered so for ten minutes by a listening store, so that only a
/// restock's notification can reopen it within a test: the database, the store, its purchaser.
async fn sold_out_and_listening() -> (TestDb, Store, Purchaser) {
    let (db, seller) = TestDb::seeded().await;
    seller.set_sold_out_memory(Duration::from_secs(600));
    seller.set_stock(4, 1).await.expect("restock");
    let p = Purchaser::new(seller.clone(), RateLimiter::off(), 10);
    assert!(matches!(buy(&p, 4, "first").await, Outcome::Purchased(_)));
    assert_eq!(
        buy(&p, 4, "second").await,
        Outcome::SoldOut { available: 0 }
    );
    // The seller's store listens from the moment its memory is in use; wait for that.
    db.wait_for_restock_listener(
        Duration::from_secs(10),
        "the seller's store listens for restocks",
    )
    .await;
    (db, seller, p)
}

/// Buys product 4 until a purchase goes through (within 10 s, or `failure`), its order.
async fn first_order_after_restock(p: &Purchaser, prefix: &str, failure: &str) -> Order {
    let reopened = async {
        for i in 0.. {
            match buy(p, 4, &format!("{prefix}_{i}")).await {
                Outcome::Purchased(order) => return order,
                Outcome::SoldOut { .. } => tokio::time::sleep(Duration::from_millis(5)).await,
                other => panic!("unexpected {other:?}"),
            }
        }
        unreachable!()
    };
    tokio::time::timeout(Duration::from_secs(10), reopened)
        .await
        .expect(failure)
}

/// Two stores on one database stand for two processes (a `serve` and the dashboard beside it).
#[tokio::test]
async fn a_restock_by_another_process_reopens_a_sold_out_product_at_once() {
    let (db, _seller, p) = sold_out_and_listening().await;
    let other_process = db.store_with(PoolSettings::default()).await;
    assert!(other_process.set_stock(4, 3).await.expect("restock"));
    let order = first_order_after_restock(
        &p,
        "after_restock",
        "the restock elsewhere reopened the product long before the memory lapsed",
    )
    .await;
    assert_eq!(order.remaining_stock, 2);
}

/// A restock by plain SQL (psql, the reference system) is heard as ours are: the trigger of
/// migration 0004 notifies, so the product reopens long before a ten-minute memory lapses.
#[tokio::test]
async fn a_plain_sql_restock_reopens_a_sold_out_product_at_once() {
    let (db, _seller, p) = sold_out_and_listening().await;
    let mut psql = db.conn().await;
    let restocked_at = std::time::Instant::now();
    sqlx::query("UPDATE products SET stock = 3 WHERE id = 4")
        .execute(&mut psql)
        .await
        .expect("plain SQL restock");
    let order = first_order_after_restock(
        &p,
        "after_sql_restock",
        "the plain SQL restock reopened the product long before the memory lapsed",
    )
    .await;
    println!(
        "plain SQL restock to the first purchase: {:?}",
        restocked_at.elapsed()
    );
    assert_eq!(order.remaining_stock, 2);
}

/// A storm of sold-out answers (from memory: nothing to wait on) must not hold the runtime's
/// threads from tasks that do wait, such as a confirming read or the pool's pings. A ticker
/// sleeping 1 ms at a time keeps ticking while eight buyers hammer a sold-out product on a
/// two-thread runtime; before purchases yielded to tokio's budget it starved until the storm
/// ended (and on a loaded machine a confirming read's pool acquire timed out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_sold_out_answers_leaves_room_for_tasks_that_wait() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    let (_lite, store) = crate::support::TestSqlite::seeded().await;
    store.set_stock(3, 0).await.expect("sold out");
    let p = Purchaser::new(store.clone(), RateLimiter::off(), 10);
    assert_eq!(
        buy(&p, 3, "first_to_see_it").await,
        Outcome::SoldOut { available: 0 }
    );
    let storming = Arc::new(AtomicBool::new(true));
    let ticks = Arc::new(AtomicU32::new(0));
    let ticker = tokio::spawn({
        let (storming, ticks) = (Arc::clone(&storming), Arc::clone(&ticks));
        async move {
            while storming.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1)).await;
                if storming.load(Ordering::Relaxed) {
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    let buyers: Vec<_> = (0..8)
        .map(|b| {
            let p = p.clone();
            tokio::spawn(async move {
                for i in 0..20_000 {
                    let o = buy(&p, 3, &format!("storm_{b}_{i}")).await;
                    assert_eq!(o, Outcome::SoldOut { available: 0 });
                }
            })
        })
        .collect();
    for b in buyers {
        b.await.expect("buyer");
    }
    storming.store(false, Ordering::Relaxed);
    ticker.await.expect("ticker");
    let ticks = ticks.load(Ordering::Relaxed);
    assert!(
        ticks >= 5,
        "the ticker ran only {ticks} times during 160,000 sold-out answers"
    );
}
