//! Concurrency 1000 against a pool of five connections, in process for every safe strategy in
//! turn and over HTTP for each: every answer a purchase or busy, never a hang or an error, and
//! every order acknowledged. The throughput at 64 is printed beside it, for RELIABILITY.md.

use std::time::{Duration, Instant};

use flashsale_core::audit::AuditScope;
use flashsale_core::config::PoolSettings;
use flashsale_core::purchase::Outcome;
use flashsale_core::strategy::Strategy;
use rstest::rstest;

use crate::support::buyers::{Entry, PRODUCT, Rig, storm};
use crate::support::invariant::check_exhausted_pool;
use crate::support::{TestDb, unlimited};

#[tokio::test]
async fn a_thousand_buyers_on_a_pool_of_five_get_answers_never_a_hang() {
    let (db, _store) = TestDb::seeded().await;
    let pool = PoolSettings {
        max_connections: 5,
        acquire_timeout: Duration::from_millis(2_000),
        ..PoolSettings::default()
    };
    let store = db.store_with(pool).await;
    for strategy in [Strategy::RowLock, Strategy::Atomic, Strategy::Batched] {
        store.set_stock(PRODUCT, 100_000).await.expect("restock");
        let prefix = format!("pool_{strategy}_");
        let scope = AuditScope::before(&store, PRODUCT, &prefix)
            .await
            .expect("scope");
        let start = Instant::now();
        let outcomes = storm(&unlimited(&store), strategy, &prefix, 3_000, 1_000).await;
        let elapsed = start.elapsed();
        let busy = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Busy(_)))
            .count();
        check_exhausted_pool(&store, &scope, &outcomes, strategy).await;
        // The same pool at concurrency 64, for RELIABILITY.md's ratio (printed, not asserted:
        // timings belong to benchmarks).
        let start64 = Instant::now();
        storm(
            &unlimited(&store),
            strategy,
            &format!("pool64_{strategy}_"),
            3_000,
            64,
        )
        .await;
        let at64 = 3000.0 / start64.elapsed().as_secs_f64();
        let at1000 = 3000.0 / elapsed.as_secs_f64();
        eprintln!(
            "{strategy}: pool of 5, 3000 purchases: {at1000:.0}/s at concurrency 1000 ({busy} busy), {at64:.0}/s at 64; ratio {:.2}",
            at1000 / at64
        );
    }
}

/// Concurrency 1000 against a pool of 5, over HTTP: answers are purchases or Busy, never a hang.
#[rstest]
#[case::row_lock(Strategy::RowLock)]
#[case::atomic(Strategy::Atomic)]
#[case::batched(Strategy::Batched)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_http_buyers_on_a_pool_of_five_get_answers(#[case] strategy: Strategy) {
    let (db, _store) = TestDb::seeded().await;
    let store = db
        .store_with(PoolSettings {
            max_connections: 5,
            ..PoolSettings::default()
        })
        .await;
    store.set_stock(PRODUCT, 1_000_000).await.expect("restock");
    let prefix = format!("pool_http_{strategy}_");
    let scope = AuditScope::before(&store, PRODUCT, &prefix)
        .await
        .expect("scope");
    let rig = Rig::new(unlimited(&store), strategy, Entry::OverHttp, 1_000).await;
    let start = Instant::now();
    let outcomes: Vec<Outcome> = rig
        .storm(&prefix, 0, 3_000, 1_000)
        .await
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    let at1000 = 3000.0 / start.elapsed().as_secs_f64();
    check_exhausted_pool(&store, &scope, &outcomes, strategy).await;
    let start = Instant::now();
    rig.storm(&format!("{prefix}64_"), 0, 3_000, 64).await;
    let at64 = 3000.0 / start.elapsed().as_secs_f64();
    eprintln!(
        "pool of 5 over HTTP, {strategy}: {at1000:.0}/s at 1000, {at64:.0}/s at 64; ratio {:.2}",
        at1000 / at64
    );
}
