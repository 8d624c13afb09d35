//! The benchmark commands run end to end on a tiny workload, so that BENCHMARKS.md's command
//! lines keep working; the figures themselves belong to `scripts/bench`, not to tests.

use crate::support::{TestDb, TestRedis, flashsale};

fn bench(db: &TestDb, args: &[&str]) -> String {
    let home = tempfile::tempdir().expect("tmp");
    let out = flashsale(home.path())
        .arg("bench")
        .args(args)
        .args(["--yes", "--database-url", &db.url])
        .output()
        .expect("run flashsale bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn bench_purchases_compares_with_pgbench_and_audits_each_run() {
    let (db, _store) = TestDb::seeded().await;
    let report = bench(
        &db,
        &[
            "purchases",
            "--purchases",
            "300",
            "--clients",
            "4",
            "--strategies",
            "batched,atomic",
        ],
    );
    assert!(report.contains("| 4 | pgbench one-statement |"), "{report}");
    assert_eq!(report.matches("audit OK").count(), 2, "{report}");
    assert!(report.contains("x |"), "a ratio against pgbench: {report}");
}

/// Real `flashsale burst` processes; each run's total is the database's and is audited in SQL.
#[tokio::test]
async fn bench_processes_runs_real_processes_and_audits_each_run_in_sql() {
    let (db, _store) = TestDb::seeded().await;
    let report = bench(
        &db,
        &[
            "processes",
            "--processes",
            "1,2",
            "--purchases",
            "200",
            "--clients",
            "4",
        ],
    );
    assert!(report.contains("| 1 | 4 | "), "{report}");
    assert!(report.contains("| 2 | 2 | "), "{report}");
    assert!(report.contains("| 1.00x |"), "the anchor: {report}");
    assert_eq!(report.matches("| OK |").count(), 2, "{report}");
}

/// Another process selling the product (a stock lease it keeps renewing) makes `bench
/// processes` refuse before it restocks anything: that process's orders would be counted as
/// the run's and the restock would drop its lease.
#[tokio::test]
async fn bench_processes_refuses_a_product_another_process_is_selling() {
    let (db, store) = TestDb::seeded().await;
    let stock_before = store.stock(1).await.expect("stock").expect("product 1");
    let mut conn = db.conn().await;
    let renew = "INSERT INTO stock_leases (product_id, holder, units, renewed_at)
                 VALUES (1, 'another-run', 0, CURRENT_TIMESTAMP)
                 ON CONFLICT (product_id, holder) DO UPDATE SET renewed_at = CURRENT_TIMESTAMP";
    sqlx::query(renew).execute(&mut conn).await.expect("lease");
    let keeper = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            sqlx::query(renew).execute(&mut conn).await.expect("renew");
        }
    });
    let home = tempfile::tempdir().expect("tmp");
    let mut cmd = flashsale(home.path());
    cmd.args([
        "bench",
        "processes",
        "--processes",
        "1",
        "--purchases",
        "20",
    ])
    .args(["--clients", "2", "--yes", "--database-url", &db.url]);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run flashsale bench"))
        .await
        .expect("bench");
    keeper.abort();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {stderr}");
    assert!(
        stderr.contains("product 1 is being sold by 1 other process") && stderr.contains("lease"),
        "says why: {stderr}"
    );
    assert_eq!(
        store.stock(1).await.expect("stock"),
        Some(stock_before),
        "nothing restocked"
    );
}

#[tokio::test]
async fn bench_http_runs_a_server_per_strategy_beside_pgbench() {
    let (db, _store) = TestDb::seeded().await;
    let report = bench(
        &db,
        &[
            "http",
            "--purchases",
            "200",
            "--clients",
            "4",
            "--strategies",
            "batched,row-lock",
        ],
    );
    assert!(report.contains("pgbench"), "{report}");
    assert!(
        report.contains("batched") && report.contains("row-lock"),
        "{report}"
    );
    assert!(report.contains("x |"), "a ratio against pgbench: {report}");
    // Each strategy in process first, the anchor of its HTTP row.
    for strategy in ["batched", "row-lock"] {
        let local = report
            .lines()
            .find(|l| l.contains("| in process |") && l.contains(&format!("| {strategy}, audit")))
            .unwrap_or_else(|| panic!("no in-process row for {strategy}: {report}"));
        assert!(local.contains("audit OK"), "{local}");
        let http = report
            .lines()
            .find(|l| l.contains("| HTTP |") && l.contains(&format!("server {strategy},")))
            .unwrap_or_else(|| panic!("no HTTP row for {strategy}: {report}"));
        assert!(http.contains("x in process"), "{http}");
    }
}

/// Keyed runs between two keyless ones, and their ratio over the four.
#[tokio::test]
async fn bench_http_idempotency_runs_keyless_keyed_keyed_keyless() {
    let (db, _store) = TestDb::seeded().await;
    let report = bench(
        &db,
        &[
            "http",
            "--purchases",
            "200",
            "--clients",
            "4",
            "--strategies",
            "batched",
            "--idempotency",
        ],
    );
    let runs: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("| 4 | HTTP |"))
        .collect();
    assert_eq!(runs.len(), 4, "{report}");
    assert!(runs[0].contains("in process"), "{report}");
    assert!(runs[1].contains("Idempotency-Key on each: "), "{report}");
    assert!(runs[2].contains("Idempotency-Key on each: "), "{report}");
    assert!(
        runs[3].contains("without a key again; keyed ")
            && runs[3].contains("x keyless over the four runs"),
        "{report}"
    );
    assert_eq!(
        report.matches("audit OK").count(),
        5,
        "the in-process row too: {report}"
    );
}

#[tokio::test]
async fn bench_http_mix_runs_purchases_and_reads_beside_the_floor() {
    let (db, _store) = TestDb::seeded().await;
    let report = bench(
        &db,
        &[
            "http",
            "--purchases",
            "200",
            "--clients",
            "4",
            "--strategies",
            "batched",
            "--mix",
            "80:20",
        ],
    );
    let floor = report
        .lines()
        .find(|l| l.contains("| HTTP floor (404) |"))
        .unwrap_or_else(|| panic!("no floor row: {report}"));
    let mix = report
        .lines()
        .find(|l| l.contains("| HTTP mix 80:20 |"))
        .unwrap_or_else(|| panic!("no mix row: {report}"));
    assert!(
        mix.contains("purchases/s (")
            && mix.contains("x in process) +")
            && mix.contains("% of the floor"),
        "{mix}"
    );
    assert!(
        !floor.contains("errors") && !mix.contains("errors"),
        "{report}"
    );
    let home = tempfile::tempdir().expect("tmp");
    let bad = flashsale(home.path())
        .args([
            "bench",
            "http",
            "--mix",
            "80-20",
            "--yes",
            "--database-url",
            &db.url,
        ])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("expected purchases:reads"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[tokio::test]
async fn bench_sold_out_and_stats_run() {
    let (db, _store) = TestDb::seeded().await;
    let report = bench(
        &db,
        &[
            "sold-out",
            "--purchases",
            "300",
            "--concurrency",
            "8",
            "--strategies",
            "batched",
        ],
    );
    assert!(report.contains("| batched |"), "{report}");
    let report = bench(
        &db,
        &["stats", "--orders", "1000,2000", "--new-per-refresh", "5"],
    );
    assert!(
        report.contains("| 1000 |") && report.contains("| 2000 |"),
        "{report}"
    );
}

#[tokio::test]
async fn bench_limiter_compares_with_redis_benchmark() {
    let (db, _store) = TestDb::seeded().await;
    let redis = TestRedis::new().await;
    let home = tempfile::tempdir().expect("tmp");
    let out = flashsale(home.path())
        .args([
            "bench",
            "limiter",
            "--checks",
            "2000",
            "--concurrency",
            "8",
            "--redis-url",
            &redis.url,
            "--database-url",
            &db.url,
        ])
        .output()
        .expect("run flashsale bench limiter");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("(the same concurrency) |"), "{stdout}");
    assert!(stdout.contains("(the same pipeline depth) |"), "{stdout}");
    assert_eq!(
        stdout.matches("% |").count(),
        2,
        "a share of each anchor: {stdout}"
    );
    assert!(stdout.contains("flashsale limiter check"), "{stdout}");
}
