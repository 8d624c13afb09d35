//! Security from the outside: a role with only SELECT can watch but not write, and says so.

use flashsale_core::config::{DatabaseTarget, PoolSettings};
use flashsale_core::purchase::{Outcome, PurchaseRequest};
use flashsale_core::redact::SecretUrl;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;

use std::time::Duration;

use crate::support::terminal::{START, Tmux, assert_restored};
use crate::support::{TestDb, unique, unlimited};

/// A login role that may only SELECT in `db`; its URL (with `password`, if any: the test
/// server trusts loopback, so it is sent nowhere, but it must be masked wherever it shows).
async fn select_only_role(db: &TestDb, password: Option<&str>) -> (String, String) {
    let role = unique("fs_ro_");
    let mut conn = db.conn().await;
    for sql in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT CONNECT ON DATABASE {} TO {role}", db.name),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect("set up the role");
    }
    drop(conn);
    let mut url = url::Url::parse(&db.url).expect("url");
    url.set_username(&role).expect("user");
    url.set_password(password).expect("password");
    (role, url.to_string())
}

/// Drops `db` and then `role` (a role cannot go while it holds grants in a database).
async fn drop_with_role(db: TestDb, role: &str) {
    let mut conn = db.conn().await;
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}; REVOKE CONNECT ON DATABASE {} FROM {role}",
        db.name
    )))
    .execute(&mut conn)
    .await;
    drop(conn);
    drop(db);
    let admin = crate::support::pg_admin_url();
    let mut admin_conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("admin");
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .execute(&mut admin_conn)
        .await;
}

#[tokio::test]
async fn a_select_only_role_reads_everything_and_every_write_is_refused_cleanly() {
    let (db, _store) = TestDb::seeded().await;
    let (role, url) = select_only_role(&db, None).await;
    let reader = Store::open(
        &DatabaseTarget::Postgres(SecretUrl::new(url)),
        &PoolSettings::default(),
    )
    .await
    .expect("open as the reader");
    assert_eq!(reader.products().await.expect("products").len(), 5);
    assert!(reader.stats().await.expect("stats").total_units_sold > 0);
    let before = reader.max_order_id().await.expect("max id");
    for strategy in Strategy::ALL {
        let r = unlimited(&reader)
            .purchase(PurchaseRequest {
                product_id: 1,
                user_id: "ro",
                client_ip: [127, 0, 0, 1].into(),
                quantity: 1,
                strategy,
            })
            .await;
        match &r.outcome {
            Outcome::Failed(reason) => {
                assert!(reason.contains("permission denied"), "{strategy}: {reason}")
            }
            other => panic!("{strategy}: a read-only role cannot buy, got {other:?}"),
        }
    }
    let err = reader.set_stock(1, 5).await.expect_err("restock refused");
    assert!(err.to_string().contains("permission denied"), "{err}");
    assert_eq!(
        reader.max_order_id().await.expect("max id"),
        before,
        "nothing written"
    );
    assert_eq!(reader.stock(1).await.expect("stock"), Some(100));
    reader.close().await;
    drop_with_role(db, &role).await;
}

/// The on-call view of production: `dashboard --read-only` as a role that may only read. It
/// shows the sale, offers no write, refuses write keys with a message, and masks the password.
#[tokio::test]
async fn the_read_only_dashboard_watches_as_a_select_only_role() {
    let (db, store) = TestDb::seeded().await;
    let (role, url) = select_only_role(&db, Some("hunter2")).await;
    let before = store.max_order_id().await.expect("max id");
    let t = Tmux::start(
        &["dashboard", "--read-only", "--database-url", &url],
        &[],
        80,
        24,
    );
    let s = t.wait_for("1299.99", START);
    assert!(!s.contains("hunter2"), "the password is masked:\n{s}");
    // The statistics are read too (the seed's orders).
    let s = t.wait_for("units 14", Duration::from_secs(10));
    assert!(!s.contains("permission denied"), "{s}");
    for key in ["b", "r"] {
        t.keys(&[key]);
        t.wait_for("read-only", Duration::from_secs(5));
    }
    assert_eq!(
        store.max_order_id().await.expect("max id"),
        before,
        "nothing written"
    );
    assert_eq!(store.stock(1).await.expect("stock"), Some(100));
    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
    store.close().await;
    drop_with_role(db, &role).await;
}
