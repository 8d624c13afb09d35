//! The database goes away under a storm, for every safe strategy, in process and over HTTP:
//! stopped and started again, or behind a faulty network (latency, every connection cut, a
//! black hole, healed). After each: nothing oversold, nothing acknowledged lost, stock and
//! orders in balance.

use std::time::Duration;

use flashsale_core::audit::AuditScope;
use flashsale_core::config::{DatabaseTarget, PoolSettings};
use flashsale_core::purchase::Outcome;
use flashsale_core::redact::SecretUrl;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;
use rstest::rstest;

use crate::support::buyers::{Entry, PRODUCT, Rig};
use crate::support::invariant::check_invariant;
use crate::support::pg_server::PgServer;
use crate::support::proxy::FaultProxy;
use crate::support::{TestDb, unlimited};

/// Stop, wait, start: the storm finishes with errors for the gap, the invariant holds, and the
/// pools recover by themselves within seconds.
#[rstest]
#[case::row_lock_in_process(Strategy::RowLock, Entry::InProcess)]
#[case::atomic_in_process(Strategy::Atomic, Entry::InProcess)]
#[case::batched_in_process(Strategy::Batched, Entry::InProcess)]
#[case::row_lock_over_http(Strategy::RowLock, Entry::OverHttp)]
#[case::atomic_over_http(Strategy::Atomic, Entry::OverHttp)]
#[case::batched_over_http(Strategy::Batched, Entry::OverHttp)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restarted_mid_storm_recovers_by_itself_and_keeps_the_invariant(
    #[case] strategy: Strategy,
    #[case] entry: Entry,
) {
    let pg = PgServer::start();
    let target = DatabaseTarget::Postgres(SecretUrl::new(pg.url("postgres")));
    let pool = PoolSettings {
        acquire_timeout: Duration::from_millis(500),
        ..PoolSettings::default()
    };
    let store = Store::open(&target, &pool).await.expect("open");
    store.migrate().await.expect("migrate");
    store.seed().await.expect("seed");
    store.set_stock(PRODUCT, 1_000_000).await.expect("restock");
    let scope = AuditScope::before(&store, PRODUCT, "restart_")
        .await
        .expect("scope");
    let rig = Rig::new(unlimited(&store), strategy, entry, 32).await;
    let (mut outcomes, ()) =
        tokio::join!(rig.waves("restart_", 32, Duration::from_secs(3)), async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            tokio::task::block_in_place(|| pg.stop());
            tokio::time::sleep(Duration::from_millis(800)).await;
            tokio::task::block_in_place(|| pg.start_again());
        });
    let errors = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed(_) | Outcome::Busy(_)))
        .count();
    assert!(errors > 0, "the outage showed as errors");
    // The recovery purchases are in the audit's scope: their outcomes join the storm's.
    let mut recovered = false;
    for attempt in 0..50u32 {
        let outcome = rig.buy(&format!("restart_after_{attempt}"), attempt).await;
        recovered = matches!(outcome, Outcome::Purchased(_));
        outcomes.push(outcome);
        if recovered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "{strategy} ({entry:?}): no purchase succeeded within 5 s of the restart"
    );
    let audit = check_invariant(&store, &scope, &outcomes).await;
    eprintln!(
        "restart, {strategy}, {entry:?}: {} attempted, {errors} errors; {audit:?}",
        outcomes.len()
    );
}

/// Latency, then every connection cut, then a black hole, then healed, between us and
/// PostgreSQL.
#[rstest]
#[case::row_lock_in_process(Strategy::RowLock, Entry::InProcess)]
#[case::atomic_in_process(Strategy::Atomic, Entry::InProcess)]
#[case::batched_in_process(Strategy::Batched, Entry::InProcess)]
#[case::row_lock_over_http(Strategy::RowLock, Entry::OverHttp)]
#[case::atomic_over_http(Strategy::Atomic, Entry::OverHttp)]
#[case::batched_over_http(Strategy::Batched, Entry::OverHttp)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_network_to_postgres_keeps_the_invariant(
    #[case] strategy: Strategy,
    #[case] entry: Entry,
) {
    let (db, _store) = TestDb::seeded().await;
    let u = url::Url::parse(&db.url).expect("url");
    let upstream = format!("127.0.0.1:{}", u.port().unwrap_or(5432))
        .parse()
        .expect("address");
    let proxy = FaultProxy::start(upstream).await;
    let mut via = u.clone();
    via.set_host(Some("127.0.0.1")).expect("host");
    via.set_port(Some(proxy.addr.port())).expect("port");
    let pool = PoolSettings {
        acquire_timeout: Duration::from_millis(1_000),
        statement_timeout: Duration::from_millis(1_000),
        ..PoolSettings::default()
    };
    let store = Store::open(
        &DatabaseTarget::Postgres(SecretUrl::new(via.to_string())),
        &pool,
    )
    .await
    .expect("open");
    store.set_stock(PRODUCT, 1_000_000).await.expect("restock");
    let scope = AuditScope::before(&store, PRODUCT, "net_")
        .await
        .expect("scope");
    let rig = Rig::new(unlimited(&store), strategy, entry, 32).await;
    let (outcomes, ()) = tokio::join!(rig.waves("net_", 32, Duration::from_millis(1_500)), async {
        for step in 0..4 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            match step {
                0 => proxy.set_latency(Duration::from_millis(20)),
                1 => proxy.cut_all(),
                2 => proxy.set_black_hole(true),
                _ => proxy.heal(),
            }
        }
    });
    let audit = check_invariant(&store, &scope, &outcomes).await;
    assert!(audit.units_sold > 0, "{strategy} ({entry:?}): {audit:?}");
    eprintln!(
        "faulty network, {strategy}, {entry:?}: {} attempted; {audit:?}",
        outcomes.len()
    );
}
