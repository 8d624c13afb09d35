//! Issue 17: every PostgreSQL connection names itself `flashsale <command>` (its
//! `application_name`), directly and through PgBouncer, so `pg_stat_activity` (and `flashsale
//! activity`) tells our backends apart; a name the URL gives wins.

use std::time::{Duration, Instant};

use crate::support::TestDb;
use crate::support::http::ServeProcess;
use crate::support::pgbouncer::PgBouncer;

/// The application names of the database's other sessions, once one of them is `wanted` (or
/// after `limit`, whatever they are then).
async fn names_once(db: &TestDb, wanted: &str, limit: Duration) -> Vec<String> {
    let mut conn = db.conn().await;
    let start = Instant::now();
    loop {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT application_name FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
             ORDER BY application_name",
        )
        .fetch_all(&mut conn)
        .await
        .expect("pg_stat_activity");
        if names.iter().any(|n| n == wanted) || start.elapsed() > limit {
            return names;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `serve` opens a connection at start (its idempotency-key sweep) and keeps it in its pool.
async fn serve_names(url: &str, db: &TestDb, wanted: &str) -> Vec<String> {
    let home = tempfile::tempdir().expect("tmp");
    let _server = ServeProcess::start(home.path(), &[("DATABASE_URL", url)]);
    names_once(db, wanted, Duration::from_secs(20)).await
}

#[tokio::test]
async fn serve_names_its_connections_flashsale_serve() {
    let (db, _store) = TestDb::seeded().await;
    let names = serve_names(&db.url, &db, "flashsale serve").await;
    assert!(names.iter().any(|n| n == "flashsale serve"), "{names:?}");
}

#[tokio::test]
async fn a_name_in_the_url_wins() {
    let (db, _store) = TestDb::seeded().await;
    let url = format!("{}?application_name=checkout-7", db.url);
    let names = serve_names(&url, &db, "checkout-7").await;
    assert!(names.iter().any(|n| n == "checkout-7"), "{names:?}");
    // (The test's own store is `flashsale`, the library's default.)
    assert!(!names.iter().any(|n| n == "flashsale serve"), "{names:?}");
}

#[tokio::test]
async fn the_name_survives_pgbouncer() {
    let bouncer = PgBouncer::start();
    let (db, _store) = TestDb::seeded().await;
    // PgBouncer passes application_name on as a startup parameter, and sets it on the server
    // connection it links a client to.
    let names = serve_names(&bouncer.url(&db.name), &db, "flashsale serve").await;
    assert!(names.iter().any(|n| n == "flashsale serve"), "{names:?}");
}
