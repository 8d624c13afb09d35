//! The dashboard's samplers on real databases: the incremental sales aggregate counts an order
//! committed out of id order exactly once and agrees with a full recount, its poll is two index
//! scans whatever the table's size, and `Monitor` reports a database that is down instead of
//! stopping.

use std::time::{Duration, Instant};

use chrono::Utc;
use flashsale_core::config::PoolSettings;
use flashsale_core::store::Store;
use flashsale_monitor::sales::{BATCH, GAP_WINDOW};
use flashsale_monitor::{Control, Monitor, SalesTally, Source, Thresholds, Update};
use sqlx::Connection;

use crate::support::{Engine, TestDb, seeded};

fn since() -> chrono::NaiveDate {
    Utc::now().date_naive() - chrono::Days::new(6)
}

async fn poll(store: &Store, tally: &mut SalesTally) {
    let rows = store
        .orders_since(tally.high(), &tally.missing(), BATCH)
        .await
        .expect("orders_since");
    tally.apply(&rows, Instant::now());
}

#[tokio::test]
async fn an_order_committed_after_a_higher_id_is_counted_exactly_once() {
    let (db, store) = TestDb::seeded().await;
    let baseline = store
        .sales_baseline(since(), GAP_WINDOW)
        .await
        .expect("baseline");
    let mut tally = SalesTally::from_baseline(&baseline, Instant::now());
    let before = tally.snapshot(Instant::now(), Utc::now().date_naive());

    // A takes an id first and commits last.
    let mut a = db.conn().await;
    let mut tx = a.begin().await.expect("begin");
    sqlx::query(
        "INSERT INTO orders (user_id, product_id, quantity, total_price) VALUES ('slow', 1, 2, 2599.98)",
    )
    .execute(&mut *tx)
    .await
    .expect("insert a");
    let mut b = db.conn().await;
    sqlx::query(
        "INSERT INTO orders (user_id, product_id, quantity, total_price) VALUES ('fast', 2, 1, 29.99)",
    )
    .execute(&mut b)
    .await
    .expect("insert b");

    poll(&store, &mut tally).await;
    let mid = tally.snapshot(Instant::now(), Utc::now().date_naive());
    assert_eq!(mid.total_units_sold, before.total_units_sold + 1);
    assert_eq!(
        mid.watching_ids, 1,
        "A's id is watched while its transaction runs"
    );

    tx.commit().await.expect("commit a");
    poll(&store, &mut tally).await;
    poll(&store, &mut tally).await;
    let after = tally.snapshot(Instant::now(), Utc::now().date_naive());
    assert_eq!(after.total_units_sold, before.total_units_sold + 3);
    assert_eq!(after.watching_ids, 0);

    let full = store.stats().await.expect("full recount");
    assert_eq!(after.total_units_sold, full.total_units_sold);
    assert_eq!(after.total_revenue, full.total_revenue);
    let days: Vec<_> = after.revenue_by_day.iter().map(|d| d.revenue).collect();
    let full_days: Vec<_> = full.revenue_by_day.iter().map(|d| d.revenue).collect();
    assert_eq!(days, full_days);
}

#[tokio::test]
async fn the_incremental_poll_uses_indexes_not_a_scan_of_orders() {
    let (db, _store) = TestDb::seeded().await;
    let mut conn = db.conn().await;
    sqlx::query(
        "INSERT INTO orders (user_id, product_id, quantity, total_price)
         SELECT 'bulk', 1 + g % 5, 1, 10 FROM generate_series(1, 200000) g",
    )
    .execute(&mut conn)
    .await
    .expect("bulk insert");
    sqlx::query("ANALYZE orders")
        .execute(&mut conn)
        .await
        .expect("analyze");
    let plan: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "EXPLAIN {}",
        flashsale_core::store::postgres::ORDERS_SINCE_SQL
    )))
    .bind(199_990_i64)
    .bind(vec![150_000_i64, 150_001])
    .bind(BATCH)
    .fetch_all(&mut conn)
    .await
    .expect("explain");
    let text: String = plan.into_iter().map(|(line,)| line + "\n").collect();
    assert!(
        !text.contains("Seq Scan"),
        "the poll scans the table: {text}"
    );
    assert!(text.contains("Index"), "{text}");
}

#[tokio::test]
async fn the_sqlite_aggregate_agrees_with_a_full_recount() {
    let (_held, store) = seeded(Engine::Sqlite).await;
    let baseline = store
        .sales_baseline(since(), GAP_WINDOW)
        .await
        .expect("baseline");
    let mut tally = SalesTally::from_baseline(&baseline, Instant::now());
    let purchaser = crate::support::unlimited(&store);
    for i in 0..7 {
        let user = format!("u{i}");
        let r = purchaser
            .purchase(flashsale_core::purchase::PurchaseRequest {
                product_id: 1 + i % 3,
                user_id: &user,
                client_ip: "127.0.0.1".parse().expect("ip"),
                quantity: 2,
                strategy: flashsale_core::strategy::Strategy::Atomic,
            })
            .await;
        assert!(r.outcome.order().is_some(), "{:?}", r.outcome);
        poll(&store, &mut tally).await;
    }
    let snap = tally.snapshot(Instant::now(), Utc::now().date_naive());
    let full = store.stats().await.expect("stats");
    assert_eq!(snap.total_units_sold, full.total_units_sold);
    assert_eq!(snap.total_revenue, full.total_revenue);
    assert_eq!(
        snap.products[0].units_last_minute
            + snap.products[1].units_last_minute
            + snap.products[2].units_last_minute,
        14
    );
}

#[tokio::test]
async fn a_database_that_is_down_is_reported_and_retried_not_fatal() {
    // Nothing listens on port 9 of loopback.
    let target =
        flashsale_core::config::DatabaseTarget::parse("postgres://u:hunter2@127.0.0.1:9/x")
            .expect("url");
    let pool = PoolSettings {
        acquire_timeout: Duration::from_millis(300),
        ..PoolSettings::default()
    };
    let store = Store::open(&target, &pool).await.expect("lazy pool");
    let monitor = Monitor {
        purchase_store: store.clone(),
        reads: flashsale_monitor::ReadRoute::primary_only(store),
        redis: None,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Update>(64);
    let (_control_tx, control) = tokio::sync::watch::channel(Control::default());
    let tasks = monitor.spawn(tx, control);
    let mut failed = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while failed.len() < 3 {
        let update = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("samplers report within 10 s")
            .expect("samplers keep running");
        if let Update::Failed {
            source,
            error,
            retry_in,
        } = update
        {
            assert!(!error.contains("hunter2"), "{error}");
            assert_eq!(retry_in, flashsale_monitor::RETRY);
            failed.insert(source);
        }
    }
    assert_eq!(
        failed.into_iter().collect::<Vec<_>>(),
        [Source::Stock, Source::Sales, Source::Pool]
    );
    assert!(tasks.iter().all(|t| !t.is_finished()), "no sampler gave up");
    for t in tasks {
        t.abort();
    }
    let snap = monitor.snapshot_once(&Thresholds::default()).await;
    assert!(snap.stock.is_none() && snap.sales.is_none());
    assert!(snap.errors.contains_key(&Source::Stock));
}
