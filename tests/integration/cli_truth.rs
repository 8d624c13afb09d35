//! Issue 16 on the command line: every connection failure named for its class, with the exit
//! codes the README documents (0 ok, 1 runtime, 2 usage, 3 not purchased, 4 audit failed), and
//! nothing created or seeded by a command that only reads.

use serde_json::Value;

use crate::support::bin::run;
use crate::support::redis_server::free_port;
use crate::support::{TestDb, TestRedis, flashsale};

const REFUSED: &str = "database unreachable: connection refused by 127.0.0.1:1: nothing listens \
                       there (is the server running, is the port right?)";

/// `flashsale ARGS` against `url`: exit code, stdout, stderr.
fn launch(home: &std::path::Path, url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let (out, stdout, stderr) = run(flashsale(home).args(args).env("DATABASE_URL", url));
    (out.status.code(), stdout, stderr)
}

#[test]
fn connection_refused_is_named_so_by_every_command_and_exits_1() {
    let home = tempfile::tempdir().expect("tmp");
    let url = "postgres://postgres@127.0.0.1:1/x";
    for args in [&["stock"][..], &["stats"], &["stats", "--json"]] {
        let (code, stdout, stderr) = launch(home.path(), url, args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr, format!("flashsale: error: {REFUSED}\n"), "{args:?}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    let (code, stdout, stderr) =
        launch(home.path(), url, &["buy", "--product", "1", "--user", "u"]);
    assert_eq!(
        code,
        Some(1),
        "a purchase that failed is a runtime error: {stderr}"
    );
    assert_eq!(stdout, format!("failed: {REFUSED}\n"));
    let (code, stdout, _) = launch(
        home.path(),
        url,
        &["buy", "--product", "1", "--user", "u", "--json"],
    );
    assert_eq!(code, Some(1));
    let receipt: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(receipt["outcome"], "failed");
    assert_eq!(receipt["message"], format!("Purchase failed: {REFUSED}"));
}

#[test]
fn unknown_role_host_and_database_each_have_their_own_words() {
    let home = tempfile::tempdir().expect("tmp");
    let cases = [
        (
            "postgres://no_such_role_16@127.0.0.1:5432/postgres",
            "database unreachable: authentication failed at 127.0.0.1:5432: the role (user) in \
             the URL does not exist",
        ),
        (
            "postgres://postgres@no-such-host.invalid:5432/postgres",
            "database unreachable: unknown host no-such-host.invalid: the name does not resolve",
        ),
        (
            "postgres://postgres@127.0.0.1:5432/no_such_database_16",
            "database unreachable: database \"no_such_database_16\" does not exist on \
             127.0.0.1:5432",
        ),
    ];
    for (url, words) in cases {
        let (code, _, stderr) = launch(home.path(), url, &["stock"]);
        assert_eq!(code, Some(1), "{url}: {stderr}");
        assert_eq!(stderr, format!("flashsale: error: {words}\n"), "{url}");
    }
}

#[tokio::test]
async fn a_too_short_acquire_timeout_on_a_healthy_server_is_busy_not_unreachable() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    // No PostgreSQL connection (fork, startup, the session query) is ready within 1 ms.
    let (code, _, stderr) = launch(
        home.path(),
        &db.url,
        &["stock", "--db-acquire-timeout-ms", "1"],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "flashsale: error: database busy: the server answers, but no connection was ready within \
         the 1 ms acquire timeout (connecting takes longer: raise --db-acquire-timeout-ms)\n"
    );
    let (code, stdout, stderr) = launch(
        home.path(),
        &db.url,
        &[
            "buy",
            "--product",
            "1",
            "--user",
            "u",
            "--db-acquire-timeout-ms",
            "1",
        ],
    );
    assert_eq!(code, Some(3), "busy is not purchased, not broken: {stderr}");
    assert!(stdout.starts_with("busy: "), "{stdout}");
}

#[tokio::test]
async fn a_redis_that_refuses_or_has_no_such_db_is_said_on_stderr_in_text_mode() {
    let (db, _store) = TestDb::seeded().await;
    let redis = TestRedis::new().await;
    let home = tempfile::tempdir().expect("tmp");
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let db99 = format!("{}/99", redis.url.trim_end_matches('/'));
    let cases = [
        (
            dead.as_str(),
            "Redis refused the connection: nothing listens at its address (is redis-server \
             running?)",
        ),
        (
            db99.as_str(),
            "Redis answered ERR DB index is out of range (the database number in the Redis URL \
             does not exist on this server)",
        ),
    ];
    for (i, (redis_url, words)) in cases.into_iter().enumerate() {
        let user = format!("redis_down_{i}");
        let (out, stdout, stderr) = run(flashsale(home.path())
            .args(["buy", "--product", "1", "--user", &user])
            .env("DATABASE_URL", &db.url)
            .env("REDIS_URL", redis_url)
            .env("RATE_LIMIT_PREFIX", &redis.prefix));
        assert_eq!(out.status.code(), Some(0), "fail-open sells: {stderr}");
        assert!(stdout.starts_with("purchased: "), "{stdout}");
        assert_eq!(
            stderr,
            format!(
                "flashsale: warning: rate limits not checked ({words}): the purchase went \
                 ahead under the fail-open policy\n"
            )
        );
    }
}

#[tokio::test]
async fn the_in_process_limiter_says_its_counts_are_per_process() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    for _ in 0..2 {
        let (code, stdout, stderr) = launch(
            home.path(),
            &db.url,
            &["buy", "--product", "1", "--user", "same_user", "--json"],
        );
        assert_eq!(code, Some(0), "{stderr}");
        let receipt: Value = serde_json::from_str(&stdout).expect("JSON");
        // The second process starts from a full window: the note says why.
        assert_eq!(receipt["rateLimit"]["userRemaining"], 4, "{receipt}");
        assert_eq!(
            receipt["limiterNote"],
            "rate limits counted in this process only (no REDIS_URL): every flashsale buy \
             starts with full limits; set REDIS_URL to share them"
        );
    }
}

#[test]
fn a_burst_at_a_server_that_is_not_there_exits_1_with_the_reason() {
    let home = tempfile::tempdir().expect("tmp");
    let target = format!("http://127.0.0.1:{}", free_port());
    let (out, stdout, stderr) = run(
        flashsale(home.path()).args(["burst", "--target", &target, "--buyers", "50", "--json"])
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let r: Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(r["failed"], 50, "{r}");
    assert_eq!(r["attempts"], 50, "{r}");
    assert_eq!(r["planned"], 50, "{r}");
    let reason = format!(
        "connection refused by {}: nothing listens there (is the server running, is the port \
         right?)",
        target.trim_start_matches("http://")
    );
    assert_eq!(
        r["errorReasons"],
        serde_json::json!([{ "reason": reason, "count": 50 }]),
        "{r}"
    );

    let (out, stdout, _) =
        run(flashsale(home.path()).args(["burst", "--target", &target, "--buyers", "50"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(!stdout.contains("every purchase ran"), "{stdout}");
    assert!(
        stdout.contains("every one of the 50 purchases that ran was busy or failed"),
        "{stdout}"
    );
    assert!(stdout.contains("no purchase went through"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "why purchases were busy or failed\n         50  {reason}\n"
        )),
        "{stdout}"
    );
}

#[test]
fn reading_an_sqlite_path_that_does_not_exist_creates_nothing() {
    let home = tempfile::tempdir().expect("tmp");
    let missing_dir = home.path().join("no/such/dir");
    let url = format!("sqlite://{}/x.db", missing_dir.display());
    for args in [&["stock"][..], &["stats", "--json"]] {
        let (code, stdout, stderr) = launch(home.path(), &url, args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert_eq!(
            stderr,
            format!(
                "flashsale: error: database error: no SQLite database at {}/x.db (not created: \
                 this command only reads)\n",
                missing_dir.display()
            )
        );
    }
    // A write names the missing directory instead of creating it.
    let (code, _, stderr) = launch(home.path(), &url, &["buy", "--product", "1", "--user", "u"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the directory {} does not exist",
            missing_dir.display()
        )),
        "{stderr}"
    );
    assert!(!home.path().join("no").exists(), "no directory was created");
    // In a directory that exists, a read still invents no database.
    let file = home.path().join("absent.db");
    let (code, _, _) = launch(
        home.path(),
        &format!("sqlite://{}", file.display()),
        &["stock"],
    );
    assert_eq!(code, Some(1));
    assert!(!file.exists(), "no file was created");
}

#[tokio::test]
async fn invalid_input_is_usage_and_negative_numbers_reach_the_validators() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let (code, stdout, stderr) = launch(
        home.path(),
        &db.url,
        &["buy", "--product", "1", "--user", "u", "--quantity", "-3"],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stdout,
        "invalid: quantity must be a whole number from 1 to 10 (got -3)\n"
    );
    let cases: [(&[&str], &str); 3] = [
        (
            &["burst", "--buyers", "-5"],
            "error: invalid value '-5' for '--buyers <BUYERS>': -5 is not in 1..=10000000\n",
        ),
        (
            &["stock", "--db-pool-max", "-5"],
            "flashsale: error: --db-pool-max: invalid value '-5': out of range: expected 1 to \
             10000\n",
        ),
        (
            &["dashboard", "--once", "--refresh", "2m"],
            "error: invalid value '2m' for '--refresh <PERIOD>': '2m': expected one of 250ms, \
             500ms, 1s, 2s, 5s, 10s\n",
        ),
    ];
    for (args, first_line) in cases {
        let (code, _, stderr) = launch(home.path(), &db.url, args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        let first = stderr.split_inclusive('\n').next().unwrap_or_default();
        assert_eq!(first, first_line, "{args:?}");
    }
}

#[test]
fn a_dashboard_snapshot_of_a_refused_database_has_it_as_the_first_critical_alert() {
    let home = tempfile::tempdir().expect("tmp");
    let (code, stdout, stderr) = launch(
        home.path(),
        "postgres://postgres@127.0.0.1:1/x",
        &[
            "dashboard",
            "--once",
            "--json",
            "--db-acquire-timeout-ms",
            "300",
        ],
    );
    assert_eq!(code, Some(1), "a source failed: {stderr}");
    let v: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        v["alerts"][0],
        serde_json::json!({ "key": "database-down", "severity": "critical", "message": REFUSED }),
        "{v}"
    );
}

/// Item 17: only `completed` orders count, in the SQL statistics (`stats`), in the dashboard's
/// baseline and in its incremental tally alike. One order refunded before the baseline, one
/// inserted as refunded after it: both are left out of every figure.
#[tokio::test]
async fn only_completed_orders_count_in_stats_and_in_the_dashboards_tally() {
    use chrono::Utc;
    use flashsale_monitor::SalesTally;
    use flashsale_monitor::sales::{BATCH, GAP_WINDOW};
    use std::time::Instant;

    let (db, store) = TestDb::seeded().await;
    let since = Utc::now().date_naive() - chrono::Days::new(6);
    let before = store.stats().await.expect("stats");
    let mut conn = db.conn().await;
    // The newest laptop order (product 1), refunded.
    let (id, quantity, cents): (i64, i32, i64) = sqlx::query_as(
        "SELECT id::int8, quantity, (total_price * 100)::int8 FROM orders
         WHERE product_id = 1 ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&mut conn)
    .await
    .expect("a laptop order");
    sqlx::query("UPDATE orders SET status = 'refunded' WHERE id = $1")
        .bind(id)
        .execute(&mut conn)
        .await
        .expect("refund");
    let after = store.stats().await.expect("stats");
    assert_eq!(
        after.total_units_sold,
        before.total_units_sold - i64::from(quantity)
    );
    assert_eq!(
        after.total_revenue.cents(),
        before.total_revenue.cents() - cents
    );

    let baseline = store
        .sales_baseline(since, GAP_WINDOW)
        .await
        .expect("baseline");
    let mut tally = SalesTally::from_baseline(&baseline, Instant::now());
    // After the baseline: a refunded order (not counted) and a completed one (counted).
    sqlx::query(
        "INSERT INTO orders (user_id, product_id, quantity, total_price, status)
         VALUES ('refunded_later', 2, 3, 89.97, 'refunded'),
                ('completed_later', 2, 1, 29.99, 'completed')",
    )
    .execute(&mut conn)
    .await
    .expect("insert");
    let rows = store
        .orders_since(tally.high(), &tally.missing(), BATCH)
        .await
        .expect("orders_since");
    tally.apply(&rows, Instant::now());
    let snap = tally.snapshot(Instant::now(), Utc::now().date_naive());
    let full = store.stats().await.expect("stats");
    assert_eq!(full.total_units_sold, after.total_units_sold + 1);
    assert_eq!(snap.total_units_sold, full.total_units_sold);
    assert_eq!(snap.total_revenue, full.total_revenue);
    let tally_days: Vec<_> = snap.revenue_by_day.iter().map(|d| d.revenue).collect();
    let sql_days: Vec<_> = full.revenue_by_day.iter().map(|d| d.revenue).collect();
    assert_eq!(tally_days, sql_days);
    // Product 2's units as the tally has them equal the completed orders' sum in SQL.
    let (units_2,): (i64,) = sqlx::query_as(
        "SELECT COALESCE(SUM(quantity), 0)::int8 FROM orders
         WHERE product_id = 2 AND status = 'completed'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("sum");
    let tallied_2 = snap
        .products
        .iter()
        .find(|p| p.product_id == 2)
        .map(|p| p.units);
    assert_eq!(tallied_2, Some(units_2));
    let _ = sqlx::Connection::close(conn).await;
}

/// Item 16: `config --check` names every problem (a `[keys]` typo, a bad `[alerts]` entry, a
/// broken theme file nobody uses) with its file and line and exits 2; `config` shows the
/// sections and is not 0 either; `dashboard --once --json` still prints its snapshot.
#[test]
fn config_check_names_every_problem_and_once_json_is_not_stopped_by_unused_ones() {
    let home = tempfile::tempdir().expect("tmp");
    let config = home.path().join("config");
    std::fs::create_dir_all(config.join("themes")).expect("dirs");
    std::fs::write(
        config.join("config.toml"),
        "[alerts]\nredis_ping_ms = 80\n\n[keys]\nfirre = [\"b\"]\n",
    )
    .expect("config");
    std::fs::write(config.join("themes/broken.toml"), "this is = = broken\n").expect("theme");
    let file = config.join("config.toml").display().to_string();
    let theme = config.join("themes/broken.toml").display().to_string();

    let (out, stdout, stderr) = run(flashsale(home.path()).args(["config", "--check"]));
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    // Every action the keymap binds, in its order: the list grows with the dashboard's keys.
    let known: Vec<&str> = flashsale_dashboard::keymap::BINDINGS
        .iter()
        .map(|b| b.name)
        .collect();
    let known = known.join(", ");
    assert!(known.starts_with("quit, help, ") && known.ends_with(", confirm, deny"));
    assert_eq!(
        stderr,
        format!(
            "flashsale: error: {file}:5:1: key 'keys.firre': unknown action (known actions: \
             {known})\n\
             flashsale: error: {theme}:1: key 'this is': key with no value, expected `=`\n"
        )
    );

    let (out, stdout, _) = run(flashsale(home.path()).args(["config", "--json"]));
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(v["alerts.redis_ping_ms"]["value"], 80, "typed: {v}");
    assert_eq!(v["alerts.redis_ping_ms"]["from"], format!("{file}:2"));
    assert_eq!(v["keys.firre"]["value"], "[\"b\"]");
    assert_eq!(v["db_pool_max"]["value"], 20, "numbers are numbers: {v}");
    assert_eq!(v["redis_url"]["value"], Value::Null, "none is null: {v}");

    let (out, stdout, stderr) = run(flashsale(home.path()).args(["dashboard", "--once", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).expect("the snapshot");
    assert_eq!(v["thresholds"]["redisPingMs"], 80.0);
    assert!(stderr.starts_with("flashsale: warning: "), "{stderr}");

    // Fixed, the check passes.
    std::fs::write(config.join("config.toml"), "[keys]\nfire = [\"b\"]\n").expect("config");
    std::fs::remove_file(config.join("themes/broken.toml")).expect("rm");
    let (out, stdout, stderr) = run(flashsale(home.path()).args(["config", "--check"]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stdout,
        "config ok: settings, [keys], [alerts] and theme files\n"
    );
}

/// Item 18: a subcommand's `--help` lists its own options, not the ~25 global ones again;
/// those are still accepted after it, and `flashsale --help` lists them.
#[test]
fn subcommand_help_names_its_own_options_and_points_to_the_global_ones() {
    let home = tempfile::tempdir().expect("tmp");
    let (out, stdout, _) = run(flashsale(home.path()).args(["stock", "--help"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("--json"), "{stdout}");
    for global in ["--database-url", "--db-pool-max", "--rate-limit-user-max"] {
        assert!(
            !stdout.contains(&format!("{global} <")),
            "{global} in: {stdout}"
        );
    }
    assert!(
        stdout.trim_end().ends_with(
            "Global options (--database-url, --redis-url, --config, --read-only, pool, rate-limit \
             and server settings) are accepted here too; `flashsale --help` lists them."
        ),
        "{stdout}"
    );
    let (_, root, _) = run(flashsale(home.path()).args(["--help"]));
    assert!(root.contains("--db-pool-max <N>"), "{root}");
}
