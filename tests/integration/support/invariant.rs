//! What must hold after a storm, faults or not: stock before == stock after + units in orders,
//! nothing oversold, no phantom order, and no order nobody was told of beyond the buyers who
//! heard an error; after an exhausted pool (nothing broke), every order acknowledged.

use flashsale_core::audit::{Audit, AuditScope};
use flashsale_core::purchase::Outcome;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;

/// The invariant after a storm: stock before == stock after + units in orders, no oversell, no
/// phantom; returns the audit. Unacknowledged orders are allowed after faults, but only as many
/// as buyers who heard an error: an order nobody was told of belongs to a buyer whose answer
/// was lost with a connection, never to one who was told something else.
pub async fn check_invariant(store: &Store, scope: &AuditScope, outcomes: &[Outcome]) -> Audit {
    let acknowledged: Vec<i64> = outcomes
        .iter()
        .filter_map(|o| o.order().map(|o| o.id))
        .collect();
    let audit = Audit::run(store, scope, &acknowledged)
        .await
        .expect("audit");
    assert_eq!(audit.oversold, 0, "{audit:?}");
    assert_eq!(audit.lost_updates, 0, "{audit:?}");
    assert_eq!(
        audit.phantom, 0,
        "every acknowledged purchase exists: {audit:?}"
    );
    assert_eq!(
        i64::from(audit.stock_before),
        i64::from(audit.stock_after) + audit.units_sold,
        "stock and orders balance: {audit:?}"
    );
    for o in outcomes {
        assert!(
            matches!(
                o,
                Outcome::Purchased(_)
                    | Outcome::SoldOut { .. }
                    | Outcome::Busy(_)
                    | Outcome::Failed(_)
            ),
            "{o:?}"
        );
    }
    let errors = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Busy(_) | Outcome::Failed(_)))
        .count();
    assert!(
        audit.unacknowledged as usize <= errors,
        "{} orders nobody was told of, but only {errors} buyers heard an error: {audit:?}",
        audit.unacknowledged
    );
    audit
}

/// After a storm on an exhausted pool, where nothing broke: every answer is a purchase or
/// `Busy` (never a hang or an error), the invariant holds, and every order was acknowledged.
pub async fn check_exhausted_pool(
    store: &Store,
    scope: &AuditScope,
    outcomes: &[Outcome],
    strategy: Strategy,
) {
    for o in outcomes {
        assert!(
            matches!(o, Outcome::Purchased(_) | Outcome::Busy(_)),
            "{strategy}: {o:?}"
        );
    }
    let audit = check_invariant(store, scope, outcomes).await;
    assert_eq!(
        audit.unacknowledged, 0,
        "{strategy}: nothing broke, so every order was acknowledged"
    );
}
