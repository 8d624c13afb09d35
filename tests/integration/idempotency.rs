//! Idempotency keys in the core: the key commits with the order or not at all, concurrent
//! retries make one order, a reused key with another request is refused, and `db reset` drops
//! the table.

use std::net::IpAddr;

use flashsale_core::purchase::{
    IdempotencyKey, KeyReused, Outcome, PurchaseRequest, Purchaser, request_hash,
};
use flashsale_core::store::{KeyRecord, NewPurchase, Sale, Store, StoreError};
use flashsale_core::strategy::Strategy;
use futures::future::join_all;
use rstest::rstest;

use crate::support::{Engine, Held, seeded, unlimited};

pub(crate) const MOUSE: i32 = 2; // stock 25

pub(crate) fn req(user: &str, quantity: i64, strategy: Strategy) -> PurchaseRequest<'_> {
    PurchaseRequest {
        product_id: i64::from(MOUSE),
        user_id: user,
        client_ip: IpAddr::from([127, 0, 0, 1]),
        quantity,
        strategy,
    }
}

/// The orders of the mouse, counted (not the highest id: a batch rolled back on a taken key
/// has used up sequence values, so ids have gaps).
async fn order_count(store: &Store) -> usize {
    store
        .orders_after(MOUSE, 0, "")
        .await
        .expect("orders")
        .len()
}

#[rstest]
#[case::atomic_on_postgres(Engine::Postgres, Strategy::Atomic)]
#[case::row_lock_on_postgres(Engine::Postgres, Strategy::RowLock)]
#[case::batched_on_postgres(Engine::Postgres, Strategy::Batched)]
#[case::atomic_on_sqlite(Engine::Sqlite, Strategy::Atomic)]
#[case::row_lock_on_sqlite(Engine::Sqlite, Strategy::RowLock)]
#[case::batched_on_sqlite(Engine::Sqlite, Strategy::Batched)]
#[tokio::test]
async fn a_taken_key_rolls_back_the_whole_purchase(
    #[case] engine: Engine,
    #[case] strategy: Strategy,
) {
    let (_held, store) = seeded(engine).await;
    let p = NewPurchase {
        product_id: MOUSE,
        user_id: "k_user",
        quantity: 2,
    };
    let hash = request_hash(&p);
    let key = KeyRecord {
        key: "key-1",
        request_hash: &hash,
    };
    let first = store
        .purchase_keyed(p, strategy, None, Some(key))
        .await
        .expect("first purchase");
    let Sale::Purchased(order) = first else {
        panic!("expected a purchase, got {first:?}");
    };
    let stock = store.stock(MOUSE).await.expect("stock");
    let orders = order_count(&store).await;
    let second = store.purchase_keyed(p, strategy, None, Some(key)).await;
    assert_eq!(second, Err(StoreError::Duplicate), "{engine:?} {strategy}");
    assert_eq!(
        store.stock(MOUSE).await.expect("stock"),
        stock,
        "stock restored"
    );
    assert_eq!(order_count(&store).await, orders, "no second order");
    let found = store
        .idempotency_lookup("key-1")
        .await
        .expect("lookup")
        .expect("recorded");
    assert_eq!(found.request_hash, hash);
    assert_eq!(
        found.sale,
        Sale::Purchased(order),
        "the stored row replays the order"
    );
}

#[rstest]
#[case::atomic_on_postgres(Engine::Postgres, Strategy::Atomic)]
#[case::row_lock_on_postgres(Engine::Postgres, Strategy::RowLock)]
#[case::batched_on_postgres(Engine::Postgres, Strategy::Batched)]
#[case::atomic_on_sqlite(Engine::Sqlite, Strategy::Atomic)]
#[case::batched_on_sqlite(Engine::Sqlite, Strategy::Batched)]
#[tokio::test]
async fn twenty_concurrent_retries_with_one_key_make_one_order(
    #[case] engine: Engine,
    #[case] strategy: Strategy,
) {
    let (_held, store) = seeded(engine).await;
    let before_stock = store.stock(MOUSE).await.expect("stock").expect("product");
    let before_orders = order_count(&store).await;
    let purchaser = unlimited(&store);
    let key = IdempotencyKey::parse("retry-storm-1").expect("key");
    let receipts = join_all((0..20).map(|_| {
        let p = purchaser.clone();
        let key = key.clone();
        async move {
            p.purchase_idempotent(req("retrier", 3, strategy), &key)
                .await
                .expect("same request")
        }
    }))
    .await;
    let ids: Vec<i64> = receipts
        .iter()
        .map(|r| match &r.receipt.outcome {
            Outcome::Purchased(o) => o.id,
            other => panic!("{engine:?} {strategy}: expected the order, got {other:?}"),
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one order id: {ids:?}");
    assert_eq!(
        receipts.iter().filter(|r| !r.replayed).count(),
        1,
        "exactly one request made the order"
    );
    assert_eq!(order_count(&store).await, before_orders + 1);
    assert_eq!(
        store.stock(MOUSE).await.expect("stock"),
        Some(before_stock - 3)
    );
}

/// Keyed purchases ride the batched path: they share transactions (the orders' `xmin`), each
/// key records its own order, and one retry among them (a key already used, same request)
/// replays without costing the others their batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_batched_purchases_share_transactions_and_each_key_records_its_order() {
    let (db, store) = crate::support::TestDb::seeded().await;
    store.set_stock(MOUSE, 10_000).await.expect("restock");
    let before = store.max_order_id().await.expect("max id");
    let purchaser = unlimited(&store);
    let first = IdempotencyKey::parse("batched-retry").expect("key");
    let original = purchaser
        .purchase_idempotent(req("keyed_0", 1, Strategy::Batched), &first)
        .await
        .expect("first");
    let Outcome::Purchased(original_order) = &original.receipt.outcome else {
        panic!("{original:?}");
    };
    let users: Vec<String> = (1..=300).map(|i| format!("keyed_{i}")).collect();
    let receipts = join_all(users.iter().enumerate().map(|(i, user)| {
        let p = purchaser.clone();
        async move {
            // Every 100th is a retry of the first request, with its key.
            let (user, key) = if i % 100 == 0 {
                (
                    "keyed_0",
                    IdempotencyKey::parse("batched-retry").expect("key"),
                )
            } else {
                (
                    user.as_str(),
                    IdempotencyKey::parse(&format!("k-{user}")).expect("key"),
                )
            };
            let receipt = p
                .purchase_idempotent(req(user, 1, Strategy::Batched), &key)
                .await
                .expect("same request");
            (key, user, receipt)
        }
    }))
    .await;
    for (key, user, r) in &receipts {
        let Outcome::Purchased(order) = &r.receipt.outcome else {
            panic!("{}: {:?}", key.as_str(), r.receipt.outcome);
        };
        // Keys are stored scoped to their user.
        let found = store
            .idempotency_lookup(key.scoped_to(user).as_str())
            .await
            .expect("lookup")
            .expect("recorded");
        assert_eq!(
            found.sale,
            Sale::Purchased(order.clone()),
            "{}",
            key.as_str()
        );
        if key.as_str() == "batched-retry" {
            assert!(r.replayed, "the retry replays");
            assert_eq!(order.id, original_order.id);
        } else {
            assert!(!r.replayed);
        }
    }
    let mut conn = db.conn().await;
    let (orders, transactions): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT xmin::text) FROM orders WHERE id > $1")
            .bind(before)
            .fetch_one(&mut conn)
            .await
            .expect("orders");
    assert_eq!(orders, 1 + 297, "one order per new key");
    assert!(
        transactions < orders / 4,
        "{orders} keyed orders in {transactions} transactions: they shared commits"
    );
}

#[rstest]
#[case::postgres(Engine::Postgres)]
#[case::sqlite(Engine::Sqlite)]
#[tokio::test]
async fn sold_out_is_replayed_and_a_reused_key_is_refused(#[case] engine: Engine) {
    let (_held, store) = seeded(engine).await;
    store.set_stock(MOUSE, 1).await.expect("restock");
    let p: Purchaser = unlimited(&store);
    let key = IdempotencyKey::parse("sold-out-key").expect("key");
    let first = p
        .purchase_idempotent(req("late", 2, Strategy::Atomic), &key)
        .await
        .expect("first");
    assert_eq!(first.receipt.outcome, Outcome::SoldOut { available: 1 });
    assert!(!first.replayed);
    // Restocked meanwhile: the retry still gets the original answer.
    store.set_stock(MOUSE, 10).await.expect("restock");
    let again = p
        .purchase_idempotent(req("late", 2, Strategy::Atomic), &key)
        .await
        .expect("retry");
    assert!(again.replayed);
    assert_eq!(again.receipt.outcome, Outcome::SoldOut { available: 1 });
    let other = p
        .purchase_idempotent(req("late", 3, Strategy::Atomic), &key)
        .await;
    assert_eq!(other, Err(KeyReused));
    assert_eq!(store.stock(MOUSE).await.expect("stock"), Some(10));
    // Keys are per user: another user's same key is another purchase, not a reuse.
    let other_user = p
        .purchase_idempotent(req("someone", 2, Strategy::Atomic), &key)
        .await
        .expect("another user's key");
    assert!(!other_user.replayed);
    assert!(matches!(other_user.receipt.outcome, Outcome::Purchased(_)));
    assert_eq!(store.stock(MOUSE).await.expect("stock"), Some(8));
}

#[tokio::test]
async fn naive_records_its_key_after_the_order() {
    let (_held, store) = seeded(Engine::Postgres).await;
    let p = unlimited(&store);
    let key = IdempotencyKey::parse("naive-key").expect("key");
    let first = p
        .purchase_idempotent(req("naive_user", 1, Strategy::Naive), &key)
        .await
        .expect("first");
    let Outcome::Purchased(order) = first.receipt.outcome else {
        panic!("expected a purchase: {first:?}");
    };
    let again = p
        .purchase_idempotent(req("naive_user", 1, Strategy::Naive), &key)
        .await
        .expect("retry");
    assert!(again.replayed);
    assert_eq!(again.receipt.outcome, Outcome::Purchased(order));
}

#[rstest]
#[case::postgres(Engine::Postgres)]
#[case::sqlite(Engine::Sqlite)]
#[tokio::test]
async fn db_reset_drops_idempotency_keys(#[case] engine: Engine) {
    let (_held, store) = seeded(engine).await;
    let p = unlimited(&store);
    let key = IdempotencyKey::parse("before-reset").expect("key");
    let r = p
        .purchase_idempotent(req("resetter", 1, Strategy::Atomic), &key)
        .await
        .expect("purchase");
    assert!(matches!(r.receipt.outcome, Outcome::Purchased(_)));
    store.reset().await.expect("reset");
    assert_eq!(
        store
            .idempotency_lookup("before-reset")
            .await
            .expect("lookup"),
        None,
        "keys are gone with their orders"
    );
}

/// Makes `key`'s record `hours` old, with the engine's own SQL.
async fn age_key(held: &Held, key: &str, hours: u32) {
    match held {
        Held::Pg(db) => {
            let mut conn = db.conn().await;
            sqlx::query(
                "UPDATE idempotency_keys SET created_at = LOCALTIMESTAMP - make_interval(hours => $2)
                 WHERE key = $1",
            )
            .bind(key)
            .bind(hours as i32)
            .execute(&mut conn)
            .await
            .expect("age the key");
        }
        Held::Lite(lite) => {
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
                "sqlite://{}",
                lite.path().display()
            ))
            .await
            .expect("open the file");
            sqlx::query(
                "UPDATE idempotency_keys
                 SET created_at = strftime('%Y-%m-%d %H:%M:%f', 'now', ?2) WHERE key = ?1",
            )
            .bind(key)
            .bind(format!("-{hours} hours"))
            .execute(&mut conn)
            .await
            .expect("age the key");
        }
    }
}

#[rstest]
#[case::postgres(Engine::Postgres)]
#[case::sqlite(Engine::Sqlite)]
#[tokio::test]
async fn expired_keys_are_swept_and_live_ones_kept(#[case] engine: Engine) {
    let (held, store) = seeded(engine).await;
    let p = NewPurchase {
        product_id: MOUSE,
        user_id: "sweep_user",
        quantity: 1,
    };
    let hash = request_hash(&p);
    let key = |k: &'static str| KeyRecord {
        key: k,
        request_hash: &hash,
    };
    // A purchase's key (pointing at its order) and a sold-out's, both two days old; one fresh.
    let bought = store
        .purchase_keyed(p, Strategy::Atomic, None, Some(key("old-purchase")))
        .await
        .expect("purchase");
    assert!(matches!(bought, Sale::Purchased(_)), "{bought:?}");
    store
        .record_key(key("old-sold-out"), &Sale::SoldOut { available: 0 })
        .await
        .expect("record");
    store
        .record_key(key("fresh"), &Sale::NotFound)
        .await
        .expect("record");
    age_key(&held, "old-purchase", 48).await;
    age_key(&held, "old-sold-out", 48).await;
    let orders = order_count(&store).await;

    let ttl = std::time::Duration::from_secs(24 * 3_600);
    assert_eq!(
        store.expire_idempotency_keys(ttl).await.expect("sweep"),
        2,
        "{engine:?}"
    );
    for gone in ["old-purchase", "old-sold-out"] {
        assert!(
            store
                .idempotency_lookup(gone)
                .await
                .expect("lookup")
                .is_none(),
            "{engine:?}: {gone} swept"
        );
    }
    assert!(
        store
            .idempotency_lookup("fresh")
            .await
            .expect("lookup")
            .is_some(),
        "{engine:?}: a key within its time is kept"
    );
    assert_eq!(order_count(&store).await, orders, "orders are never swept");
    assert_eq!(
        store.expire_idempotency_keys(ttl).await.expect("sweep"),
        0,
        "nothing left to sweep"
    );
}

/// A database migrated by a build before migration 5 (the key's foreign key to `orders`, a
/// B-tree on `created_at`) is brought to the lean shape at the next start, and a keyed purchase
/// on it still records, refuses a reused key, and replays.
#[tokio::test]
async fn a_database_keyed_before_the_lean_keys_migration_is_upgraded_at_start() {
    let (db, store) = crate::support::db::TestDb::seeded().await;
    let mut conn = db.conn().await;
    sqlx::raw_sql(
        "DROP INDEX idx_idempotency_keys_created_at_brin;
         CREATE INDEX idx_idempotency_keys_created_at ON idempotency_keys(created_at);
         ALTER TABLE idempotency_keys ADD FOREIGN KEY (order_id) REFERENCES orders(id);
         DELETE FROM _sqlx_migrations WHERE version = 5;",
    )
    .execute(&mut conn)
    .await
    .expect("the shape of migration 4");
    store.close().await;

    let store = db.store_with(Default::default()).await;
    store
        .migrate()
        .await
        .expect("migration 5 on an older database");
    let (foreign_keys, btree, brin): (i64, bool, bool) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM pg_constraint
                 WHERE contype = 'f' AND conrelid = 'idempotency_keys'::regclass),
                to_regclass('idx_idempotency_keys_created_at') IS NOT NULL,
                (SELECT am.amname = 'brin' FROM pg_class c JOIN pg_am am ON am.oid = c.relam
                 WHERE c.oid = to_regclass('idx_idempotency_keys_created_at_brin'))",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the keys table's shape");
    assert_eq!(foreign_keys, 0, "the key's foreign key to orders is gone");
    assert!(!btree, "the B-tree on created_at is gone");
    assert!(brin, "created_at has its BRIN index");

    let purchaser = unlimited(&store);
    let key = IdempotencyKey::parse("after-upgrade").expect("key");
    let first = purchaser
        .purchase_idempotent(req("upgraded", 1, Strategy::Batched), &key)
        .await
        .expect("first");
    let Outcome::Purchased(order) = &first.receipt.outcome else {
        panic!("expected an order, got {:?}", first.receipt.outcome);
    };
    let again = purchaser
        .purchase_idempotent(req("upgraded", 1, Strategy::Batched), &key)
        .await
        .expect("retry");
    assert!(again.replayed, "the retry replays");
    assert_eq!(again.receipt.outcome, Outcome::Purchased(order.clone()));
    assert_eq!(
        purchaser
            .purchase_idempotent(req("upgraded", 2, Strategy::Batched), &key)
            .await,
        Err(KeyReused),
        "the same key with another request is refused"
    );
    let _ = sqlx::Connection::close(conn).await;
}
