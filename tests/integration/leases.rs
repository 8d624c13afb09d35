//! Stock leases (`store/postgres/pg_leases.rs`): several processes selling one product, each
//! from units it took off the product's row. Checked in PostgreSQL itself after each run: the
//! units available (`products.stock` plus `stock_leases`) and the orders account for every
//! unit, at rest `products.stock` alone is exact, a store that runs short sells what another
//! holds, restocks (ours and plain SQL) set every unit, and a process killed holding stock
//! loses none of it. Stores in one test process stand for processes where that is enough
//! (each store is its own lease holder); real `flashsale burst` processes where it is not.

use std::process::Child;
use std::time::{Duration, Instant};

use flashsale_core::purchase::Outcome;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;
use sqlx::PgConnection;

use crate::support::buyers::{PRODUCT, burst_process, storm};
use crate::support::{TestDb, unlimited};

/// `n` single-unit batched purchases of [`PRODUCT`] through `store`, `clients` at a time.
async fn sell(store: &Store, prefix: &str, n: u32, clients: usize) -> Vec<Outcome> {
    storm(&unlimited(store), Strategy::Batched, prefix, n, clients).await
}

fn purchased(outcomes: &[Outcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Purchased(_)))
        .count()
}

/// What PostgreSQL holds of [`PRODUCT`], read past the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ledger {
    row: i64,
    leased: i64,
    holders: i64,
    sold_since: i64,
}

async fn ledger(conn: &mut PgConnection, after_order_id: i64) -> Ledger {
    let (row, leased, holders, sold_since): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT stock FROM products WHERE id = $1)::int8,
                (SELECT COALESCE(sum(units), 0) FROM stock_leases WHERE product_id = $1)::int8,
                (SELECT count(*) FROM stock_leases WHERE product_id = $1 AND units > 0),
                (SELECT COALESCE(sum(quantity), 0) FROM orders
                 WHERE product_id = $1 AND id > $2)::int8",
    )
    .bind(PRODUCT)
    .bind(after_order_id)
    .fetch_one(conn)
    .await
    .expect("ledger");
    Ledger {
        row,
        leased,
        holders,
        sold_since,
    }
}

async fn watermark(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT COALESCE(max(id), 0)::int8 FROM orders")
        .fetch_one(conn)
        .await
        .expect("watermark")
}

/// A seeded database whose [`PRODUCT`] has `stock`, a second store on it, the order watermark.
async fn two_stores(stock: i32) -> (TestDb, Store, Store, PgConnection, i64) {
    let (db, a) = TestDb::seeded().await;
    a.set_stock(PRODUCT, stock).await.expect("restock");
    let b = db.store_with(Default::default()).await;
    let mut conn = db.conn().await;
    let after = watermark(&mut conn).await;
    (db, a, b, conn, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_takes_a_lease_and_every_read_counts_it() {
    let (_db, a, _b, mut conn, after) = two_stores(20_000).await;
    let outcomes = sell(&a, "lease", 400, 16).await;
    assert_eq!(purchased(&outcomes), 400);
    let l = ledger(&mut conn, after).await;
    assert!(l.leased > 0 && l.holders == 1, "a lease was taken: {l:?}");
    assert_eq!(l.row + l.leased + l.sold_since, 20_000, "{l:?}");
    assert_eq!(
        a.stock(PRODUCT).await.expect("stock"),
        Some(20_000 - 400),
        "the store's stock counts the leased units"
    );
    let listed = a.products().await.expect("products");
    let product = listed.iter().find(|p| p.id == PRODUCT).expect("listed");
    assert_eq!(product.stock, 20_000 - 400);
    let detail = a.product_detail(PRODUCT).await.expect("detail");
    assert_eq!(detail.map(|d| d.stock), Some(20_000 - 400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_store_returns_its_leases_so_the_row_alone_is_exact() {
    let (_db, a, _b, mut conn, after) = two_stores(20_000).await;
    sell(&a, "close", 300, 16).await;
    assert!(ledger(&mut conn, after).await.leased > 0);
    a.close().await;
    let l = ledger(&mut conn, after).await;
    assert_eq!(l.leased, 0, "{l:?}");
    assert_eq!(l.row, 20_000 - 300, "{l:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_runs_short_sells_what_another_holds_to_exactly_zero() {
    let (_db, a, b, mut conn, after) = two_stores(5_000).await;
    let first = sell(&a, "holder", 200, 16).await;
    let held = ledger(&mut conn, after).await;
    assert!(held.leased > 0, "a holds a lease: {held:?}");
    // Demand above what is left: b sells its way through the row, then a's lease.
    let second = sell(&b, "short", 6_000, 32).await;
    assert_eq!(
        purchased(&first) + purchased(&second),
        5_000,
        "every unit sold, none twice"
    );
    let l = ledger(&mut conn, after).await;
    assert_eq!((l.row, l.leased, l.sold_since), (0, 0, 5_000), "{l:?}");
    for o in &second {
        assert!(
            matches!(o, Outcome::Purchased(_) | Outcome::SoldOut { .. }),
            "{o:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restocks_by_flashsale_and_by_plain_sql_set_every_unit_leases_included() {
    let (_db, a, b, mut conn, after) = two_stores(20_000).await;
    sell(&a, "r1", 200, 16).await;
    sell(&b, "r2", 200, 16).await;
    let before = ledger(&mut conn, after).await;
    assert!(before.holders >= 1, "{before:?}");
    // Plain SQL, as an operator or the reference system would write it.
    sqlx::query("UPDATE products SET stock = 300 WHERE id = $1")
        .bind(PRODUCT)
        .execute(&mut conn)
        .await
        .expect("plain restock");
    let l = ledger(&mut conn, after).await;
    assert_eq!((l.row, l.leased), (300, 0), "{l:?}");
    assert_eq!(a.stock(PRODUCT).await.expect("stock"), Some(300));
    let sold = sell(&a, "r3", 400, 16).await;
    assert_eq!(purchased(&sold), 300, "exactly the units the restock set");

    // Ours: the same meaning, whoever holds leases. (The first through `a`, which forgets
    // at once that it saw the product sold out.)
    a.set_stock(PRODUCT, 20_000).await.expect("restock");
    assert_eq!(purchased(&sell(&a, "r4", 200, 16).await), 200);
    assert!(ledger(&mut conn, after).await.leased > 0);
    b.set_stock(PRODUCT, 150).await.expect("restock");
    let l = ledger(&mut conn, after).await;
    assert_eq!((l.row, l.leased), (150, 0), "{l:?}");
    assert_eq!(purchased(&sell(&b, "r5", 300, 16).await), 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_whose_holder_vanished_is_folded_back_by_the_next_start() {
    let (db, a, _b, mut conn, after) = two_stores(20_000).await;
    sell(&a, "gone", 300, 16).await;
    let held = ledger(&mut conn, after).await;
    assert!(held.leased > 0, "{held:?}");
    // Gone without closing, as a killed process would: nobody renews the lease now.
    drop(a);
    tokio::time::sleep(flashsale_core::store::postgres::LEASE_EXPIRY + Duration::from_millis(500))
        .await;
    let next = db.store_with(Default::default()).await;
    next.migrate().await.expect("migrate");
    let l = ledger(&mut conn, after).await;
    assert_eq!((l.row, l.leased), (20_000 - 300, 0), "{l:?}");
}

/// `flashsale burst` selling [`PRODUCT`] of `db` from a process of its own.
fn burst(db: &TestDb, home: &std::path::Path, buyers: u32, clients: u32) -> Child {
    burst_process(&db.url, home, buyers, clients)
}

/// Waits for `child` and reads its report's `purchased`.
fn purchased_by(child: Child) -> u64 {
    let out = child.wait_with_output().expect("burst process");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr: {stderr}"));
    report["purchased"]
        .as_u64()
        .unwrap_or_else(|| panic!("no purchased in {report}"))
}

/// The units leased of [`PRODUCT`] by holders matching the LIKE `pattern`.
async fn held(conn: &mut PgConnection, pattern: String) -> i64 {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(units), 0)::int8 FROM stock_leases
         WHERE product_id = $1 AND holder LIKE $2",
    )
    .bind(PRODUCT)
    .bind(pattern)
    .fetch_one(conn)
    .await
    .expect("lease")
}

/// Ctrl-C, as an operator stops a burst.
fn interrupt(child: &Child) {
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success(), "SIGINT to {}", child.id());
}

/// Polls `conn` until `done` holds of the ledger, for at most `limit`; the last ledger read.
async fn wait_for(
    conn: &mut PgConnection,
    after: i64,
    limit: Duration,
    done: impl Fn(&Ledger) -> bool,
) -> Ledger {
    let start = Instant::now();
    loop {
        let l = ledger(conn, after).await;
        if done(&l) || start.elapsed() > limit {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_sell_one_product_to_exactly_zero_each_from_its_own_lease() {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, 12_000).await.expect("restock");
    let mut conn = db.conn().await;
    let after = watermark(&mut conn).await;
    let home = tempfile::tempdir().expect("home");
    // Demand above stock: 4 x 4,000 buyers for 12,000 units.
    let children: Vec<Child> = (0..4).map(|_| burst(&db, home.path(), 4_000, 16)).collect();
    let mut most_holders = 0;
    let start = Instant::now();
    loop {
        let l = ledger(&mut conn, after).await;
        most_holders = most_holders.max(l.holders);
        if l.sold_since >= 12_000 || start.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let told: u64 = children.into_iter().map(purchased_by).sum();
    let l = ledger(&mut conn, after).await;
    assert!(most_holders >= 2, "processes sold from leases of their own");
    assert_eq!(
        (l.row, l.leased, l.sold_since),
        (0, 0, 12_000),
        "stock exactly 0, every lease returned, nothing oversold: {l:?}"
    );
    assert_eq!(told, 12_000, "what the buyers were told is what was sold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_holding_stock_loses_none_of_it() {
    let (db, store) = TestDb::seeded().await;
    const STOCK: i64 = 1_000_000;
    store
        .set_stock(PRODUCT, STOCK as i32)
        .await
        .expect("restock");
    let mut conn = db.conn().await;
    let after = watermark(&mut conn).await;
    let home = tempfile::tempdir().expect("home");
    let victim = burst(&db, home.path(), 500_000, 16);
    let survivor = burst(&db, home.path(), 500_000, 16);
    let holder_of = |child: &Child| format!("%:{}:%", child.id());
    let victims_lease = holder_of(&victim);
    let start = Instant::now();
    while held(&mut conn, victims_lease.clone()).await == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the victim never held a lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut victim = victim;
    victim.kill().expect("SIGKILL");
    let _ = victim.wait();
    let lost_for_now = held(&mut conn, victims_lease.clone()).await;
    assert!(lost_for_now > 0, "the victim died holding units");
    // The survivor's keeper folds the dead lease back once it expires.
    let start = Instant::now();
    while held(&mut conn, victims_lease.clone()).await > 0 {
        assert!(
            start.elapsed() < flashsale_core::store::postgres::LEASE_EXPIRY * 5,
            "the dead process's lease was never folded back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    interrupt(&survivor);
    let survivor_told = purchased_by(survivor);
    let l = wait_for(&mut conn, after, Duration::from_secs(10), |l| l.leased == 0).await;
    assert_eq!(
        l.leased, 0,
        "the survivor returned its lease on exit: {l:?}"
    );
    assert_eq!(
        l.row + l.sold_since,
        STOCK,
        "every unit is sold or back in the row: {l:?}"
    );
    assert!(l.sold_since as u64 >= survivor_told, "{l:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_sql_restock_during_a_multi_process_storm_sets_every_unit() {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, 200_000).await.expect("restock");
    let mut conn = db.conn().await;
    let after = watermark(&mut conn).await;
    let home = tempfile::tempdir().expect("home");
    let children: Vec<Child> = (0..3)
        .map(|_| burst(&db, home.path(), 20_000, 16))
        .collect();
    // Mid-storm, with leases held.
    let l = wait_for(&mut conn, after, Duration::from_secs(60), |l| {
        l.sold_since >= 2_000 && l.holders >= 1
    })
    .await;
    assert!(l.sold_since >= 2_000 && l.holders >= 1, "{l:?}");
    // The restock and, in its transaction, the orders it follows: every lease-sold order has
    // committed by the time the trigger's delete got the lease rows, and no row sale can
    // commit before the restock does (it waits on the row).
    let mut tx = sqlx::Connection::begin(&mut conn).await.expect("begin");
    sqlx::query("UPDATE products SET stock = 2000 WHERE id = $1")
        .bind(PRODUCT)
        .execute(&mut *tx)
        .await
        .expect("plain restock");
    let before_restock: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(quantity), 0)::int8 FROM orders WHERE product_id = $1 AND id > $2",
    )
    .bind(PRODUCT)
    .bind(after)
    .fetch_one(&mut *tx)
    .await
    .expect("sold before");
    tx.commit().await.expect("commit");
    let told: u64 = children.into_iter().map(purchased_by).sum();
    let l = ledger(&mut conn, after).await;
    assert_eq!(
        (l.row, l.leased, l.sold_since),
        (0, 0, before_restock + 2_000),
        "after the restock, exactly its 2,000 units sold: {l:?}"
    );
    assert_eq!(told as i64, l.sold_since);
}
