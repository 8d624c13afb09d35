//! `Idempotency-Key` over HTTP: concurrent retries make one order, a reused key with another
//! body is 422, and a client whose request died around the commit finds its order on retry.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use flashsale_client::ApiClient;
use flashsale_core::purchase::{Outcome, PurchaseRequest};
use flashsale_core::strategy::Strategy;
use futures::future::join_all;
use reqwest::StatusCode;
use rstest::rstest;
use serde_json::Value;
use sqlx::Connection;

use crate::support::http::{TestServer, config, raw};
use crate::support::{TestDb, unlimited};

const MOUSE: i64 = 2;

fn req(user: &str) -> PurchaseRequest<'_> {
    PurchaseRequest {
        product_id: MOUSE,
        user_id: user,
        client_ip: IpAddr::from([10, 20, 0, 1]),
        quantity: 1,
        strategy: Strategy::Atomic,
    }
}

async fn orders_of(db: &TestDb, user: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders WHERE user_id = $1")
        .bind(user)
        .fetch_one(&mut db.conn().await)
        .await
        .expect("count")
}

#[rstest]
#[case::atomic(Strategy::Atomic)]
#[case::row_lock(Strategy::RowLock)]
#[tokio::test]
async fn twenty_concurrent_retries_with_one_key_get_one_order(#[case] strategy: Strategy) {
    let (db, store) = TestDb::seeded().await;
    let s = TestServer::start(
        unlimited(&store),
        flashsale_server::ServerConfig {
            strategy,
            ..config()
        },
    )
    .await;
    let client = s.client();
    let answers = join_all((0..20).map(|_| {
        let client = client.clone();
        async move {
            client
                .purchase_with_key(&req("retrier"), "http-key-20")
                .await
        }
    }))
    .await;
    let ids: Vec<i64> = answers
        .iter()
        .map(|(o, _)| match o {
            Outcome::Purchased(order) => order.id,
            other => panic!("{strategy}: expected the order, got {other:?}"),
        })
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one order id for all: {ids:?}"
    );
    assert_eq!(
        answers.iter().filter(|(_, replayed)| !replayed).count(),
        1,
        "one request made the order, the others were replays"
    );
    assert_eq!(orders_of(&db, "retrier").await, 1);
    assert_eq!(store.stock(2).await.expect("stock"), Some(24));
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_and_bad_keys_are_400() {
    let (db, store) = TestDb::seeded().await;
    let s = TestServer::start(unlimited(&store), config()).await;
    let post = |key: String, body: &'static str| {
        raw()
            .post(format!("{}/api/purchase", s.url))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body)
            .send()
    };
    let first = post("k-422".into(), r#"{"productId":2,"userId":"u422"}"#)
        .await
        .expect("first");
    assert_eq!(first.status(), StatusCode::OK);
    let again = post("k-422".into(), r#"{"productId":2,"userId":"u422"}"#)
        .await
        .expect("again");
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let other = post(
        "k-422".into(),
        r#"{"productId":2,"userId":"u422","quantity":2}"#,
    )
    .await
    .expect("other");
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = serde_json::from_str(&other.text().await.expect("text")).expect("json");
    assert_eq!(body["success"], false);
    assert_eq!(body["field"], "Idempotency-Key");
    let bad = post("k".repeat(300), r#"{"productId":2,"userId":"u422"}"#)
        .await
        .expect("bad key");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&bad.text().await.expect("text")).expect("json");
    assert_eq!(body["field"], "Idempotency-Key");
    assert_eq!(orders_of(&db, "u422").await, 1);
}

/// Holds the product's row lock on a connection of its own, so purchases of it wait.
async fn lock_product(db: &TestDb) -> sqlx::PgConnection {
    let mut conn = db.conn().await;
    sqlx::raw_sql("BEGIN; SELECT stock FROM products WHERE id = 2 FOR UPDATE;")
        .execute(&mut conn)
        .await
        .expect("lock");
    conn
}

async fn release(mut conn: sqlx::PgConnection) {
    sqlx::raw_sql("COMMIT")
        .execute(&mut conn)
        .await
        .expect("commit");
    let _ = conn.close().await;
}

#[tokio::test]
async fn a_client_that_gave_up_before_the_commit_finds_its_order_on_retry() {
    let (db, store) = TestDb::seeded().await;
    let s = TestServer::start(unlimited(&store), config()).await;
    let lock = lock_product(&db).await;
    let impatient = ApiClient::new(&s.url, 4, Duration::from_millis(300)).expect("client");
    let (gave_up, _) = impatient
        .purchase_with_key(&req("impatient"), "gave-up-1")
        .await;
    assert!(
        matches!(&gave_up, Outcome::Failed(why) if why.contains("timed out")),
        "{gave_up:?}"
    );
    release(lock).await;
    // The server finishes the purchase the client abandoned.
    let deadline = Instant::now() + Duration::from_secs(10);
    while orders_of(&db, "impatient").await == 0 {
        assert!(
            Instant::now() < deadline,
            "the abandoned purchase was never committed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (retry, replayed) = s
        .client()
        .purchase_with_key(&req("impatient"), "gave-up-1")
        .await;
    assert!(replayed, "{retry:?}");
    let Outcome::Purchased(order) = retry else {
        panic!("expected the original order, got {retry:?}");
    };
    assert_eq!(order.product_id, 2);
    assert_eq!(orders_of(&db, "impatient").await, 1, "no second order");
}

#[tokio::test]
async fn a_purchase_whose_database_connection_is_killed_leaves_nothing_and_retries_cleanly() {
    let (db, store) = TestDb::seeded().await;
    let s = TestServer::start(unlimited(&store), config()).await;
    let lock = lock_product(&db).await;
    let client = s.client();
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.purchase_with_key(&req("killed"), "killed-1").await }
    });
    // Wait for the purchase to block on the row lock, then kill its backend mid-transaction.
    let mut admin = db.conn().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'flashsale'
               AND wait_event_type = 'Lock'",
        )
        .fetch_all(&mut admin)
        .await
        .expect("terminate");
        if killed.contains(&true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the purchase never waited on the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (outcome, _) = pending.await.expect("request task");
    assert!(
        matches!(outcome, Outcome::Failed(_) | Outcome::Busy(_)),
        "a killed connection is an error, not a purchase: {outcome:?}"
    );
    release(lock).await;
    assert_eq!(orders_of(&db, "killed").await, 0, "nothing half-written");
    let (retry, replayed) = client.purchase_with_key(&req("killed"), "killed-1").await;
    assert!(matches!(retry, Outcome::Purchased(_)), "{retry:?}");
    assert!(!replayed, "nothing was recorded for the killed attempt");
    assert_eq!(orders_of(&db, "killed").await, 1);
    assert_eq!(store.stock(2).await.expect("stock"), Some(24));
}

/// `serve` sweeps keys past their time to live while it runs: a retry within the time replays,
/// one after the sweep is a purchase of its own.
#[tokio::test]
async fn the_server_sweeps_expired_keys_while_it_runs() {
    let (db, store) = TestDb::seeded().await;
    let s = TestServer::start(
        unlimited(&store),
        flashsale_server::ServerConfig {
            idempotency_ttl: Duration::from_secs(3_600),
            key_sweep_every: Duration::from_millis(50),
            ..config()
        },
    )
    .await;
    let client = s.client();
    let (first, replayed) = client.purchase_with_key(&req("sweeper"), "swept-key").await;
    assert!(
        matches!(first, Outcome::Purchased(_)) && !replayed,
        "{first:?}"
    );
    let (again, replayed) = client.purchase_with_key(&req("sweeper"), "swept-key").await;
    assert_eq!(again, first, "within its time the key replays");
    assert!(replayed);

    // Two hours old now: the next sweep takes it. Stored scoped to its user.
    let stored = flashsale_core::purchase::IdempotencyKey::parse("swept-key")
        .expect("key")
        .scoped_to("sweeper");
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = LOCALTIMESTAMP - interval '2 hours'
         WHERE key = $1",
    )
    .bind(stored.as_str())
    .execute(&mut db.conn().await)
    .await
    .expect("age the key");
    let started = Instant::now();
    while store
        .idempotency_lookup(stored.as_str())
        .await
        .expect("lookup")
        .is_some()
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the server swept the expired key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (after, replayed) = client.purchase_with_key(&req("sweeper"), "swept-key").await;
    assert!(!replayed, "a swept key starts afresh: {after:?}");
    assert!(matches!(after, Outcome::Purchased(_)), "{after:?}");
    assert_eq!(orders_of(&db, "sweeper").await, 2);
}
