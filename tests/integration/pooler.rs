//! Through a real PgBouncer in transaction-pooling mode (Debian's defaults plus
//! `ignore_startup_parameters = extra_float_digits`, nothing else): every strategy, every
//! command, the statement timeout still enforced per transaction, and a pooler that drops our
//! startup options silently caught too. Each storm's invariant is checked by the audit and
//! independently in SQL over a direct connection.

use std::time::{Duration, Instant};

use flashsale_core::audit::AuditScope;
use flashsale_core::config::{DatabaseTarget, PoolSettings};
use flashsale_core::purchase::{Outcome, PurchaseRequest};
use flashsale_core::redact::SecretUrl;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;
use rstest::rstest;
use serde_json::Value;
use sqlx::Connection;

use crate::support::bin::run;
use crate::support::buyers::{PRODUCT, req, storm};
use crate::support::invariant::check_invariant;
use crate::support::pgbouncer::PgBouncer;
use crate::support::{TestDb, flashsale, unlimited};

async fn pooled_store(bouncer: &PgBouncer, db: &TestDb, pool: PoolSettings) -> Store {
    let url = SecretUrl::new(bouncer.url(&db.name));
    Store::open(&DatabaseTarget::Postgres(url), &pool)
        .await
        .expect("open a store through the pooler")
}

/// Stock and orders of [`PRODUCT`] as PostgreSQL itself sees them, over a direct connection.
async fn direct_sql_balance(db: &TestDb, after_order: i64) -> (i32, i64, i64) {
    let mut conn = db.conn().await;
    let stock: i32 = sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
        .bind(PRODUCT)
        .fetch_one(&mut conn)
        .await
        .expect("stock");
    let (orders, units): (i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(SUM(quantity), 0)::int8 FROM orders
         WHERE product_id = $1 AND id > $2",
    )
    .bind(PRODUCT)
    .bind(after_order)
    .fetch_one(&mut conn)
    .await
    .expect("orders");
    let _ = conn.close().await;
    (stock, orders, units)
}

#[rstest]
#[case::batched(Strategy::Batched)]
#[case::atomic(Strategy::Atomic)]
#[case::row_lock(Strategy::RowLock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_safe_strategy_sells_through_pgbouncer_without_overselling(
    #[case] strategy: Strategy,
) {
    let bouncer = PgBouncer::start();
    let (db, direct) = TestDb::seeded().await;
    direct.set_stock(PRODUCT, 300).await.expect("restock");
    let before = direct.max_order_id().await.expect("watermark");
    // A generous acquire timeout: 64 row-lock buyers hold the pool's 20 connections through
    // their transactions, and on a loaded 2-core machine a wait beyond the default 2 s is an
    // honest `Busy`, not the pooler failing.
    let pool = PoolSettings {
        acquire_timeout: std::time::Duration::from_secs(10),
        ..PoolSettings::default()
    };
    let store = pooled_store(&bouncer, &db, pool).await;
    let scope = AuditScope::before(&store, PRODUCT, "pooled_")
        .await
        .expect("audit scope");
    let outcomes = storm(&unlimited(&store), strategy, "pooled_", 500, 64).await;

    let purchased = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Purchased(_)))
        .count();
    let refused: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !matches!(o, Outcome::Purchased(_) | Outcome::SoldOut { .. }))
        .collect();
    assert!(
        refused.is_empty(),
        "{strategy}: every purchase through the pooler is answered (first: {:?}); pgbouncer: {}",
        refused.first(),
        bouncer.log()
    );
    assert_eq!(
        purchased, 300,
        "{strategy}: demand above stock sells all of it"
    );
    let audit = check_invariant(&store, &scope, &outcomes).await;
    assert_eq!(audit.stock_after, 0, "{audit:?}");
    assert_eq!(
        direct_sql_balance(&db, before).await,
        (0, 300, 300),
        "{strategy}: PostgreSQL itself agrees"
    );
}

#[tokio::test]
async fn the_statement_timeout_holds_per_transaction_behind_the_pooler() {
    let bouncer = PgBouncer::start();
    let (db, _direct) = TestDb::seeded().await;
    let store = pooled_store(
        &bouncer,
        &db,
        PoolSettings {
            statement_timeout: Duration::from_millis(300),
            ..PoolSettings::default()
        },
    )
    .await;
    // A first purchase teaches the store it is behind a pooler.
    let p = unlimited(&store);
    let first = p.purchase(req("pooled_first", 1)).await.outcome;
    assert!(matches!(first, Outcome::Purchased(_)), "{first:?}");

    assert_the_server_cancels_a_row_lock_wait(&db, &store).await;
}

/// Another session holds the product's row: a row-lock purchase waits on it until the server's
/// statement timeout (300 ms, set for its transaction) cancels the wait. The client-side
/// deadline of that statement is 300 ms + 1 s: an answer well before it, naming the statement
/// timeout, shows the timeout was in force on the server.
async fn assert_the_server_cancels_a_row_lock_wait(db: &TestDb, store: &Store) {
    let mut holder = db.conn().await;
    sqlx::raw_sql("BEGIN; SELECT * FROM products WHERE id = 1 FOR UPDATE")
        .execute(&mut holder)
        .await
        .expect("hold the row");
    let started = Instant::now();
    let waited = unlimited(store)
        .purchase(PurchaseRequest {
            strategy: Strategy::RowLock,
            ..req("pooled_waiter", 2)
        })
        .await
        .outcome;
    let took = started.elapsed();
    let _ = holder.close().await;
    assert!(
        matches!(&waited, Outcome::Busy(m) if m.contains("statement timed out")),
        "the server cancelled the statement at its timeout, not the client at its deadline: \
         {waited:?} after {took:?}"
    );
    assert!(took < Duration::from_millis(1_300), "{took:?}");
}

#[tokio::test]
async fn a_pooler_that_drops_our_startup_options_silently_is_caught() {
    let bouncer = PgBouncer::start_with("ignore_startup_parameters = extra_float_digits, options");
    let (db, direct) = TestDb::seeded().await;
    direct.set_stock(PRODUCT, 500).await.expect("restock");
    let store = pooled_store(
        &bouncer,
        &db,
        PoolSettings {
            statement_timeout: Duration::from_millis(300),
            ..PoolSettings::default()
        },
    )
    .await;
    let outcomes = storm(&unlimited(&store), Strategy::Batched, "dropped_", 200, 32).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Purchased(_))),
        "no duplicate prepared statements: {:?}",
        outcomes
            .iter()
            .find(|o| !matches!(o, Outcome::Purchased(_)))
    );
    // And the timeout is in force although the pooler threw away the startup packet's.
    assert_the_server_cancels_a_row_lock_wait(&db, &store).await;
}

#[tokio::test]
async fn every_command_works_through_the_pooler() {
    let bouncer = PgBouncer::start();
    let db = TestDb::empty().await;
    let url = bouncer.url(&db.name);
    let home = tempfile::tempdir().expect("tmp");
    let cli = |args: &[&str]| run(flashsale(home.path()).args(args).env("DATABASE_URL", &url));

    for (args, expect) in [
        (&["db", "init"][..], "migrated"),
        (&["db", "init"][..], "migrated"),
        (&["db", "seed"][..], "5 products"),
    ] {
        let (out, stdout, stderr) = cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {stderr} (pgbouncer: {})",
            bouncer.log()
        );
        assert!(stdout.contains(expect), "{args:?}: {stdout}");
    }
    let (out, stdout, stderr) = cli(&["stock", "--json"]);
    assert!(out.status.success(), "{stderr}");
    let stock: Value = serde_json::from_str(&stdout).expect("stock JSON");
    assert_eq!(stock.as_array().map(Vec::len), Some(5));

    let (out, stdout, stderr) = cli(&["buy", "--product", "4", "--user", "pooled_cli", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let receipt: Value = serde_json::from_str(&stdout).expect("buy JSON");
    assert_eq!(receipt["success"], true, "{receipt}");

    let (out, stdout, stderr) = cli(&[
        "burst",
        "--json",
        "--no-rate-limit",
        "--product",
        "3",
        "--restock",
        "50",
        "--buyers",
        "200",
        "--concurrency",
        "32",
    ]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("burst JSON");
    assert_eq!(report["audit"]["ok"], true, "{report}");

    let (out, stdout, stderr) = cli(&["stats", "--json"]);
    assert!(out.status.success(), "{stderr}");
    let stats: Value = serde_json::from_str(&stdout).expect("stats JSON");
    assert!(stats["totalUnitsSold"].as_i64() > Some(14), "{stats}");

    let (out, stdout, stderr) = cli(&["dashboard", "--once", "--json"]);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    let snapshot: Value = serde_json::from_str(&stdout).expect("dashboard JSON");
    assert_eq!(
        snapshot["errors"],
        serde_json::json!({}),
        "no source failed: {snapshot}"
    );
}

#[tokio::test]
async fn serve_sells_through_the_pooler() {
    let bouncer = PgBouncer::start();
    let (db, direct) = TestDb::seeded().await;
    direct.set_stock(PRODUCT, 100).await.expect("restock");
    let home = tempfile::tempdir().expect("tmp");
    let url = bouncer.url(&db.name);
    let server = crate::support::http::ServeProcess::start(
        home.path(),
        &[
            ("DATABASE_URL", &url),
            ("RATE_LIMIT_USER_MAX", "1000000"),
            ("RATE_LIMIT_IP_MAX", "1000000"),
        ],
    );
    let client =
        flashsale_client::ApiClient::new(&server.url, 32, Duration::from_secs(30)).expect("client");
    let outcomes = futures::future::join_all((0..150).map(|i| {
        let client = client.clone();
        async move {
            let user = format!("served_{i}");
            client.purchase(&req(&user, i)).await
        }
    }))
    .await;
    let purchased = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Purchased(_)))
        .count();
    assert_eq!(
        purchased,
        100,
        "{:?}",
        outcomes
            .iter()
            .find(|o| !matches!(o, Outcome::Purchased(_) | Outcome::SoldOut { .. }))
    );
    assert_eq!(direct.stock(PRODUCT).await.expect("stock"), Some(0));
}

/// Behind the pooler, `LISTEN` goes to `database_listen_url` (here: the database directly). The
/// seller remembers the sell-out for ten minutes, so only the notification of another
/// process's restock can reopen the product within the test.
#[tokio::test]
async fn a_restock_elsewhere_is_heard_through_the_listen_url() {
    let bouncer = PgBouncer::start();
    let (db, other_process) = TestDb::seeded().await;
    let seller = pooled_store(
        &bouncer,
        &db,
        PoolSettings {
            listen_url: Some(SecretUrl::new(db.url.clone())),
            ..PoolSettings::default()
        },
    )
    .await;
    seller.set_sold_out_memory(Duration::from_secs(600));
    other_process.set_stock(4, 1).await.expect("restock");
    let p = unlimited(&seller);
    let buy = |user: &'static str| {
        let p = p.clone();
        async move {
            p.purchase(PurchaseRequest {
                product_id: 4,
                ..req(user, 1)
            })
            .await
            .outcome
        }
    };
    assert!(matches!(buy("listen_first").await, Outcome::Purchased(_)));
    assert_eq!(
        buy("listen_second").await,
        Outcome::SoldOut { available: 0 }
    );

    // The seller listens (on the direct URL) from the moment its memory is in use.
    db.wait_for_restock_listener(
        Duration::from_secs(10),
        "the seller listens on the listen URL",
    )
    .await;

    assert!(other_process.set_stock(4, 3).await.expect("restock"));
    let reopened = async {
        loop {
            match buy("listen_after").await {
                Outcome::Purchased(order) => return order,
                Outcome::SoldOut { .. } => tokio::time::sleep(Duration::from_millis(5)).await,
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    let order = tokio::time::timeout(Duration::from_secs(10), reopened)
        .await
        .expect("the restock elsewhere reopened the product long before the memory lapsed");
    assert_eq!(order.remaining_stock, 2);
}
