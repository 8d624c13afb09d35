//! TLS to PostgreSQL, on a private cluster that refuses plain connections: with the CA given
//! (`sslmode=verify-full&sslrootcert=...`) everything works, the CLI included; a plain
//! connection and an untrusted certificate are refused with a clear error.

use std::process::Command;

use flashsale::config::{DatabaseTarget, PoolSettings};
use flashsale::purchase::{Outcome, PurchaseRequest, Strategy};
use flashsale::redact::SecretUrl;
use flashsale::store::Store;

use crate::support::pg_server::PgServer;
use crate::support::unlimited;

async fn open(url: String) -> Result<Store, String> {
    let store = Store::open(
        &DatabaseTarget::Postgres(SecretUrl::new(url)),
        &PoolSettings::default(),
    )
    .await
    .map_err(|e| e.to_string())?;
    // Connections are made lazily: the first query shows whether one can be made.
    match store.products().await {
        Ok(_) => Ok(store),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test]
async fn postgres_over_verified_tls_runs_purchases_and_the_cli() {
    let (pg, ca) = PgServer::start_tls();
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        pg.url("postgres"),
        ca.display()
    );
    let store = Store::open(
        &DatabaseTarget::Postgres(SecretUrl::new(url.clone())),
        &PoolSettings::default(),
    )
    .await
    .expect("open");
    store.migrate().await.expect("migrate over TLS");
    store.seed().await.expect("seed over TLS");
    for strategy in [Strategy::Batched, Strategy::Atomic, Strategy::RowLock] {
        let r = unlimited(&store)
            .purchase(PurchaseRequest {
                product_id: 1,
                user_id: "tls_buyer",
                client_ip: [127, 0, 0, 1].into(),
                quantity: 1,
                strategy,
            })
            .await;
        assert!(
            matches!(r.outcome, Outcome::Purchased(_)),
            "{strategy}: {r:?}"
        );
    }
    store.close().await;

    let home = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_flashsale"))
        .args(["stock", "--json", "--database-url", &url])
        .env("FLASHSALE_STATE_DIR", home.path())
        .env("FLASHSALE_CONFIG_DIR", home.path())
        .output()
        .expect("run flashsale");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stock: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(stock[0]["stock"], 97, "three units sold over TLS: {stock}");

    // Plain TCP is rejected by this server, and said so.
    let Err(err) = open(format!("{}?sslmode=disable", pg.url("postgres"))).await else {
        panic!("a plain connection is refused");
    };
    assert!(err.contains("accepts only TLS connections"), "{err}");
    // A certificate from an issuer we were not told to trust is refused, saying why.
    let Err(err) = open(format!("{}?sslmode=verify-full", pg.url("postgres"))).await else {
        panic!("an untrusted certificate is refused");
    };
    assert!(
        err.contains("certificate was refused") && err.contains("UnknownIssuer"),
        "{err}"
    );
}
