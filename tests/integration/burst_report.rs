//! `flashsale burst --report FILE` (issue 17 item 7): the report written to a file is the
//! object `--json` prints, byte for byte; a FILE that cannot be written is refused before any
//! purchase is made (exit 2, naming it), so a typo costs no stock.

use sqlx::Connection;

use crate::support::{TestDb, flashsale};

async fn orders(db: &TestDb) -> i64 {
    let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&mut c)
        .await
        .expect("count")
}

#[tokio::test]
async fn the_report_file_holds_exactly_what_json_prints() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let file = home.path().join("reports").join("storm.json");
    std::fs::create_dir_all(file.parent().expect("parent")).expect("dir");
    let before = orders(&db).await;
    let out = flashsale(home.path())
        .args([
            "burst",
            "--json",
            "--no-rate-limit",
            "--database-url",
            &db.url,
        ])
        .args(["--product", "2", "--buyers", "30", "--concurrency", "8"])
        .arg("--report")
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&file).expect("the report file");
    assert_eq!(
        written,
        String::from_utf8_lossy(&out.stdout),
        "the --json shape"
    );
    let v: serde_json::Value = serde_json::from_str(&written).expect("JSON");
    assert_eq!(v["attempts"], 30);
    assert_eq!(v["purchased"].as_i64(), Some(orders(&db).await - before));
    assert_eq!(v["audit"]["ok"], true, "{v}");
    let names: Vec<_> = std::fs::read_dir(file.parent().expect("parent"))
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["storm.json"], "no temporary file left");
}

#[tokio::test]
async fn a_report_path_that_cannot_be_written_exits_2_before_any_purchase() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let before = orders(&db).await;
    let missing = home.path().join("no-such-dir").join("r.json");
    for bad in [missing, home.path().to_path_buf()] {
        let out = flashsale(home.path())
            .args(["burst", "--no-rate-limit", "--database-url", &db.url])
            .args(["--product", "2", "--buyers", "20", "--restock", "50"])
            .arg("--report")
            .arg(&bad)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--report") && stderr.contains(&bad.display().to_string()),
            "names the path: {stderr}"
        );
    }
    assert_eq!(orders(&db).await, before, "no order was made");
}
