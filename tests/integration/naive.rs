//! The `naive` strategy loses updates, shown deterministically with the race hook, and the
//! audit catches it; the safe strategies under the same hook do not.

use flashsale_core::audit::{Audit, AuditScope};
use flashsale_core::purchase::{Outcome, Purchaser};
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::strategy::{RaceHook, Strategy};

use crate::support::{Engine, buy_all, seeded};

const PRODUCT: i32 = 4;
const BUYERS: usize = 10;

async fn run(engine: Engine, strategy: Strategy) -> (Audit, usize) {
    let (_held, store) = seeded(engine).await;
    store.set_stock(PRODUCT, 1).await.expect("restock");
    let scope = AuditScope::before(&store, PRODUCT, "naive_")
        .await
        .expect("scope");
    // All ten read the stock before any of them writes: exactly the reference system's race.
    let purchaser = Purchaser::with_race_hook(
        store.clone(),
        RateLimiter::off(),
        10,
        RaceHook::rendezvous(BUYERS),
    );
    let users: Vec<String> = (0..BUYERS).map(|i| format!("naive_{i}")).collect();
    let outcomes = buy_all(&purchaser, &users, PRODUCT, strategy).await;
    let acknowledged: Vec<i64> = outcomes
        .iter()
        .filter_map(|o| o.order().map(|o| o.id))
        .collect();
    let purchased = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Purchased(_)))
        .count();
    (
        Audit::run(&store, &scope, &acknowledged)
            .await
            .expect("audit"),
        purchased,
    )
}

#[tokio::test]
async fn naive_loses_updates_and_the_audit_sees_the_oversell_postgres() {
    let (audit, purchased) = run(Engine::Postgres, Strategy::Naive).await;
    assert_eq!(purchased, BUYERS);
    assert_eq!(
        (audit.stock_before, audit.stock_after, audit.units_sold),
        (1, 0, 10)
    );
    assert_eq!((audit.oversold, audit.lost_updates), (9, 9));
    assert!(!audit.ok);
}

#[tokio::test]
async fn naive_loses_updates_and_the_audit_sees_the_oversell_sqlite() {
    let (audit, purchased) = run(Engine::Sqlite, Strategy::Naive).await;
    assert_eq!(purchased, BUYERS);
    assert_eq!((audit.oversold, audit.lost_updates), (9, 9));
    assert!(!audit.ok);
}

#[tokio::test]
async fn safe_strategies_under_the_same_hook_pass_the_audit() {
    for engine in [Engine::Postgres, Engine::Sqlite] {
        for strategy in [Strategy::RowLock, Strategy::Atomic, Strategy::Batched] {
            let (audit, purchased) = run(engine, strategy).await;
            assert_eq!(purchased, 1, "{strategy} on {engine:?}");
            assert!(audit.ok, "{strategy} on {engine:?}: {audit:?}");
            assert_eq!(audit.units_sold, 1);
        }
    }
}
