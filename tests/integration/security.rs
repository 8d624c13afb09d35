//! Security from the outside: a role with only SELECT can watch but not write, and says so.

use flashsale::config::{DatabaseTarget, PoolSettings};
use flashsale::purchase::{Outcome, PurchaseRequest, Strategy};
use flashsale::redact::SecretUrl;
use flashsale::store::Store;

use crate::support::{TestDb, unique, unlimited};

#[tokio::test]
async fn a_select_only_role_reads_everything_and_every_write_is_refused_cleanly() {
    let (db, _store) = TestDb::seeded().await;
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
    let mut url = url::Url::parse(&db.url).expect("url");
    url.set_username(&role).expect("user");
    let reader = Store::open(
        &DatabaseTarget::Postgres(SecretUrl::new(url.to_string())),
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
