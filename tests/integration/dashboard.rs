//! The real binary on a real terminal (tmux): a burst fired with keys and its audit verdict
//! read off the screen, and the terminal given back (cooked mode, echo, main screen, cursor)
//! after `q`, Ctrl-C, SIGTERM and a panic. Plus the headless faces: `--once --json` and the
//! refusal of a broken `[keys]` table or theme before the screen is touched.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::json::assert_camel_case;
use crate::support::terminal::{START, Tmux, assert_restored};
use crate::support::{TestDb, TestRedis, flashsale};

#[test]
fn a_burst_fired_with_keys_shows_its_audit_verdict_and_q_restores_the_terminal() {
    let t = Tmux::start(&["dashboard", "--naive-delay-ms", "40"], &[], 100, 30);
    t.wait_for("Laptop Pro 15", START);
    assert_eq!(
        t.format("#{alternate_on}"),
        "1",
        "the dashboard uses the alternate screen"
    );
    // 40 buyers, all at once, on a product restocked to 5.
    t.keys(&["e", "C-u"]);
    t.literal("40");
    t.keys(&["Down", "C-u"]);
    t.literal("40");
    for _ in 0..4 {
        t.keys(&["Down"]);
    }
    t.keys(&["C-u"]);
    t.literal("5");
    t.keys(&["Enter"]);
    t.wait_for("burst parameters set", Duration::from_secs(5));
    t.keys(&["r"]);
    t.wait_for("Restock", Duration::from_secs(5));
    t.keys(&["y"]);
    t.wait_for("restocked product 1 to 5", Duration::from_secs(10));
    // Every database asks first, the embedded one too.
    t.keys(&["b"]);
    t.wait_for("Fire a burst?", Duration::from_secs(5));
    t.keys(&["y"]);
    let s = t.wait_for("AUDIT OK", Duration::from_secs(30));
    assert!(s.contains("bought 5"), "five units for five buyers:\n{s}");

    // The unsafe strategy, on the same stock: the audit catches the oversell.
    t.keys(&["r", "y"]);
    t.wait_for("restocked product 1 to 5", Duration::from_secs(10));
    // batched (the default) -> atomic -> row-lock -> naive
    t.keys(&["s", "s", "s"]);
    t.wait_for("naive UNSAFE", Duration::from_secs(5));
    // Every database asks first, the embedded one too.
    t.keys(&["b"]);
    t.wait_for("Fire a burst?", Duration::from_secs(5));
    t.keys(&["y"]);
    let s = t.wait_for("OVERSOLD by", Duration::from_secs(30));
    assert!(s.contains("ERROR burst finished: OVERSOLD"), "{s}");

    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}

#[test]
fn quitting_during_a_burst_cancels_it_and_logs_its_audit_before_exiting() {
    let t = Tmux::start(&["dashboard", "--naive-delay-ms", "40"], &[], 80, 24);
    t.wait_for("Laptop Pro 15", START);
    // naive, slowed down, with enough buyers to keep it running for seconds.
    t.keys(&["e", "C-u"]);
    t.literal("5000");
    t.keys(&["Enter"]);
    t.wait_for("burst parameters set", Duration::from_secs(5));
    t.keys(&["s", "s", "s"]);
    t.wait_for("naive UNSAFE", Duration::from_secs(5));
    // Every database asks first, the embedded one too.
    t.keys(&["b"]);
    t.wait_for("Fire a burst?", Duration::from_secs(5));
    t.keys(&["y"]);
    t.wait_for("then audit", Duration::from_secs(10));
    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
    let log = std::fs::read_to_string(t.path("state/flashsale.log")).expect("log");
    // The audit ran after the cancel, before the exit.
    assert!(log.contains("burst finished: "), "{log}");
}

#[test]
fn ctrl_c_quits_and_restores_the_terminal() {
    let t = Tmux::start(&["dashboard"], &[], 80, 24);
    t.wait_for("Laptop Pro", START);
    t.keys(&["C-c"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}

/// Item 13: the terminal going away (the tmux session killed: SIGHUP, then writes to a dead
/// terminal fail with EIO) ends the dashboard cleanly: no panic, no abort, within seconds.
#[test]
fn a_killed_terminal_ends_the_dashboard_without_a_panic() {
    let t = Tmux::start(&["dashboard"], &[], 80, 24);
    t.wait_for("Laptop Pro", START);
    let pid = t.dashboard_pid();
    let killed = t.tmux().arg("kill-server").status().expect("tmux");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the dashboard is still running after its terminal went away"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(t.path("state/flashsale.log")).unwrap_or_default();
    assert!(log.contains("dashboard"), "the log was written: {log}");
    assert!(!log.contains("panic"), "no panic: {log}");
}

#[test]
fn sigterm_restores_the_terminal() {
    let t = Tmux::start(&["dashboard"], &[], 80, 24);
    t.wait_for("Laptop Pro", START);
    let pid = t.dashboard_pid();
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=143");
    assert_restored(&t, &stty);
}

#[test]
fn a_panic_restores_the_terminal_before_reporting() {
    let t = Tmux::start(
        &["dashboard"],
        &[("FLASHSALE_DASHBOARD_TEST_PANIC", "1")],
        80,
        24,
    );
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=101");
    assert_restored(&t, &stty);
    let s = t.screen();
    assert!(
        s.contains("forced panic"),
        "the report is printed on the normal screen:\n{s}"
    );
}

#[test]
fn a_database_that_is_down_is_shown_not_fatal() {
    let t = Tmux::start(
        &["dashboard"],
        &[
            ("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:9/sale"),
            ("DB_ACQUIRE_TIMEOUT", "300"),
        ],
        80,
        24,
    );
    let s = t.wait_for("retrying in 2s", START);
    assert!(s.contains("database unreachable"), "{s}");
    assert!(!s.contains("hunter2"), "the password is masked:\n{s}");
    t.keys(&["?"]);
    t.wait_for("Keys", Duration::from_secs(5));
    t.keys(&["Escape", "q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}

#[test]
fn once_json_has_every_panes_data_on_the_embedded_database() {
    let home = tempfile::tempdir().expect("tmp");
    let out = flashsale(home.path())
        .args(["dashboard", "--once", "--json"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for key in [
        "takenAt",
        "database",
        "backend",
        "stock",
        "sales",
        "pool",
        "redis",
        "redisUrl",
        "alerts",
        "errors",
        "rateLimit",
        "thresholds",
        "burst",
        "events",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_camel_case(&v);
    assert_eq!(v["backend"], "sqlite");
    assert_eq!(v["stock"].as_array().map(Vec::len), Some(5));
    assert_eq!(v["sales"]["totalUnitsSold"], 14);
    assert_eq!(v["sales"]["revenueByDay"].as_array().map(Vec::len), Some(7));
    assert!(v["redis"].is_null(), "no Redis configured");
    assert_eq!(v["pool"]["backend"], "sqlite");
    assert!(v["pool"]["acquire"]["p50Ms"].is_number(), "{v}");
    // The burst `b` would fire: the first product, the default parameters.
    assert_eq!(
        v["burst"],
        serde_json::json!({
            "product": {"id": 1, "name": "Laptop Pro 15"},
            "buyers": 200,
            "concurrency": 32,
            "quantity": {"min": 1, "max": 1},
            "strategy": "batched",
            "strategyFrom": "dashboard",
            "unsafe": false,
            "ipSpread": 200,
            "restockTo": 100,
        })
    );
    let events = v["events"].as_array().expect("events");
    assert_eq!(events[0]["level"], "ok", "{v}");
    assert!(
        events[0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("connected to ")),
        "{v}"
    );
    // Without a terminal, `dashboard` prints the same snapshot.
    let out = flashsale(home.path())
        .arg("dashboard")
        .output()
        .expect("run");
    let piped: Value = serde_json::from_slice(&out.stdout).expect("JSON when piped");
    assert_eq!(piped["stock"], v["stock"]);
}

#[tokio::test]
async fn once_json_on_postgres_and_redis_has_the_server_view_and_ping_latency() {
    let (db, _store) = TestDb::seeded().await;
    let redis = TestRedis::new().await;
    let home = tempfile::tempdir().expect("tmp");
    let out = flashsale(home.path())
        .args([
            "dashboard",
            "--once",
            "--json",
            "--database-url",
            &db.url,
            "--redis-url",
            &redis.url,
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        v["pool"]["server"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    assert_camel_case(&v);
    assert!(v["redis"]["latency"]["maxMs"].as_f64().is_some(), "{v}");
    assert!(
        v["redis"]["info"]["version"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    assert_eq!(v["sales"]["totalUnitsSold"], 14);
}

#[test]
fn once_json_with_the_database_down_prints_the_errors_and_exits_1() {
    let home = tempfile::tempdir().expect("tmp");
    let out = flashsale(home.path())
        .args([
            "dashboard",
            "--once",
            "--json",
            "--db-acquire-timeout-ms",
            "300",
        ])
        .env("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:9/sale")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("hunter2"));
    let v: Value = serde_json::from_str(&text).expect("JSON");
    assert!(
        v["errors"]["stock"]
            .as_str()
            .is_some_and(|e| e.contains("unreachable")),
        "{v}"
    );
    // The Events pane would show each failing source, as the dashboard logs them.
    let events = v["events"].to_string();
    assert!(events.contains("stock: database unreachable"), "{v}");
    assert_eq!(v["burst"]["product"], Value::Null, "no product known: {v}");
}

#[test]
/// Refused by `config --check` (and by the terminal dashboard, before it takes the screen);
/// `--once`, which uses neither, says so on stderr and still prints its snapshot.
fn a_broken_keys_table_or_theme_is_refused_naming_file_and_line() {
    let home = tempfile::tempdir().expect("tmp");
    let config = home.path().join("config");
    std::fs::create_dir_all(config.join("themes")).expect("dirs");
    std::fs::write(
        config.join("config.toml"),
        "[keys]\nquit = \"x\"\nfyre = \"f\"\n",
    )
    .expect("write");
    let once = flashsale(home.path())
        .args(["dashboard", "--once"])
        .output()
        .expect("run");
    let once_err = String::from_utf8_lossy(&once.stderr);
    assert_eq!(once.status.code(), Some(0), "{once_err}");
    assert!(
        once_err.contains("warning") && once_err.contains("keys.fyre"),
        "{once_err}"
    );
    let out = flashsale(home.path())
        .args(["config", "--check"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("config.toml:3:")
            && err.contains("keys.fyre")
            && err.contains("unknown action"),
        "{err}"
    );

    std::fs::write(config.join("config.toml"), "[keys]\nfire = \"f\"\n").expect("write");
    std::fs::write(
        config.join("themes/mine.toml"),
        "inherits = \"dark\"\n[styles]\nok = { fg = \"mauve\" }\n",
    )
    .expect("write");
    let out = flashsale(home.path())
        .args(["config", "--check"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("mine.toml:3: key 'styles.ok.fg'"), "{err}");
}
