//! Two real `flashsale burst` processes selling one product at once, for every safe strategy.

use flashsale_core::strategy::Strategy;
use rstest::rstest;
use sqlx::Connection;

use crate::support::buyers::PRODUCT;
use crate::support::{TestDb, flashsale};

/// Two `flashsale burst` processes, 600 buyers each, on one product of stock 500: together
/// they sell exactly the stock, and each one's audit is clean.
#[rstest]
#[case::batched(Strategy::Batched)]
#[case::atomic(Strategy::Atomic)]
#[case::row_lock(Strategy::RowLock)]
#[tokio::test]
async fn two_processes_selling_one_product_keep_the_invariant(#[case] strategy: Strategy) {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, 500).await.expect("restock");
    let home = tempfile::tempdir().expect("tmp");
    let spawn = || {
        flashsale(home.path())
            .args([
                "burst",
                "--json",
                "--no-rate-limit",
                "--product",
                "1",
                "--buyers",
                "600",
                "--concurrency",
                "32",
                "--strategy",
                strategy.as_str(),
            ])
            .env("DATABASE_URL", &db.url)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn burst")
    };
    let (a, b) = (spawn(), spawn());
    let reports: Vec<serde_json::Value> = [a, b]
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("burst");
            serde_json::from_slice(&out.stdout).expect("JSON report")
        })
        .collect();
    let units: i64 = reports
        .iter()
        .map(|r| r["unitsPurchased"].as_i64().expect("units"))
        .sum();
    assert_eq!(
        units, 500,
        "together they sold exactly the stock: {reports:?}"
    );
    assert_eq!(store.stock(PRODUCT).await.expect("stock"), Some(0));
    let mut conn = db.conn().await;
    let in_db: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(quantity), 0)::int8 FROM orders WHERE user_id LIKE 'burst-%'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("sum");
    let _ = conn.close().await;
    assert_eq!(in_db, 500);
    for r in &reports {
        assert_eq!(r["audit"]["phantom"], 0, "{strategy}");
        assert_eq!(r["audit"]["oversold"], 0, "{strategy}");
    }
}
