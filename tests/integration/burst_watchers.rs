//! `flashsale burst --target URL --watchers N`: N stock event streams held open on a real
//! `flashsale serve` during a storm, every stock change the storm made reaching every one of
//! them, timed from its order's write; refused where it cannot work.

use crate::support::bin::run;
use crate::support::http::ServeProcess;
use crate::support::{TestDb, flashsale};

const STOCK: i32 = 200;
const WATCHERS: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_of_a_storm_reaches_every_watcher_and_is_timed() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("RATE_LIMIT_IP_MAX", "1000000000"),
        ("FLASHSALE_STRATEGY", "batched"),
    ];
    let server = ServeProcess::start(home.path(), &env);
    let stock = STOCK.to_string();
    let watchers = WATCHERS.to_string();
    let burst = |json: bool| {
        let mut cmd = flashsale(&home.path().join("cli"));
        cmd.args(["burst", "--target", &server.url, "--database-url", &db.url]);
        cmd.args([
            "--buyers",
            "300",
            "--concurrency",
            "16",
            "--restock",
            &stock,
        ]);
        cmd.args(["--watchers", &watchers]);
        if json {
            cmd.arg("--json");
        }
        run(&mut cmd)
    };

    let (out, stdout, stderr) = burst(true);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let r: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(r["purchased"], STOCK, "{r}");
    assert_eq!(r["audit"]["ok"], true, "{r}");
    let w = &r["watchers"];
    assert_eq!(w["streams"], WATCHERS, "{w}");
    assert_eq!(w["opened"], WATCHERS, "{w}");
    assert!(w["openError"].is_null(), "{w}");
    assert_eq!(w["changes"], STOCK, "one change per unit sold: {w}");
    assert_eq!(w["deliveries"], STOCK as u64 * WATCHERS, "{w}");
    assert_eq!(w["missed"], 0, "every change reached every stream: {w}");
    assert_eq!(w["dropped"], 0, "{w}");
    // At least the starting figure and the final one on each stream.
    assert!(w["events"].as_u64().expect("events") >= 2 * WATCHERS, "{w}");
    let late = &w["commitToEventMs"];
    let (p50, p99, max) = (
        late["p50"].as_f64().expect("p50"),
        late["p99"].as_f64().expect("p99"),
        late["max"].as_f64().expect("max"),
    );
    assert!(p50 > 0.0 && p50 <= p99 && p99 <= max, "{late}");

    let (out, stdout, stderr) = burst(false);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "watchers: {WATCHERS} of {WATCHERS} event streams open; all {STOCK} stock changes reached every stream"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("commit to event ms   p50 "), "{stdout}");
}

#[tokio::test]
async fn watchers_need_a_target_that_streams() {
    let home = tempfile::tempdir().expect("tmp");
    // In process there is no server to watch: a usage error before anything runs.
    let (out, _, stderr) = run(flashsale(home.path()).args(["burst", "--watchers", "5"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--target"), "{stderr}");

    // A server without stock event streams (as the reference system): said before anything
    // is written, so the restock asked for is not made either.
    let (db, store) = TestDb::seeded().await;
    let before = store.stock(1).await.expect("stock");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new()).await;
    });
    let home_path = home.path().to_path_buf();
    let db_url = db.url.clone();
    let (out, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run(flashsale(&home_path)
            .args(["burst", "--target", &url, "--watchers", "5", "--json"])
            .args(["--database-url", &db_url, "--restock", "7"]))
    })
    .await
    .expect("burst");
    server.abort();
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("--watchers: the target offers no stock event stream"),
        "{stderr}"
    );
    assert_eq!(store.stock(1).await.expect("stock"), before, "no restock");
}
