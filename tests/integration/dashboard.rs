//! The real binary on a real terminal (tmux): a burst fired with keys and its audit verdict
//! read off the screen, and the terminal given back (cooked mode, echo, main screen, cursor)
//! after `q`, Ctrl-C, SIGTERM and a panic. Plus the headless faces: `--once --json` and the
//! refusal of a broken `[keys]` table or theme before the screen is touched.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{TestDb, TestRedis, unique};

/// A private tmux server running the dashboard in one pane, then `stty -a` into a file.
pub(crate) struct Tmux {
    socket: String,
    home: tempfile::TempDir,
}

impl Tmux {
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)], width: u16, height: u16) -> Tmux {
        let home = tempfile::tempdir().expect("tmp");
        let socket = unique("fs_tmux_");
        let h = home.path().display().to_string();
        let mut vars = vec![
            format!("PATH={}", std::env::var("PATH").unwrap_or_default()),
            "TERM=xterm-256color".to_string(),
            format!("HOME={h}"),
            format!("FLASHSALE_DATA_DIR={h}/data"),
            format!("FLASHSALE_CONFIG_DIR={h}/config"),
            format!("FLASHSALE_STATE_DIR={h}/state"),
        ];
        vars.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        let script = format!(
            "env -i {} {} {}; echo \"EXIT=$?\" > {h}/exit; stty -a > {h}/stty; sleep 120",
            vars.iter()
                .map(|v| shell_quote(v))
                .collect::<Vec<_>>()
                .join(" "),
            env!("CARGO_BIN_EXE_flashsale"),
            args.iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
        );
        let t = Tmux { socket, home };
        let status = t
            .tmux()
            .args([
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .arg(format!("sh -c {}", shell_quote(&script)))
            .status()
            .expect("tmux is installed (scripts/test installs it)");
        assert!(status.success(), "tmux new-session failed");
        t
    }

    pub(crate) fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    pub(crate) fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn format(&self, f: &str) -> String {
        let out = self
            .tmux()
            .args(["display", "-p", "-t", "t", f])
            .output()
            .expect("display");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        for k in keys {
            let ok = self
                .tmux()
                .args(["send-keys", "-t", "t", k])
                .status()
                .expect("send-keys");
            assert!(ok.success());
            // One key at a time, as a person types: each is its own event.
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    pub(crate) fn literal(&self, text: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", "t", "-l", text])
            .status()
            .expect("send-keys");
        assert!(ok.success());
        std::thread::sleep(Duration::from_millis(60));
    }

    pub(crate) fn wait_for(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "'{text}' never appeared; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// Waits for the dashboard to end; its exit code and `stty -a` after it.
    pub(crate) fn wait_exit(&self) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !(self.path("stty").exists()
            && std::fs::metadata(self.path("stty")).is_ok_and(|m| m.len() > 0))
        {
            assert!(
                Instant::now() < deadline,
                "the dashboard did not exit:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(100));
        let exit = std::fs::read_to_string(self.path("exit")).unwrap_or_default();
        let stty = std::fs::read_to_string(self.path("stty")).unwrap_or_default();
        (exit.trim().to_string(), stty)
    }

    /// The dashboard's pid: the child of the pane's shell.
    pub(crate) fn dashboard_pid(&self) -> u32 {
        let shell: u32 = self.format("#{pane_pid}").parse().expect("pane pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
                .unwrap_or_default();
            if let Some(pid) = children
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
            {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "no dashboard process under the pane's shell"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The terminal is back to normal: cooked mode with echo, main screen, cursor shown.
pub(crate) fn assert_restored(t: &Tmux, stty: &str) {
    let words: Vec<&str> = stty.split_whitespace().collect();
    assert!(
        words.contains(&"icanon") && words.contains(&"echo"),
        "still raw: {stty}"
    );
    assert_eq!(
        t.format("#{alternate_on}"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(t.format("#{cursor_flag}"), "1", "cursor still hidden");
}

pub(crate) const START: Duration = Duration::from_secs(20);

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
    t.keys(&["b"]);
    let s = t.wait_for("AUDIT OK", Duration::from_secs(30));
    assert!(s.contains("bought 5"), "five units for five buyers:\n{s}");

    // The unsafe strategy, on the same stock: the audit catches the oversell.
    t.keys(&["r", "y"]);
    t.wait_for("restocked product 1 to 5", Duration::from_secs(10));
    // batched (the default) -> atomic -> row-lock -> naive
    t.keys(&["s", "s", "s"]);
    t.wait_for("naive UNSAFE", Duration::from_secs(5));
    t.keys(&["b"]);
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
    t.keys(&["b"]);
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

pub(crate) fn flashsale(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flashsale"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FLASHSALE_DATA_DIR", home.join("data"))
        .env("FLASHSALE_CONFIG_DIR", home.join("config"))
        .env("FLASHSALE_STATE_DIR", home.join("state"))
        .current_dir(home);
    cmd
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

/// Every object key in `v` is camelCase, as scripts reading the snapshot expect.
pub(crate) fn assert_camel_case(v: &Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                assert!(
                    !k.contains('_') && !k.starts_with(|c: char| c.is_ascii_uppercase()),
                    "key '{k}' is not camelCase"
                );
                assert_camel_case(child);
            }
        }
        Value::Array(items) => items.iter().for_each(assert_camel_case),
        _ => {}
    }
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
fn a_broken_keys_table_or_theme_is_refused_naming_file_and_line() {
    let home = tempfile::tempdir().expect("tmp");
    let config = home.path().join("config");
    std::fs::create_dir_all(config.join("themes")).expect("dirs");
    std::fs::write(
        config.join("config.toml"),
        "[keys]\nquit = \"x\"\nfyre = \"f\"\n",
    )
    .expect("write");
    let out = flashsale(home.path())
        .args(["dashboard", "--once"])
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
        .args(["dashboard", "--once"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("mine.toml:3: key 'styles.ok.fg'"), "{err}");
}
