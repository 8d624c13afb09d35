//! The operator's views on a real terminal (tmux) against real services (issue 17 items 1 and
//! 2): the activity view lists a real `SELECT pg_sleep(30)` from another connection with its
//! duration, selects it by click and by keys, and cancelling it with `x` + `y` ends it with
//! SQLSTATE 57014; the limits prompt shows real Redis counts after real purchases through the
//! real limiter, tells bad input, and resets them after a dialog; `dashboard --once --json`
//! counts the live rate-limit windows.

use std::time::Duration;

use redis::AsyncCommands;
use serde_json::{Value, json};

use crate::activity::{ENDS_WITHIN, sleeper, sqlstate};
use crate::limits::Sale;
use crate::support::TestDb;
use crate::support::terminal::{START, Tmux, assert_restored, line_with};

const STEP: Duration = Duration::from_secs(10);
/// The sleeper's row (the summary's longest-transaction line names it too, without its query).
const SLEEPER: &str = "SELECT pg_sleep(30)";

/// The screen line showing `text`.
fn line_of(screen: &str, text: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains(text))
        .unwrap_or_else(|| panic!("{text} not on screen:\n{screen}"))
        .to_string()
}

/// Waits until one screen line holds every one of `parts` (a frame is read while it may still
/// be being written: each fact is waited for, not read off the screen of another).
fn wait_line(t: &Tmux, parts: &[&str]) -> String {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let screen = t.screen();
        if let Some(l) = screen.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            return l.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no line with {parts:?}:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the line showing `text` is the selected one (its `▶`).
fn until_selected(t: &Tmux, text: &str) -> String {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let screen = t.screen();
        if screen.lines().any(|l| l.contains(text) && l.contains('▶')) {
            return screen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{text} never selected:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_activity_view_lists_a_real_sleeper_with_its_duration_and_x_cancels_it_with_57014() {
    let (db, _store) = TestDb::seeded().await;
    let (pid, task) = sleeper(&db).await;
    let t = Tmux::start(&["dashboard"], &[("DATABASE_URL", &db.url)], 100, 30);
    t.wait_for("Laptop Pro", START);
    t.keys(&["d"]);
    let row = wait_line(&t, &[SLEEPER, "pg_sleeper", "active", &pid.to_string()]);
    assert!(
        row.contains(" ms ") || row.contains(" s "),
        "its running time: {row}"
    );
    // The details of the selected backend name the wait.
    until_selected(&t, SLEEPER);
    t.wait_for("wait Timeout:PgSleep", STEP);
    wait_line(&t, &["flashsale das"]);

    // The mouse: a click on another backend (the dashboard's own) selects it, then a click on
    // the sleeper selects it again.
    let other = line_with(&t.screen(), "flashsale das");
    t.click(10, other);
    until_selected(&t, "flashsale das");
    let screen = t.screen();
    t.click(10, line_with(&screen, SLEEPER));
    until_selected(&t, SLEEPER);
    // Keys: down leaves it, up comes back.
    t.keys(&["j"]);
    let deadline = std::time::Instant::now() + STEP;
    while line_of(&t.screen(), SLEEPER).contains('▶') {
        assert!(std::time::Instant::now() < deadline, "{}", t.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
    t.keys(&["k"]);
    until_selected(&t, SLEEPER);

    t.keys(&["x"]);
    t.wait_for("Cancel query", STEP);
    t.wait_for(&format!("backend {pid} (pg_sleeper)"), STEP);
    assert!(!task.is_finished(), "nothing sent before the answer");
    t.keys(&["y"]);
    t.wait_for(&format!("pg_cancel_backend({pid}): sent"), STEP);
    let ended = tokio::time::timeout(ENDS_WITHIN, task)
        .await
        .expect("the sleeper ends well before its 30 s")
        .expect("join");
    assert_eq!(sqlstate(ended).as_deref(), Some("57014"), "query_canceled");
    t.keys(&["Escape", "q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_limits_prompt_shows_real_redis_counts_after_real_purchases_and_resets_them() {
    let sale = Sale::new().await;
    for _ in 0..3 {
        sale.buy("u42", "10.0.0.1");
    }
    let url = format!("sqlite://{}", sale.lite.path().display());
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("REDIS_URL", sale.redis.url.as_str()),
        ("RATE_LIMIT_PREFIX", sale.redis.prefix.as_str()),
    ];
    let t = Tmux::start(&["dashboard"], &env, 100, 30);
    t.wait_for("Laptop Pro", START);
    t.keys(&["u"]);
    t.wait_for("Rate limits", STEP);
    // A bad address is told in the prompt, and the text stays to be corrected.
    t.literal("u42 10.0.0.300");
    t.keys(&["Enter"]);
    t.wait_for("is not an IP address", STEP);
    t.wait_for("u42 10.0.0.300", STEP);
    t.keys(&["BSpace", "BSpace", "BSpace"]);
    t.literal("1");
    t.keys(&["Enter"]);
    let user_key = sale.key("user:u42");
    t.wait_for("user u42: 3 of 5 used, 2 left, resets in", STEP);
    t.wait_for("ip 10.0.0.1: 3 of 10 used, 7 left", STEP);
    t.wait_for(&user_key, STEP);
    t.wait_for("from Redis", STEP);

    // ctrl+r asks, then deletes both windows; the prompt looks again and shows them gone.
    t.keys(&["C-r"]);
    t.wait_for("Reset rate limits", STEP);
    t.keys(&["y"]);
    t.wait_for("user u42: 0 of 5 used, 5 left, no window open", STEP);
    let mut conn = sale.redis.conn().await;
    let left: Option<String> = conn.get(&user_key).await.expect("GET");
    assert_eq!(left, None, "the window is gone from Redis");
    // A click closes the prompt; `u` opens it again with the text kept.
    t.click(5, 5);
    let deadline = std::time::Instant::now() + STEP;
    while t.screen().contains("Rate limits") {
        assert!(std::time::Instant::now() < deadline, "{}", t.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
    t.keys(&["u"]);
    t.wait_for("u42 10.0.0.1", STEP);
    t.keys(&["Escape", "q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}

#[tokio::test]
async fn once_json_counts_the_live_rate_limit_windows_after_real_purchases() {
    // Its own Redis: the count is bounded (a few SCAN calls), and the shared one holds the
    // windows of every test running beside this one.
    let sale = Sale::on_private_redis().await;
    sale.buy("alice", "10.0.0.1");
    sale.buy("bob", "10.0.0.1");
    // alice's and bob's windows and the address's: three keys under the test's prefix.
    let (code, stdout, stderr) = sale.launch(&["dashboard", "--once", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let body: Value = serde_json::from_str(&stdout).expect("snapshot JSON");
    assert_eq!(
        body["redis"]["rateLimitKeys"],
        json!({"count": 3, "complete": true}),
        "{body}"
    );
}
