//! Selling on an `orders` partitioned by month: every strategy and the batched paths (one
//! product, several) never oversell and land their orders in a month; idempotency keys replay
//! their orders without a foreign key behind them; `stats`, `/api/admin/stats`, the dashboard's
//! tally and the audit agree; and the reference system's own statements still run.

use std::time::Instant;

use chrono::Utc;
use flashsale_core::audit::AuditScope;
use flashsale_core::purchase::{IdempotencyKey, Outcome, PurchaseRequest};
use flashsale_core::strategy::Strategy;
use flashsale_monitor::SalesTally;
use flashsale_monitor::sales::{BATCH, GAP_WINDOW};
use futures::future::join_all;
use rstest::rstest;
use sqlx::Connection;

use crate::support::http::{TestServer, config};
use crate::support::invariant::check_invariant;
use crate::support::{TestDb, buy_all, unlimited};

/// Orders of buyers whose id starts with `prefix` that the default partition took (none
/// should: every order of today has its month).
async fn in_default(db: &TestDb, prefix: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders_default WHERE user_id LIKE $1 || '%'")
        .bind(prefix)
        .fetch_one(&mut db.conn().await)
        .await
        .expect("default partition")
}

#[rstest]
#[case::row_lock(Strategy::RowLock)]
#[case::atomic(Strategy::Atomic)]
#[case::batched(Strategy::Batched)]
#[tokio::test]
async fn sixty_buyers_of_stock_25_on_partitioned_orders_get_exactly_25(#[case] strategy: Strategy) {
    let (db, store) = TestDb::partitioned().await;
    store.set_stock(1, 25).await.expect("restock");
    let prefix = format!("part_{strategy}_");
    let scope = AuditScope::before(&store, 1, &prefix).await.expect("scope");
    let users: Vec<String> = (0..60).map(|i| format!("{prefix}{i}")).collect();
    let outcomes = buy_all(&unlimited(&store), &users, 1, strategy).await;
    let audit = check_invariant(&store, &scope, &outcomes).await;
    assert_eq!(audit.units_sold, 25, "{strategy}: {audit:?}");
    assert_eq!(audit.unacknowledged, 0, "{strategy}: {audit:?}");
    assert_eq!(store.stock(1).await.expect("stock"), Some(0));
    assert_eq!(in_default(&db, &prefix).await, 0);
}

/// Several products gathered into one batch: the statement that locks them in id order,
/// decrements each and inserts every order, on the partitioned table.
#[tokio::test]
async fn batches_of_several_products_on_partitioned_orders_keep_each_product_in_balance() {
    let (db, store) = TestDb::partitioned().await;
    let purchaser = unlimited(&store);
    let products = [(1, 20), (2, 15), (3, 10), (4, 5)];
    let mut scopes = Vec::new();
    for (id, stock) in products {
        store.set_stock(id, stock).await.expect("restock");
        let prefix = format!("multi_{id}_");
        scopes.push(
            AuditScope::before(&store, id, &prefix)
                .await
                .expect("scope"),
        );
    }
    let runs = products.map(|(id, _)| {
        let users: Vec<String> = (0..30).map(|i| format!("multi_{id}_{i}")).collect();
        let purchaser = purchaser.clone();
        async move { buy_all(&purchaser, &users, id, Strategy::Batched).await }
    });
    let outcomes = join_all(runs).await;
    for ((scope, outcomes), (id, stock)) in scopes.iter().zip(&outcomes).zip(products) {
        let audit = check_invariant(&store, scope, outcomes).await;
        assert_eq!(
            audit.units_sold,
            i64::from(stock),
            "product {id}: {audit:?}"
        );
    }
    assert_eq!(in_default(&db, "multi_").await, 0);
}

#[rstest]
#[case::row_lock(Strategy::RowLock)]
#[case::atomic(Strategy::Atomic)]
#[case::batched(Strategy::Batched)]
#[case::naive(Strategy::Naive)]
#[tokio::test]
async fn keyed_purchases_on_partitioned_orders_replay_their_own_orders(#[case] strategy: Strategy) {
    let (_db, store) = TestDb::partitioned().await;
    let purchaser = unlimited(&store);
    let users: Vec<String> = (0..8).map(|i| format!("keyed_{i}")).collect();
    let request = |user| PurchaseRequest {
        product_id: 1,
        user_id: user,
        client_ip: [127, 0, 0, 1].into(),
        quantity: 1,
        strategy,
    };
    // Distinct keys at once (batched: several keys in one batch's statement), each asked twice.
    let keyed = |round| {
        join_all(users.iter().enumerate().map(|(i, user)| {
            let purchaser = purchaser.clone();
            let key = IdempotencyKey::parse(&format!("key-{i}")).expect("key");
            async move {
                let r = purchaser
                    .purchase_idempotent(request(user), &key)
                    .await
                    .expect("same request");
                (round, r)
            }
        }))
    };
    let first = keyed(1).await;
    let again = keyed(2).await;
    for ((_, a), (_, b)) in first.iter().zip(&again) {
        let Outcome::Purchased(order) = &a.receipt.outcome else {
            panic!("{strategy}: {a:?}");
        };
        assert!(!a.replayed && b.replayed, "{strategy}: {a:?} then {b:?}");
        assert_eq!(b.receipt.outcome.order().map(|o| o.id), Some(order.id));
    }
    let orders = store.orders_after(1, 0, "keyed_").await.expect("orders");
    assert_eq!(orders.len(), users.len(), "{strategy}: one order per key");
}

#[tokio::test]
async fn stats_the_admin_endpoint_the_dashboard_tally_and_the_audit_agree_on_partitioned_orders() {
    let (db, store) = TestDb::partitioned().await;
    let today = Utc::now().date_naive();
    let since = today - chrono::Days::new(6);
    let baseline = store
        .sales_baseline(since, GAP_WINDOW)
        .await
        .expect("baseline");
    let mut tally = SalesTally::from_baseline(&baseline, Instant::now());

    store.set_stock(2, 12).await.expect("restock");
    let scope = AuditScope::before(&store, 2, "agree_")
        .await
        .expect("scope");
    let users: Vec<String> = (0..20).map(|i| format!("agree_{i}")).collect();
    let outcomes = buy_all(&unlimited(&store), &users, 2, Strategy::Batched).await;
    let audit = check_invariant(&store, &scope, &outcomes).await;
    assert!(audit.ok && audit.units_sold == 12, "{audit:?}");

    let rows = store
        .orders_since(tally.high(), &tally.missing(), BATCH)
        .await
        .expect("orders since");
    tally.apply(&rows, Instant::now());
    let live = tally.snapshot(Instant::now(), today);
    let stats = store.stats().await.expect("stats");
    let (units, cents): (i64, i64) = sqlx::query_as(
        "SELECT SUM(quantity)::int8, (SUM(total_price) * 100)::int8 FROM orders
         WHERE status = 'completed'",
    )
    .fetch_one(&mut db.conn().await)
    .await
    .expect("recount");
    assert_eq!(
        (stats.total_units_sold, stats.total_revenue.cents()),
        (units, cents)
    );
    assert_eq!(live.total_units_sold, units, "the tally: {live:?}");
    assert_eq!(live.total_revenue.cents(), cents);
    assert_eq!(
        live.revenue_by_day.last().map(|d| d.units),
        stats.revenue_by_day.last().map(|d| d.units),
        "today"
    );

    let server = TestServer::start(unlimited(&store), config()).await;
    let served = server.client().stats().await.expect("admin stats");
    // What the reference's shape carries: no revenue per product, no units per day.
    let wire = |s: &flashsale_core::model::Stats| {
        (
            s.total_revenue,
            s.total_units_sold,
            s.top_products
                .iter()
                .map(|t| (t.id, t.name.clone(), t.total_sold))
                .collect::<Vec<_>>(),
            s.revenue_by_day
                .iter()
                .map(|d| (d.date.clone(), d.revenue))
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(wire(&served), wire(&stats), "/api/admin/stats");
}

/// The reference system's purchase, its statements as it sends them (one connection here), its
/// init script run again, and a statistics query in its shape: on the partitioned table.
#[tokio::test]
async fn the_reference_systems_own_statements_run_on_partitioned_orders() {
    let (db, store) = TestDb::partitioned().await;
    let mut conn = db.conn().await;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS orders (id SERIAL PRIMARY KEY, user_id VARCHAR(255) NOT NULL,
             product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL,
             total_price DECIMAL(10, 2) NOT NULL, status VARCHAR(50) DEFAULT 'completed',
             created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
         CREATE INDEX IF NOT EXISTS idx_orders_product_id ON orders(product_id);
         CREATE INDEX IF NOT EXISTS idx_orders_created_at ON orders(created_at)",
    )
    .execute(&mut conn)
    .await
    .expect("the reference's init script again");

    let mut tx = conn.begin().await.expect("begin");
    // Money as the reference's driver hands it over: a JavaScript number.
    let (_, stock, price): (i32, i32, f64) =
        sqlx::query_as("SELECT id, stock, price::float8 FROM products WHERE id = $1 FOR UPDATE")
            .bind(3)
            .fetch_one(&mut *tx)
            .await
            .expect("lock");
    sqlx::query("UPDATE products SET stock = $1 WHERE id = $2")
        .bind(stock - 2)
        .bind(3)
        .execute(&mut *tx)
        .await
        .expect("update");
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO orders (user_id, product_id, quantity, total_price)
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind("ref_buyer")
    .bind(3)
    .bind(2)
    .bind(price * 2.0)
    .fetch_one(&mut *tx)
    .await
    .expect("insert");
    tx.commit().await.expect("commit");

    let (revenue, top, days): (String, Option<String>, Option<String>) = sqlx::query_as(
        "WITH totals AS (
             SELECT COALESCE(SUM(total_price), 0)::text AS revenue FROM orders
             WHERE status = 'completed'
         ), top AS (
             SELECT p.id, p.name, SUM(o.quantity) AS total_sold FROM orders o
             JOIN products p ON p.id = o.product_id WHERE o.status = 'completed'
             GROUP BY p.id, p.name ORDER BY total_sold DESC LIMIT 3
         ), by_day AS (
             SELECT DATE(created_at) AS date, SUM(total_price) AS revenue FROM orders
             WHERE status = 'completed' AND created_at >= NOW() - INTERVAL '7 days'
             GROUP BY DATE(created_at) ORDER BY date DESC
         )
         SELECT (SELECT revenue FROM totals), (SELECT json_agg(top)::text FROM top),
                (SELECT json_agg(by_day)::text FROM by_day)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("stats in the reference's shape");
    let stats = store.stats().await.expect("stats");
    assert_eq!(revenue, stats.total_revenue.to_string());
    assert!(top.is_some_and(|t| t.contains("Mechanical Keyboard")));
    assert!(days.is_some());
    let recent = store.recent_orders(3, 1).await.expect("recent");
    assert_eq!(recent.first().map(|o| o.id), Some(i64::from(id)));
    assert_eq!(store.stock(3).await.expect("stock"), Some(stock - 2));
}
