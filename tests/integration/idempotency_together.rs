//! Keyed purchases arriving together: the key lookups asked at one moment share a query, and
//! keyed and keyless purchases share batches, each key recording only its own order.

use std::time::Duration;

use flashsale_core::config::PoolSettings;
use flashsale_core::purchase::{IdempotencyKey, Outcome, request_hash};
use flashsale_core::store::{KeyRecord, NewPurchase, Sale, Store};
use flashsale_core::strategy::Strategy;
use futures::future::join_all;
use rstest::rstest;

use crate::idempotency::{MOUSE, req};
use crate::support::{Engine, TestSqlite, seeded, unlimited};

/// Lookups asked at the same moment share one query (`store::key_lookups`): each caller still
/// gets its own key's record, whatever it recorded, or none, and asking a key twice at once
/// gives both the same.
#[rstest]
#[case::postgres(Engine::Postgres)]
#[case::sqlite(Engine::Sqlite)]
#[tokio::test]
async fn lookups_asked_together_each_get_their_own_keys_record(#[case] engine: Engine) {
    let (_held, store) = seeded(engine).await;
    let mut expected: Vec<(String, Option<Sale>)> = Vec::new();
    // Outcomes other than a purchase, recorded under some request's fingerprint.
    let hash = "e".repeat(64);
    for i in 0..10 {
        let user = format!("lk_user_{i}");
        let p = NewPurchase {
            product_id: MOUSE,
            user_id: &user,
            quantity: 1,
        };
        let hash = request_hash(&p);
        let key = format!("bought-{i}");
        let record = KeyRecord {
            key: &key,
            request_hash: &hash,
        };
        let sale = store
            .purchase_keyed(p, Strategy::Atomic, None, Some(record))
            .await
            .expect("purchase");
        assert!(matches!(sale, Sale::Purchased(_)), "{sale:?}");
        expected.push((key, Some(sale)));
    }
    for i in 0..10 {
        let key = format!("sold-out-{i}");
        let sale = Sale::SoldOut { available: i };
        let record = KeyRecord {
            key: &key,
            request_hash: &hash,
        };
        store.record_key(record, &sale).await.expect("record");
        expected.push((key, Some(sale)));
    }
    for i in 0..10 {
        let key = format!("not-found-{i}");
        let record = KeyRecord {
            key: &key,
            request_hash: &hash,
        };
        store
            .record_key(record, &Sale::NotFound)
            .await
            .expect("record");
        expected.push((key, Some(Sale::NotFound)));
    }
    expected.extend((0..20).map(|i| (format!("never-used-{i}"), None)));
    // Every key asked twice, the two askings far apart in the list, all at once.
    let asked: Vec<&(String, Option<Sale>)> =
        expected.iter().chain(expected.iter().rev()).collect();
    let answers = join_all(asked.iter().map(|(key, _)| store.idempotency_lookup(key))).await;
    for ((key, sale), answer) in asked.iter().zip(answers) {
        let answer = answer.expect("lookup").map(|found| found.sale);
        assert_eq!(&answer, sale, "{engine:?}: the record of {key}");
    }
}

/// Keyed and keyless purchases of one product arriving together share batches: every keyed
/// one's key records its own order (the statement that sells records them, `pg_keys::record_keys!`),
/// and no keyless one leaves a key behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_and_keyless_purchases_in_one_batch_each_record_only_their_own() {
    let (db, store) = crate::support::TestDb::seeded().await;
    store.set_stock(MOUSE, 10_000).await.expect("restock");
    let purchaser = unlimited(&store);
    let users: Vec<String> = (0..200).map(|i| format!("mixed_{i}")).collect();
    let outcomes = join_all(users.iter().enumerate().map(|(i, user)| {
        let p = purchaser.clone();
        async move {
            let r = req(user, 1 + (i % 3) as i64, Strategy::Batched);
            if i % 2 == 0 {
                let key = IdempotencyKey::parse(&format!("mixed-{i}")).expect("key");
                let receipt = p.purchase_idempotent(r, &key).await.expect("fresh key");
                (Some(key), receipt.receipt.outcome)
            } else {
                (None, p.purchase(r).await.outcome)
            }
        }
    }))
    .await;
    for ((key, outcome), user) in outcomes.iter().zip(&users) {
        let Outcome::Purchased(order) = outcome else {
            panic!("{user}: {outcome:?}");
        };
        if let Some(key) = key {
            let found = store
                .idempotency_lookup(key.scoped_to(user).as_str())
                .await
                .expect("lookup")
                .expect("recorded");
            assert_eq!(found.sale, Sale::Purchased(order.clone()), "{user}");
        }
    }
    let mut conn = db.conn().await;
    let (keys,): (i64,) = sqlx::query_as("SELECT count(*) FROM idempotency_keys")
        .fetch_one(&mut conn)
        .await
        .expect("keys");
    assert_eq!(keys, 100, "one key per keyed purchase, none for the others");
}

/// A record that cannot be read (its order gone behind the foreign key's back) fails the
/// lookup of its own key only: the keys looked up in the same query still get theirs.
#[tokio::test]
async fn a_broken_record_fails_only_its_own_lookup() {
    let (db, store) = crate::support::TestDb::seeded().await;
    let mut orders = Vec::new();
    for key in ["whole", "broken"] {
        let p = NewPurchase {
            product_id: MOUSE,
            user_id: key,
            quantity: 1,
        };
        let hash = request_hash(&p);
        let record = KeyRecord {
            key,
            request_hash: &hash,
        };
        let sale = store
            .purchase_keyed(p, Strategy::Atomic, None, Some(record))
            .await
            .expect("purchase");
        let Sale::Purchased(order) = sale else {
            panic!("{sale:?}");
        };
        orders.push(order);
    }
    let mut conn = db.conn().await;
    // Past the foreign key (triggers off for this session, as a careless restore would).
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .expect("replica role");
    sqlx::query("DELETE FROM orders WHERE id = $1")
        .bind(orders[1].id as i32)
        .execute(&mut conn)
        .await
        .expect("delete the order");
    let (whole, broken) = tokio::join!(
        store.idempotency_lookup("whole"),
        store.idempotency_lookup("broken")
    );
    let whole = whole.expect("the whole record reads").expect("recorded");
    assert_eq!(whole.sale, Sale::Purchased(orders[0].clone()));
    let err = broken.expect_err("the broken record is an error");
    assert!(err.to_string().contains("without its order"), "{err}");
}

/// A batch applied again after a taken key is a batch like any other: the sold-out it finds is
/// remembered, so the next buyers are answered from memory. On SQLite nothing tells one store
/// of another's restock, so a restock through a second store (another process) stays unseen
/// while the memory lasts: that is what shows the memory was set.
#[tokio::test]
async fn a_batch_applied_again_after_a_taken_key_remembers_the_sold_out_it_finds() {
    let (lite, store) = TestSqlite::seeded().await;
    store.set_sold_out_memory(Duration::from_secs(600));
    store.set_stock(MOUSE, 2).await.expect("restock");
    let p = unlimited(&store);
    let key = IdempotencyKey::parse("sold-last-again").expect("key");
    let first = p
        .purchase_idempotent(req("keyed", 1, Strategy::Batched), &key)
        .await
        .expect("first");
    assert!(matches!(first.receipt.outcome, Outcome::Purchased(_)));
    // The retry and a keyless buyer arrive together (one thread: both are queued before the
    // gatherer runs): their batch rolls back on the retry's key, and the keyless purchase,
    // applied again, takes the last unit.
    let (retry, last) = tokio::join!(
        p.purchase_idempotent(req("keyed", 1, Strategy::Batched), &key),
        p.purchase(req("last", 1, Strategy::Batched)),
    );
    assert!(retry.expect("same request").replayed, "the retry replays");
    match last.outcome {
        Outcome::Purchased(order) => assert_eq!(order.remaining_stock, 0),
        other => panic!("the keyless buyer gets the last unit, got {other:?}"),
    }
    let other_process = Store::open(&lite.target(), &PoolSettings::default())
        .await
        .expect("second store");
    other_process.set_stock(MOUSE, 5).await.expect("restock");
    assert_eq!(
        p.purchase(req("after", 1, Strategy::Batched)).await.outcome,
        Outcome::SoldOut { available: 0 },
        "answered from the memory the batch applied again left"
    );
}
