//! Forwarding (`store/forward.rs`): processes with `forward_listen` send a product's batched
//! purchases to the one process that claimed it, whose gatherer sells them with its own
//! buyers' in one commit. Checked in PostgreSQL after each run: the units (row, leases, orders)
//! add up, commits were shared across processes, a seller that closes hands over without a
//! buyer failing, one killed mid-storm is replaced, and its forwarders' answers are never
//! contradicted by the orders (an unanswered purchase is reported failed, never "purchased"
//! without an order). Stores in one test process stand for processes where that is enough.

use std::process::Child;
use std::time::{Duration, Instant};

use flashsale_core::config::{DatabaseTarget, PoolSettings};
use flashsale_core::purchase::Outcome;
use flashsale_core::redact::SecretUrl;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;
use sqlx::PgConnection;

use crate::support::buyers::{PRODUCT, burst_command, storm};
use crate::support::pgbouncer::PgBouncer;
use crate::support::{TestDb, unlimited};

fn forwarding() -> PoolSettings {
    PoolSettings {
        forward_listen: Some("127.0.0.1:0".parse().expect("address")),
        ..PoolSettings::default()
    }
}

fn purchased(outcomes: &[Outcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Purchased(_)))
        .count()
}

/// Units of [`PRODUCT`] in its row and leases, and units of its orders above `after`.
async fn units(conn: &mut PgConnection, after: i64) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT stock FROM products WHERE id = $1)::int8
              + (SELECT COALESCE(sum(units), 0) FROM stock_leases WHERE product_id = $1)::int8,
                (SELECT COALESCE(sum(quantity), 0) FROM orders
                  WHERE product_id = $1 AND id > $2)::int8",
    )
    .bind(PRODUCT)
    .bind(after)
    .fetch_one(conn)
    .await
    .expect("units")
}

async fn watermark(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT COALESCE(max(id), 0)::int8 FROM orders")
        .fetch_one(conn)
        .await
        .expect("watermark")
}

/// The address of [`PRODUCT`]'s seller, if one holds it.
async fn seller(conn: &mut PgConnection) -> Option<String> {
    sqlx::query_scalar("SELECT address FROM product_sellers WHERE product_id = $1")
        .bind(PRODUCT)
        .fetch_optional(conn)
        .await
        .expect("seller")
}

/// Transactions whose orders belong to buyers of both prefixes: commits shared by processes.
async fn shared_commits(conn: &mut PgConnection, after: i64, a: &str, b: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM (
             SELECT xmin::text FROM orders WHERE id > $1 GROUP BY xmin::text
             HAVING bool_or(user_id LIKE $2) AND bool_or(user_id LIKE $3)) shared",
    )
    .bind(after)
    .bind(format!("{a}%"))
    .bind(format!("{b}%"))
    .fetch_one(conn)
    .await
    .expect("shared commits")
}

/// Buys one unit through `store` every 100 ms until some process holds [`PRODUCT`]'s claim
/// (a claim is asked for after a sale, and asked again on a later sale after a failure);
/// the claim's address. 30 s at most: a loaded machine slows the pooler's first connections.
async fn claimed_after_buying(store: &Store, conn: &mut PgConnection, prefix: &str) -> String {
    let start = Instant::now();
    let buyer = unlimited(store);
    for i in 0.. {
        if let Some(address) = seller(conn).await {
            return address;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nobody claimed the product"
        );
        storm(&buyer, Strategy::Batched, &format!("{prefix}{i}-"), 1, 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!("the loop returns or fails")
}

/// Buys one unit through `store` every 100 ms until it forwards [`PRODUCT`]'s purchases to
/// another process: 30 s at most.
async fn until_forwarding(store: &Store, prefix: &str) {
    let start = Instant::now();
    let buyer = unlimited(store);
    for i in 0.. {
        if store.forwards(PRODUCT) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "it never forwarded"
        );
        storm(&buyer, Strategy::Batched, &format!("{prefix}{i}-"), 1, 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_commits_through_the_products_seller() {
    let (db, setup) = TestDb::seeded().await;
    setup.set_stock(PRODUCT, 50_000).await.expect("restock");
    let a = db.store_with(forwarding()).await;
    let b = db.store_with(forwarding()).await;
    let mut conn = db.conn().await;
    // a sells first, so a claims the product; b learns of it on its first sale.
    let address = claimed_after_buying(&a, &mut conn, "fa0-").await;
    assert_eq!(Some(address.as_str()), a.forwarding_address());
    until_forwarding(&b, "fb0-").await;
    let after = watermark(&mut conn).await;
    let (left, _) = units(&mut conn, after).await;
    let (pa, pb) = (unlimited(&a), unlimited(&b));
    let (sa, sb) = tokio::join!(
        storm(&pa, Strategy::Batched, "fa1-", 3_000, 16),
        storm(&pb, Strategy::Batched, "fb1-", 3_000, 16),
    );
    assert_eq!((purchased(&sa), purchased(&sb)), (3_000, 3_000));
    let shared = shared_commits(&mut conn, after, "fa1-", "fb1-").await;
    assert!(shared > 0, "no commit held buyers of both processes");
    let (available, sold) = units(&mut conn, after).await;
    assert_eq!(sold, 6_000);
    assert_eq!(
        available + sold,
        left,
        "every unit sold once or still there"
    );
    a.close().await;
    b.close().await;
    assert_eq!(seller(&mut conn).await, None, "closing gives the claim up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_that_closes_mid_storm_hands_over_without_failing_a_buyer() {
    let (db, setup) = TestDb::seeded().await;
    setup.set_stock(PRODUCT, 50_000).await.expect("restock");
    let a = db.store_with(forwarding()).await;
    let b = db.store_with(forwarding()).await;
    let mut conn = db.conn().await;
    claimed_after_buying(&a, &mut conn, "ca0-").await;
    until_forwarding(&b, "cb0-").await;
    let after = watermark(&mut conn).await;
    let (left, _) = units(&mut conn, after).await;
    let pb = unlimited(&b);
    let storm_b = storm(&pb, Strategy::Batched, "cb1-", 8_000, 16);
    let close_a = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        a.close().await;
    };
    let (outcomes, ()) = tokio::join!(storm_b, close_a);
    let odd: Vec<_> = outcomes
        .iter()
        .filter(|o| !matches!(o, Outcome::Purchased(_)))
        .collect();
    assert!(odd.is_empty(), "buyers failed at the hand-over: {odd:?}");
    let (available, sold) = units(&mut conn, after).await;
    assert_eq!((sold, available + sold), (8_000, left));
    // b took the product over once a had given it up.
    assert_eq!(
        Some(claimed_after_buying(&b, &mut conn, "cb2-").await.as_str()),
        b.forwarding_address()
    );
    b.close().await;
}

/// A `flashsale burst` with forwarding on: `buyers` single-unit purchases of [`PRODUCT`].
fn forwarding_burst(db: &TestDb, home: &std::path::Path, buyers: u32, clients: u32) -> Child {
    burst_command(&db.url, home, buyers, clients)
        .env("FLASHSALE_FORWARD_LISTEN", "127.0.0.1:0")
        .spawn()
        .expect("start a burst process")
}

/// Three forwarding bursts of 8 clients on [`PRODUCT`], and the pid of the one that claimed
/// it, half a second after it did (the others forward to it by then).
async fn three_forwarders(db: &TestDb, home: &std::path::Path) -> (Vec<Child>, u32) {
    let mut conn = db.conn().await;
    let children: Vec<Child> = (0..3)
        .map(|_| forwarding_burst(db, home, 200_000, 8))
        .collect();
    let start = Instant::now();
    let seller = loop {
        if let Some(pid) = holder_pid(&mut conn).await {
            break pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nobody claimed it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    (children, seller)
}

/// A finished burst's report: (user prefix, purchased, failed).
fn report(child: Child) -> (String, u64, u64) {
    let out = child.wait_with_output().expect("burst process");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr: {stderr}"));
    let count = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("no {k} in {r}"));
    let prefix = r["userPrefix"].as_str().expect("userPrefix").to_string();
    (prefix, count("purchased"), count("failed"))
}

/// The pid of the process holding [`PRODUCT`]'s claim (holders are `host:pid:random`).
async fn holder_pid(conn: &mut PgConnection) -> Option<u32> {
    let holder: Option<String> =
        sqlx::query_scalar("SELECT holder FROM product_sellers WHERE product_id = $1")
            .bind(PRODUCT)
            .fetch_optional(conn)
            .await
            .expect("holder");
    holder.and_then(|h| h.split(':').nth(1).and_then(|p| p.parse().ok()))
}

async fn orders_of(conn: &mut PgConnection, prefix: &str) -> u64 {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE user_id LIKE $1")
        .bind(format!("{prefix}%"))
        .fetch_one(conn)
        .await
        .expect("orders of a process");
    n as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_killed_mid_storm_is_replaced_and_no_answer_contradicts_the_orders() {
    let (db, setup) = TestDb::seeded().await;
    const STOCK: i64 = 1_000_000;
    setup
        .set_stock(PRODUCT, STOCK as i32)
        .await
        .expect("restock");
    let mut conn = db.conn().await;
    let after = watermark(&mut conn).await;
    let home = tempfile::tempdir().expect("home");
    let (children, victim_pid) = three_forwarders(&db, home.path()).await;
    let (mut victim, survivors): (Vec<Child>, Vec<Child>) =
        children.into_iter().partition(|c| c.id() == victim_pid);
    assert_eq!(victim.len(), 1, "the seller is one of the bursts");
    let mut victim = victim.remove(0);
    victim.kill().expect("SIGKILL");
    let _ = victim.wait();
    // A survivor claims the product once the dead claim expires.
    let start = Instant::now();
    loop {
        match holder_pid(&mut conn).await {
            Some(pid) if pid != victim_pid => break,
            _ => {}
        }
        assert!(
            start.elapsed() < flashsale_core::store::forward::CLAIM_EXPIRY * 5,
            "no survivor took the product over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The survivors' keepers fold the dead process's leases back.
    let start = Instant::now();
    loop {
        let dead_leases: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM stock_leases WHERE holder LIKE $1 AND units > 0",
        )
        .bind(format!("%:{victim_pid}:%"))
        .fetch_one(&mut conn)
        .await
        .expect("dead leases");
        if dead_leases == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "dead lease never folded back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for child in &survivors {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
    }
    for child in survivors {
        let (prefix, bought, failed) = report(child);
        let orders = orders_of(&mut conn, &prefix).await;
        assert!(
            bought <= orders && orders <= bought + failed,
            "{prefix}: told {bought} purchased and {failed} failed, but {orders} orders"
        );
    }
    // Every unit is sold once or still there.
    let (available, sold) = units(&mut conn, after).await;
    assert_eq!(available + sold, STOCK, "nothing lost, nothing sold twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_works_through_pgbouncer_in_transaction_mode() {
    let bouncer = PgBouncer::start();
    let (db, setup) = TestDb::seeded().await;
    setup.set_stock(PRODUCT, 20_000).await.expect("restock");
    let url = DatabaseTarget::Postgres(SecretUrl::new(bouncer.url(&db.name)));
    let a = Store::open(&url, &forwarding())
        .await
        .expect("a through the pooler");
    let b = Store::open(&url, &forwarding())
        .await
        .expect("b through the pooler");
    let mut conn = db.conn().await;
    assert_eq!(
        Some(claimed_after_buying(&a, &mut conn, "pa0-").await.as_str()),
        a.forwarding_address()
    );
    until_forwarding(&b, "pb0-").await;
    let after = watermark(&mut conn).await;
    let (left, _) = units(&mut conn, after).await;
    let (pa, pb) = (unlimited(&a), unlimited(&b));
    let (sa, sb) = tokio::join!(
        storm(&pa, Strategy::Batched, "pa1-", 2_000, 16),
        storm(&pb, Strategy::Batched, "pb1-", 2_000, 16),
    );
    assert_eq!((purchased(&sa), purchased(&sb)), (2_000, 2_000));
    assert!(shared_commits(&mut conn, after, "pa1-", "pb1-").await > 0);
    let (available, sold) = units(&mut conn, after).await;
    assert_eq!((available + sold, sold), (left, 4_000));
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_processes_with_demand_above_stock_sell_exactly_to_zero() {
    let (db, setup) = TestDb::seeded().await;
    setup.set_stock(PRODUCT, 12_000).await.expect("restock");
    let mut conn = db.conn().await;
    let after = watermark(&mut conn).await;
    let home = tempfile::tempdir().expect("home");
    // 4 x 4,000 buyers for 12,000 units.
    let children: Vec<Child> = (0..4)
        .map(|_| forwarding_burst(&db, home.path(), 4_000, 16))
        .collect();
    let mut told = 0;
    for child in children {
        let (prefix, bought, failed) = report(child);
        assert_eq!(failed, 0, "{prefix}: no seller went away, nothing may fail");
        assert_eq!(orders_of(&mut conn, &prefix).await, bought, "{prefix}");
        told += bought;
    }
    let (available, sold) = units(&mut conn, after).await;
    assert_eq!(
        (available, sold),
        (0, 12_000),
        "stock exactly 0, nothing oversold"
    );
    assert_eq!(told, 12_000, "what the buyers were told is what was sold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_seller_is_left_once_its_claim_lapses() {
    let (db, setup) = TestDb::seeded().await;
    setup.set_stock(PRODUCT, 1_000_000).await.expect("restock");
    let mut conn = db.conn().await;
    let home = tempfile::tempdir().expect("home");
    let (children, stalled_pid) = three_forwarders(&db, home.path()).await;
    let signal = |sig: &str, pid: u32| {
        std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("kill")
    };
    assert!(signal("-STOP", stalled_pid).success());
    let sold_then = watermark(&mut conn).await;
    // Its claim lapses; the others drop their links to it, one claims the product, and their
    // buyers buy again (orders keep coming) long before a purchase's own deadline (18 s).
    let start = Instant::now();
    loop {
        let moved_on = matches!(holder_pid(&mut conn).await, Some(pid) if pid != stalled_pid);
        let new_orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE id > $1")
            .bind(sold_then)
            .fetch_one(&mut conn)
            .await
            .expect("orders");
        if moved_on && new_orders > 1_000 {
            break;
        }
        assert!(
            start.elapsed() < flashsale_core::store::forward::CLAIM_EXPIRY * 3,
            "the others kept waiting on the stalled seller"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(signal("-CONT", stalled_pid).success());
    for child in &children {
        signal("-INT", child.id());
    }
    for child in children {
        let (prefix, bought, failed) = report(child);
        let orders = orders_of(&mut conn, &prefix).await;
        assert!(
            bought <= orders && orders <= bought + failed,
            "{prefix}: told {bought} purchased and {failed} failed, but {orders} orders"
        );
    }
}
