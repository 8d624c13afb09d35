//! The binary as scripts use it: JSON shapes, exit codes, and one clear line for bad input.

use serde_json::Value;

use crate::support::bin::run;
use crate::support::json::keys;
use crate::support::{TestDb, TestSqlite, flashsale};

#[tokio::test]
async fn stock_and_stats_json_have_the_documented_shape_on_postgres() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let (out, stdout, stderr) = run(flashsale(home.path())
        .args(["stock", "--json"])
        .env("DATABASE_URL", &db.url));
    assert!(out.status.success(), "{stderr}");
    let stock: Value = serde_json::from_str(&stdout).expect("stock JSON");
    let items = stock.as_array().expect("array");
    assert_eq!(items.len(), 5);
    assert_eq!(keys(&items[0]), ["id", "name", "price", "stock"]);
    assert_eq!(items[0]["name"], "Laptop Pro 15");
    assert_eq!(items[0]["price"], 1299.99);
    assert_eq!(items[0]["stock"], 100);

    let (out, stdout, stderr) =
        run(flashsale(home.path()).args(["stats", "--json", "--database-url", &db.url]));
    assert!(out.status.success(), "{stderr}");
    let stats: Value = serde_json::from_str(&stdout).expect("stats JSON");
    assert_eq!(
        keys(&stats),
        [
            "revenueByDay",
            "topProducts",
            "totalRevenue",
            "totalUnitsSold"
        ]
    );
    assert_eq!(stats["totalUnitsSold"], 14);
    assert_eq!(stats["totalRevenue"], 3819.86);
    let top = stats["topProducts"].as_array().expect("top");
    assert_eq!(top.len(), 3);
    assert_eq!(keys(&top[0]), ["id", "name", "totalSold"]);
    let days = stats["revenueByDay"].as_array().expect("days");
    assert_eq!(days.len(), 7);
    assert_eq!(keys(&days[0]), ["date", "revenue"]);
}

#[tokio::test]
async fn buy_json_reports_the_order_and_exit_codes_tell_outcomes_apart() {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(4, 1).await.expect("restock");
    let home = tempfile::tempdir().expect("tmp");
    let buy = |user: &str| {
        run(flashsale(home.path())
            .args(["buy", "--product", "4", "--user", user, "--json"])
            .env("DATABASE_URL", &db.url))
    };
    let (out, stdout, stderr) = buy("cli_user_1");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let receipt: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(receipt["success"], true);
    assert_eq!(receipt["order"]["productName"], "4K Monitor");
    assert_eq!(receipt["order"]["remainingStock"], 0);
    assert_eq!(receipt["order"]["totalPrice"], 449.99);

    let (out, stdout, _) = buy("cli_user_2");
    assert_eq!(out.status.code(), Some(3), "sold out is not a purchase");
    let receipt: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(receipt["outcome"], "sold_out");
    assert_eq!(receipt["message"], "Out of stock");
}

/// `naive` is labelled unsafe wherever it is shown or accepted, whatever its outcome.
#[test]
fn the_naive_strategy_is_called_unsafe_by_buy_and_config() {
    let home = tempfile::tempdir().expect("tmp");
    let buy = |product: &str, user: &str| {
        run(flashsale(home.path()).args([
            "buy",
            "--product",
            product,
            "--user",
            user,
            "--strategy",
            "naive",
            "--json",
        ]))
    };
    let (out, stdout, stderr) = buy("2", "naive_buyer");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let receipt: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(receipt["strategy"], "naive");
    assert_eq!(receipt["unsafe"], true);
    assert!(stderr.contains("naive is UNSAFE"), "{stderr}");

    // Not bought (no such product): still warned.
    let (out, stdout, stderr) = buy("999", "naive_buyer_2");
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let receipt: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(receipt["unsafe"], true);
    assert!(stderr.contains("naive is UNSAFE"), "{stderr}");

    // A safe strategy says which it was, and nothing about safety.
    let (out, stdout, stderr) = run(flashsale(home.path()).args([
        "buy",
        "--product",
        "2",
        "--user",
        "safe_buyer",
        "--json",
    ]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let receipt: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(receipt["strategy"], "batched");
    assert!(receipt.get("unsafe").is_none(), "{receipt}");
    assert!(!stderr.contains("UNSAFE"), "{stderr}");

    let (out, stdout, stderr) = run(flashsale(home.path())
        .args(["config", "--json"])
        .env("FLASHSALE_STRATEGY", "naive"));
    assert!(out.status.success(), "{stderr}");
    let cfg: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(cfg["strategy"]["value"], "naive (UNSAFE: oversells)");
}

#[tokio::test]
async fn buy_on_the_embedded_default_needs_no_setup() {
    let home = tempfile::tempdir().expect("tmp");
    let (out, stdout, stderr) =
        run(flashsale(home.path()).args(["buy", "--product", "2", "--user", "newcomer", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let receipt: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(receipt["order"]["remainingStock"], 24);
    assert!(home.path().join("data/flashsale.db").exists());
}

#[test]
fn malformed_values_give_one_line_naming_the_key() {
    let home = tempfile::tempdir().expect("tmp");
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        (&["stock", "--db-pool-max", "0"], &[], "--db-pool-max"),
        (
            &["stock"],
            &[("RATE_LIMIT_WINDOW_MS", "soon")],
            "RATE_LIMIT_WINDOW_MS",
        ),
        (
            &["stock"],
            &[("DATABASE_URL", "mysql://root:hunter2@h/db")],
            "DATABASE_URL",
        ),
        (&["stock", "--redis-url", "http://x"], &[], "--redis-url"),
        (
            &["buy", "--product", "1", "--user", "u", "--strategy", "yolo"],
            &[],
            "--strategy",
        ),
    ];
    for (args, env, needle) in cases {
        let mut cmd = flashsale(home.path());
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (out, stdout, stderr) = run(&mut cmd);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?} printed {stdout}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "password leaked: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn config_file_errors_name_file_line_and_key() {
    let home = tempfile::tempdir().expect("tmp");
    let config = home.path().join("config");
    std::fs::create_dir_all(&config).expect("mkdir");
    std::fs::write(
        config.join("config.toml"),
        "max_quantity = 5\ndb_pool_max = \"many\"\n",
    )
    .expect("write");
    let (out, _, stderr) = run(flashsale(home.path()).arg("stock"));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("config.toml:2"), "{stderr}");
    assert!(stderr.contains("db_pool_max"), "{stderr}");
}

#[test]
fn env_beats_the_config_file_and_flags_beat_env() {
    let home = tempfile::tempdir().expect("tmp");
    let config = home.path().join("config");
    std::fs::create_dir_all(&config).expect("mkdir");
    std::fs::write(
        config.join("config.toml"),
        "max_quantity = 5\nrate_limit_user_max = 7\n",
    )
    .expect("write");
    let (out, stdout, stderr) = run(flashsale(home.path())
        .args(["config", "--json", "--rate-limit-user-max", "9"])
        .env("MAX_QUANTITY", "6"));
    assert!(out.status.success(), "{stderr}");
    let cfg: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(cfg["max_quantity"]["value"], 6);
    assert_eq!(
        cfg["max_quantity"]["from"],
        "environment variable MAX_QUANTITY"
    );
    assert_eq!(cfg["rate_limit_user_max"]["value"], 9);
    assert_eq!(cfg["rate_limit_user_max"]["from"], "--rate-limit-user-max");
}

#[tokio::test]
async fn db_reset_of_postgres_needs_yes() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let (out, _, stderr) = run(flashsale(home.path())
        .args(["db", "reset"])
        .env("DATABASE_URL", &db.url));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("--yes"), "{stderr}");
    let (out, stdout, stderr) = run(flashsale(home.path())
        .args(["db", "reset", "--yes"])
        .env("DATABASE_URL", &db.url));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("5 products"), "{stdout}");
}

#[tokio::test]
async fn db_init_then_seed_on_an_empty_postgres_database() {
    let db = TestDb::empty().await;
    let home = tempfile::tempdir().expect("tmp");
    let (out, _, stderr) = run(flashsale(home.path())
        .args(["stock"])
        .env("DATABASE_URL", &db.url));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("db init"),
        "a missing schema says how to fix it: {stderr}"
    );
    for (args, expect) in [
        (["db", "init"], "migrated"),
        (["db", "seed"], "5 products"),
        (["db", "seed"], "already"),
    ] {
        let (out, stdout, stderr) = run(flashsale(home.path())
            .args(args)
            .env("DATABASE_URL", &db.url));
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(stdout.contains(expect), "{args:?}: {stdout}");
    }
}

#[test]
fn db_reset_of_an_explicit_sqlite_file_needs_yes_too() {
    let home = tempfile::tempdir().expect("tmp");
    let lite = TestSqlite {
        dir: tempfile::tempdir().expect("tmp"),
    };
    let url = format!("sqlite://{}", lite.path().display());
    let (out, _, stderr) =
        run(flashsale(home.path()).args(["db", "reset", "--database-url", &url]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let (out, _, stderr) = run(flashsale(home.path()).args(["db", "reset"]));
    assert!(
        out.status.success(),
        "the embedded default resets without --yes: {stderr}"
    );
}

#[tokio::test]
async fn unreachable_postgres_is_one_clear_error_with_the_password_masked() {
    let home = tempfile::tempdir().expect("tmp");
    let (out, stdout, stderr) = run(flashsale(home.path())
        .args(["stock", "--db-acquire-timeout-ms", "500"])
        .env("DATABASE_URL", "postgres://app:s3cr3t@127.0.0.1:1/sale"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.is_empty());
    assert!(stderr.starts_with("flashsale: error:"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
}

#[test]
fn out_of_range_burst_flags_give_one_line_and_a_usage_exit() {
    let home = tempfile::tempdir().expect("tmp");
    let cases: [&[&str]; 9] = [
        &["burst", "--concurrency", "0"],
        &["burst", "--buyers", "-1"],
        &["burst", "--buyers", "99999999999"],
        &["burst", "--quantity", "5..1"],
        &["burst", "--quantity", "zero"],
        &["burst", "--rate", "0"],
        &["burst", "--phases", "fast"],
        &["burst", "--product", "1:x"],
        &["burst", "--target", "ftp://example"],
    ];
    for args in cases {
        let (out, stdout, stderr) = run(flashsale(home.path()).args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            !lines.is_empty() && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
        assert!(lines[0].contains("error"), "{args:?}: {stderr}");
    }
}

#[test]
fn passwords_never_reach_the_log_file() {
    let home = tempfile::tempdir().expect("tmp");
    let (out, _, stderr) = run(flashsale(home.path())
        .args([
            "buy",
            "--product",
            "1",
            "--user",
            "u",
            "--db-acquire-timeout-ms",
            "300",
        ])
        .env("DATABASE_URL", "postgres://app:pg-s3cret@127.0.0.1:1/sale")
        .env("REDIS_URL", "redis://:redis-s3cret@127.0.0.1:1")
        .env("FLASHSALE_LOG", "debug"));
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    let log = std::fs::read_to_string(home.path().join("state/flashsale.log"))
        .expect("a log was written");
    assert!(
        log.contains("postgres://app:***@127.0.0.1:1/sale"),
        "the log names the database, masked: {log}"
    );
    for secret in ["pg-s3cret", "redis-s3cret"] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
        assert!(!stderr.contains(secret), "{secret} leaked to stderr");
    }
}
