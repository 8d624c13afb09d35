//! Backends killed every 50 ms under a storm, for every safe strategy, in process and over
//! HTTP: the invariant holds; and with an idempotency key per buyer, retrying what failed under
//! the kills never buys twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flashsale_core::audit::AuditScope;
use flashsale_core::purchase::{IdempotencyKey, Outcome, PurchaseRequest};
use flashsale_core::strategy::Strategy;
use flashsale_server::ServerConfig;
use futures::stream::{self, StreamExt};
use rstest::rstest;
use sqlx::Connection;

use crate::support::buyers::{Entry, PRODUCT, req, storm};
use crate::support::http::{TestServer, config as http_config};
use crate::support::invariant::check_invariant;
use crate::support::{TestDb, unlimited};

/// Kills one of our backends on `db` every 50 ms until stopped; returns how many it killed.
fn start_killer(
    db_url: String,
    db_name: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut conn = sqlx::PgConnection::connect(&db_url)
            .await
            .expect("killer connection");
        let mut killed = 0;
        while !stop.load(Ordering::Relaxed) {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND application_name = 'flashsale' AND pid <> pg_backend_pid()
                 ORDER BY random() LIMIT 1) k",
            )
            .bind(&db_name)
            .fetch_one(&mut conn)
            .await
            .unwrap_or(0);
            killed += n as u64;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        killed
    })
}

/// Backends killed every 50 ms during 10^4 purchases, 64 at a time, in process or over HTTP:
/// the storm outlives the kills, and the invariant holds.
#[rstest]
#[case::row_lock_in_process(Strategy::RowLock, Entry::InProcess)]
#[case::atomic_in_process(Strategy::Atomic, Entry::InProcess)]
#[case::batched_in_process(Strategy::Batched, Entry::InProcess)]
#[case::row_lock_over_http(Strategy::RowLock, Entry::OverHttp)]
#[case::atomic_over_http(Strategy::Atomic, Entry::OverHttp)]
#[case::batched_over_http(Strategy::Batched, Entry::OverHttp)]
#[tokio::test]
async fn backends_killed_every_50ms_leave_stock_and_orders_in_balance(
    #[case] strategy: Strategy,
    #[case] entry: Entry,
) {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, 8_000).await.expect("restock");
    let prefix = format!("kill_{strategy}_");
    let scope = AuditScope::before(&store, PRODUCT, &prefix)
        .await
        .expect("scope");
    let stop = Arc::new(AtomicBool::new(false));
    let killer = start_killer(db.url.clone(), db.name.clone(), Arc::clone(&stop));
    let outcomes = if entry == Entry::OverHttp {
        let server = TestServer::start(
            unlimited(&store),
            ServerConfig {
                strategy,
                ..http_config()
            },
        )
        .await;
        let client = server.client();
        let outcomes = stream::iter(0..10_000u32)
            .map(|i| {
                let (client, user) = (client.clone(), format!("{prefix}{i}"));
                async move {
                    client
                        .purchase(&PurchaseRequest {
                            strategy,
                            ..req(&user, i)
                        })
                        .await
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await;
        drop(server);
        outcomes
    } else {
        storm(&unlimited(&store), strategy, &prefix, 10_000, 64).await
    };
    stop.store(true, Ordering::Relaxed);
    let killed = killer.await.expect("killer");
    let audit = check_invariant(&store, &scope, &outcomes).await;
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed(_)))
        .count();
    eprintln!(
        "{strategy} ({entry:?}): killed {killed} backends; {failed} purchases failed; audit {audit:?}"
    );
    assert!(killed > 0, "the storm outlived at least one kill");
    assert!(audit.units_sold > 0);
}

/// With an idempotency key per buyer, retrying what failed under the kills returns the order a
/// killed connection had committed instead of buying again: one order per buyer at most. In
/// process through the purchase module, or over HTTP with the `Idempotency-Key` header.
#[rstest]
#[case::atomic_in_process(Strategy::Atomic, Entry::InProcess)]
#[case::row_lock_in_process(Strategy::RowLock, Entry::InProcess)]
#[case::atomic_over_http(Strategy::Atomic, Entry::OverHttp)]
#[case::batched_over_http(Strategy::Batched, Entry::OverHttp)]
#[tokio::test]
async fn idempotent_retries_after_killed_backends_never_buy_twice(
    #[case] strategy: Strategy,
    #[case] entry: Entry,
) {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, 5_000).await.expect("restock");
    let p = unlimited(&store);
    let server = if entry == Entry::OverHttp {
        Some(
            TestServer::start(
                p.clone(),
                ServerConfig {
                    strategy,
                    ..http_config()
                },
            )
            .await,
        )
    } else {
        None
    };
    let client = server.as_ref().map(TestServer::client);
    let stop = Arc::new(AtomicBool::new(false));
    let killer = start_killer(db.url.clone(), db.name.clone(), Arc::clone(&stop));
    let buy = |i: u32| {
        let (p, client) = (p.clone(), client.clone());
        async move {
            let user = format!("idem_{i}");
            let key = format!("key-{i}");
            let request = PurchaseRequest {
                strategy,
                ..req(&user, i)
            };
            let mut last = None;
            // The first try, and up to 5 retries of anything that did not clearly finish.
            for _ in 0..6 {
                let outcome = match &client {
                    Some(c) => c.purchase_with_key(&request, &key).await.0,
                    None => {
                        let key = IdempotencyKey::parse(&key).expect("key");
                        p.purchase_idempotent(request, &key)
                            .await
                            .expect("same request, same key")
                            .receipt
                            .outcome
                    }
                };
                let done = matches!(outcome, Outcome::Purchased(_) | Outcome::SoldOut { .. });
                last = Some(outcome);
                if done {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (user, last.expect("at least one try"))
        }
    };
    let results: Vec<(String, Outcome)> = stream::iter(0..2_000)
        .map(buy)
        .buffer_unordered(64)
        .collect()
        .await;
    stop.store(true, Ordering::Relaxed);
    let killed = killer.await.expect("killer");
    let mut conn = db.conn().await;
    let per_user: Vec<(String, i64)> = sqlx::query_as(
        "SELECT user_id, count(*) FROM orders WHERE user_id LIKE 'idem\\_%' GROUP BY user_id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("orders per user");
    let _ = conn.close().await;
    assert!(
        per_user.iter().all(|(_, n)| *n == 1),
        "never two orders for one buyer"
    );
    for (user, outcome) in &results {
        if let Outcome::Purchased(order) = outcome {
            assert!(
                per_user.iter().any(|(u, _)| u == user),
                "{user} was told of order {} that exists",
                order.id
            );
        }
    }
    let purchased = results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Purchased(_)))
        .count();
    assert_eq!(
        purchased,
        per_user.len(),
        "after retries, every order is acknowledged to its buyer"
    );
    eprintln!(
        "{strategy} ({entry:?}): killed {killed} backends; {purchased} purchases, one order each"
    );
    assert!(killed > 0);
}
