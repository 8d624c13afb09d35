//! TLS to PostgreSQL, on a private cluster that refuses plain connections: with the CA given
//! (`sslmode=verify-full&sslrootcert=...`) everything works, the CLI included; a plain
//! connection and an untrusted certificate are refused with a clear error. And TLS to Redis:
//! `rediss://` to a TLS-only server.

use std::net::IpAddr;
use std::time::Duration;

use flashsale_core::config::{DatabaseTarget, LimitSettings, PoolSettings};
use flashsale_core::purchase::{Outcome, PurchaseRequest};
use flashsale_core::ratelimit::{LimitNote, RateLimiter};
use flashsale_core::redact::SecretUrl;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;

use crate::support::certs::TestCa;
use crate::support::pg_server::PgServer;
use crate::support::redis_server::RedisServer;
use crate::support::{flashsale, unlimited};

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
    let ca = TestCa::new();
    let pg = PgServer::start_tls(&ca);
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        pg.url("postgres"),
        ca.ca_cert().display()
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
    let out = flashsale(home.path())
        .args(["stock", "--json", "--database-url", &url])
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

    // Plain TCP is rejected by this server, and said so; a loopback URL that names no
    // sslmode is plain (no TLS to this machine unless asked), so it is refused the same way,
    // and `sslmode=require` (TLS without verification) gets in.
    for plain in [
        format!("{}?sslmode=disable", pg.url("postgres")),
        pg.url("postgres"),
    ] {
        let Err(err) = open(plain.clone()).await else {
            panic!("a plain connection is refused: {plain}");
        };
        assert!(err.contains("accepts only TLS connections"), "{err}");
    }
    let required = open(format!("{}?sslmode=require", pg.url("postgres")))
        .await
        .expect("sslmode=require on loopback uses TLS");
    required.close().await;
    // A certificate from an issuer we were not told to trust is refused, saying why.
    let Err(err) = open(format!("{}?sslmode=verify-full", pg.url("postgres"))).await else {
        panic!("an untrusted certificate is refused");
    };
    assert!(
        err.contains("certificate was refused") && err.contains("UnknownIssuer"),
        "{err}"
    );
}

/// A TLS-only Redis: `rediss://` with `#insecure` (its certificate is from the test's own CA,
/// which the system does not trust) counts purchases through the Lua script over TLS; verified
/// `rediss://` refuses that certificate, and plain `redis://` gets no answer from a TLS port:
/// both fail as the policy says (here fail-open), within the timeout.
#[tokio::test]
async fn redis_over_tls_limits_and_an_unverifiable_server_fails_open() {
    let ca = TestCa::new();
    let redis = RedisServer::start_tls(&ca);
    let settings = LimitSettings {
        user_max: 2,
        redis_timeout: Duration::from_millis(500),
        key_prefix: format!("{}:", crate::support::unique("fs_tls")),
        ..LimitSettings::default()
    };
    let ip: IpAddr = [10, 9, 0, 1].into();
    let limiter = |url: String| {
        RateLimiter::new(settings.clone(), Some(&SecretUrl::new(url))).expect("limiter")
    };

    let tls = limiter(format!("rediss://127.0.0.1:{}/#insecure", redis.port));
    let mut verdicts = Vec::new();
    for _ in 0..3 {
        verdicts.push(tls.check("tls_user", ip).await.expect("checked over TLS"));
    }
    assert!(
        matches!(
            verdicts[2],
            flashsale_core::ratelimit::Verdict::Limited { .. }
        ),
        "the third purchase of a user limited to two is refused: {verdicts:?}"
    );

    let (_db, store) = crate::support::TestSqlite::seeded().await;
    for (url, what) in [
        (
            format!("rediss://127.0.0.1:{}", redis.port),
            "an unverifiable certificate",
        ),
        (
            format!("redis://127.0.0.1:{}", redis.port),
            "plain text to a TLS port",
        ),
    ] {
        let p = flashsale_core::purchase::Purchaser::new(store.clone(), limiter(url), 10);
        let started = std::time::Instant::now();
        let r = p
            .purchase(PurchaseRequest {
                product_id: 2,
                user_id: "tls_refused",
                client_ip: ip,
                quantity: 1,
                strategy: Strategy::Atomic,
            })
            .await;
        assert!(
            matches!(r.limit, Some(LimitNote::FailedOpen { .. })),
            "{what}: not checked, sold by the fail-open policy: {r:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{what}: took {:?}",
            started.elapsed()
        );
    }
}
