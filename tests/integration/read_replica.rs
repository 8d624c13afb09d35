//! The dashboard on a real streaming replica (`--replica-url`): a private primary, and a
//! replica of it built by `pg_basebackup -R` on a port of its own. Its stock and sales are read
//! there (shown by pausing the replica's replay: the dashboard then shows the replica's older
//! stock), its lag is shown and alerted on, purchases and restocks still go to the primary, and
//! a replica that goes away is replaced by the primary, saying so, until it answers again.

use std::time::Duration;

use serde_json::Value;
use sqlx::{Connection, PgConnection};

use flashsale_core::config::{DatabaseTarget, PoolSettings};
use flashsale_core::redact::SecretUrl;
use flashsale_core::store::Store;

use crate::support::bin::run;
use crate::support::flashsale;
use crate::support::pg_server::PgServer;
use crate::support::terminal::{START, Tmux, assert_restored};

/// The product whose stock the tests change.
const PRODUCT: i32 = 1;

/// A primary with the seeded sale, and its streaming replica, caught up.
struct Pair {
    primary: PgServer,
    replica: PgServer,
    store: Store,
}

impl Pair {
    async fn start() -> Pair {
        let primary = PgServer::start();
        let target = DatabaseTarget::Postgres(SecretUrl::new(primary.url("postgres")));
        let store = Store::open(&target, &PoolSettings::default())
            .await
            .expect("open the primary");
        store.migrate().await.expect("migrate");
        store.seed().await.expect("seed");
        let replica = tokio::task::block_in_place(|| PgServer::replica_of(&primary));
        let pair = Pair {
            primary,
            replica,
            store,
        };
        let seeded = pair.primary_stock().await;
        pair.wait_for_replica_stock(seeded).await;
        pair
    }

    /// The URLs with a password: trust authentication ignores it, and nothing may show it.
    fn primary_url(&self) -> String {
        self.primary
            .url("postgres")
            .replace("postgres@", "postgres:hunter2@")
    }

    fn replica_url(&self) -> String {
        self.replica
            .url("postgres")
            .replace("postgres@", "postgres:hunter2@")
    }

    async fn replica(&self) -> PgConnection {
        PgConnection::connect(&self.replica.url("postgres"))
            .await
            .expect("connect to the replica")
    }

    async fn primary_stock(&self) -> i32 {
        self.store
            .stock(PRODUCT)
            .await
            .expect("stock")
            .expect("the product")
    }

    async fn wait_for_replica_stock(&self, stock: i32) {
        let mut conn = self.replica().await;
        let mut seen = None;
        for _ in 0..200 {
            seen = sqlx::query_scalar::<_, i32>("SELECT stock FROM products WHERE id = $1")
                .bind(PRODUCT)
                .fetch_optional(&mut conn)
                .await
                .ok()
                .flatten();
            if seen == Some(stock) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the replica did not replay stock {stock} within 10 s (it shows {seen:?})");
    }
}

fn stock_of(v: &Value, id: i32) -> i64 {
    v["stock"]
        .as_array()
        .and_then(|products| products.iter().find(|p| p["id"] == id))
        .and_then(|p| p["stock"].as_i64())
        .unwrap_or_else(|| panic!("no stock for product {id}: {v}"))
}

fn alert_keys(v: &Value) -> Vec<String> {
    v["alerts"]
        .as_array()
        .map(|alerts| {
            alerts
                .iter()
                .filter_map(|a| a["key"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_json_reads_the_stock_from_the_replica_and_shows_and_alerts_its_lag() {
    let pair = Pair::start().await;
    // A commit replayed since the replica started: the age of its last one is the lag in time.
    pair.store.set_stock(PRODUCT, 700).await.expect("restock");
    pair.wait_for_replica_stock(700).await;
    let mut replica = pair.replica().await;
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&mut replica)
        .await
        .expect("pause the replay");
    pair.store
        .set_stock(PRODUCT, 777)
        .await
        .expect("restock on the primary");
    // The restock's WAL reaches the replica, which keeps it unreplayed.
    let mut received = false;
    for _ in 0..200 {
        received = sqlx::query_scalar::<_, bool>(
            "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()",
        )
        .fetch_one(&mut replica)
        .await
        .expect("positions");
        if received {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(received, "the replica received the restock's WAL");
    let home = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(home.path().join("config")).expect("config dir");
    std::fs::write(
        home.path().join("config/config.toml"),
        "[alerts]\nreplica_lag_ms = 1\n",
    )
    .expect("config");
    let once = |home: &std::path::Path| {
        let (out, stdout, stderr) = run(flashsale(home).args([
            "dashboard",
            "--once",
            "--json",
            "--database-url",
            &pair.primary_url(),
            "--replica-url",
            &pair.replica_url(),
        ]));
        assert!(out.status.success(), "{stderr}\n{stdout}");
        assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));
        serde_json::from_str::<Value>(&stdout).expect("JSON")
    };

    let behind = tokio::task::block_in_place(|| once(home.path()));
    assert_eq!(
        stock_of(&behind, PRODUCT),
        700,
        "the stock is the replica's, before the restock it has not replayed: {behind}"
    );
    let r = &behind["readReplica"];
    assert_eq!(r["readsFrom"], "replica", "{r}");
    assert_eq!(r["inRecovery"], true, "{r}");
    assert!(r["lagBytes"].as_u64().is_some_and(|b| b > 0), "{r}");
    assert!(r["lagMs"].as_u64().is_some_and(|ms| ms > 1), "{r}");
    assert!(
        alert_keys(&behind).contains(&"read-replica-lag".to_string()),
        "{behind}"
    );
    assert!(
        behind["errors"].as_object().is_some_and(|e| e.is_empty()),
        "{behind}"
    );

    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&mut replica)
        .await
        .expect("resume the replay");
    pair.wait_for_replica_stock(777).await;
    let fresh = tempfile::tempdir().expect("tmp");
    let caught_up = tokio::task::block_in_place(|| once(fresh.path()));
    assert_eq!(stock_of(&caught_up, PRODUCT), 777, "{caught_up}");
    assert_eq!(caught_up["readReplica"]["readsFrom"], "replica");
    assert!(
        !alert_keys(&caught_up)
            .iter()
            .any(|k| k.starts_with("read-replica")),
        "caught up, under the default threshold: {caught_up}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_json_with_the_replica_down_reads_the_primary_and_says_so() {
    let pair = Pair::start().await;
    pair.store.set_stock(PRODUCT, 555).await.expect("restock");
    tokio::task::block_in_place(|| pair.replica.kill());
    let home = tempfile::tempdir().expect("tmp");
    let (out, stdout, stderr) = tokio::task::block_in_place(|| {
        run(flashsale(home.path()).args([
            "dashboard",
            "--once",
            "--json",
            "--db-acquire-timeout-ms",
            "500",
            "--database-url",
            &pair.primary_url(),
            "--replica-url",
            &pair.replica_url(),
        ]))
    });
    assert_eq!(out.status.code(), Some(1), "a source failed: {stderr}");
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));
    let v: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(stock_of(&v, PRODUCT), 555, "the primary's stock: {v}");
    let r = &v["readReplica"];
    assert_eq!(r["readsFrom"], "primary", "{r}");
    assert!(r["downSince"].is_string(), "{r}");
    assert!(
        v["errors"]["readReplica"]
            .as_str()
            .is_some_and(|e| e.contains("unreachable")),
        "{v}"
    );
    assert!(
        v["errors"].get("stock").is_none(),
        "the stock was read: {v}"
    );
    assert!(
        alert_keys(&v).contains(&"read-replica-down".to_string()),
        "{v}"
    );
}

#[test]
fn a_replica_without_a_postgres_database_or_over_the_api_is_refused_naming_the_setting() {
    let home = tempfile::tempdir().expect("tmp");
    let (out, _, stderr) = run(flashsale(home.path()).args([
        "dashboard",
        "--once",
        "--replica-url",
        "postgres://u:hunter2@127.0.0.1:9/sale",
    ]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("replica-url") || stderr.contains("DATABASE_REPLICA_URL"),
        "{stderr}"
    );
    assert!(stderr.contains("needs a PostgreSQL database"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let (out, _, stderr) = run(flashsale(home.path())
        .args(["dashboard", "--once", "--api", "http://127.0.0.1:9"])
        .env("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:9/sale")
        .env(
            "DATABASE_REPLICA_URL",
            "postgres://u:hunter2@127.0.0.1:9/sale",
        ));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("over --api"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// At 80x24: the pool pane shows the lag; a burst and a restock go to the primary (the replica
/// would refuse them: it is read-only) and show through the replica; the replica killed, the
/// pane says so and the primary's stock shows; started again, it is read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_reads_the_replica_buys_on_the_primary_and_survives_the_replica_going_away() {
    let pair = Pair::start().await;
    let (primary, replica) = (pair.primary_url(), pair.replica_url());
    let args = [
        "dashboard",
        "--database-url",
        primary.as_str(),
        "--replica-url",
        replica.as_str(),
    ];
    let t = Tmux::start(&args, &[], 80, 24);
    let screen = t.wait_for("replica lag", START);
    assert!(!screen.contains("hunter2"), "{screen}");

    let mut conn = PgConnection::connect(&pair.primary.url("postgres"))
        .await
        .expect("primary");
    let orders = async |conn: &mut PgConnection| -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(conn)
            .await
            .expect("count")
    };
    let before = orders(&mut conn).await;
    t.keys(&["b"]);
    t.wait_for("Fire a burst?", Duration::from_secs(5));
    t.keys(&["y"]);
    t.wait_for("AUDIT OK", Duration::from_secs(30));
    assert!(
        orders(&mut conn).await > before,
        "the burst's orders are on the primary"
    );

    tokio::task::block_in_place(|| pair.replica.kill());
    t.wait_for("replica DOWN since", Duration::from_secs(20));
    // Read from the primary now: a restock made there shows.
    pair.store.set_stock(PRODUCT, 4242).await.expect("restock");
    let down = t.wait_for("4,242", Duration::from_secs(10));
    assert!(
        down.contains("read replica down"),
        "the event says so: {down}"
    );

    tokio::task::block_in_place(|| pair.replica.start_again());
    let back = t.wait_for("read replica answers again", Duration::from_secs(40));
    assert!(back.contains("replica lag"), "{back}");
    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}
