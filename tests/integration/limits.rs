//! `flashsale limits` (issue 17): a customer's windows read back from real Redis after real
//! purchases through the real limiter (`flashsale buy` with `REDIS_URL`), IPv6 per network,
//! `--reset` behind a confirmation, the in-process limiter saying why it has no figures, and
//! Redis unreachable named for what it is.

use redis::AsyncCommands;
use serde_json::Value;

use crate::support::bin::run;
use crate::support::json::keys;
use crate::support::redis_server::{RedisServer, free_port};
use crate::support::{TestRedis, TestSqlite, flashsale};

/// A sale of its own: an SQLite file and a Redis key prefix, and the launches against them.
pub(crate) struct Sale {
    pub(crate) lite: TestSqlite,
    pub(crate) redis: TestRedis,
    home: tempfile::TempDir,
    /// A Redis of the sale's own, when it must hold no key of another test.
    _server: Option<RedisServer>,
}

impl Sale {
    pub(crate) async fn new() -> Sale {
        let (lite, _store) = TestSqlite::seeded().await;
        Sale {
            lite,
            redis: TestRedis::new().await,
            home: tempfile::tempdir().expect("tmp"),
            _server: None,
        }
    }

    /// A sale on a private `redis-server`: what counts every key (a bounded `SCAN`) sees this
    /// sale's alone, not the thousands the shared Redis holds while other tests run.
    pub(crate) async fn on_private_redis() -> Sale {
        let (lite, _store) = TestSqlite::seeded().await;
        let server = RedisServer::start();
        Sale {
            lite,
            redis: TestRedis {
                url: server.url(),
                prefix: "private:".into(),
            },
            home: tempfile::tempdir().expect("tmp"),
            _server: Some(server),
        }
    }

    pub(crate) fn launch(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let (out, stdout, stderr) = run(flashsale(self.home.path())
            .args(args)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", self.lite.path().display()),
            )
            .env("REDIS_URL", &self.redis.url)
            .env("RATE_LIMIT_PREFIX", &self.redis.prefix)
            .stdin(std::process::Stdio::null()));
        (out.status.code(), stdout, stderr)
    }

    pub(crate) fn buy(&self, user: &str, ip: &str) -> Option<i32> {
        let (code, _, stderr) = self.launch(&["buy", "--product", "1", "--user", user, "--ip", ip]);
        assert!(matches!(code, Some(0 | 3)), "{stderr}");
        code
    }

    fn limits_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["limits", "--json"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = self.launch(&all);
        assert_eq!(code, Some(0), "{stderr}");
        serde_json::from_str(&stdout).expect("limits JSON")
    }

    pub(crate) fn key(&self, rest: &str) -> String {
        format!("{}rate_limit:{rest}", self.redis.prefix)
    }
}

fn reset_in(w: &Value) -> u64 {
    w["resetInMs"]
        .as_u64()
        .unwrap_or_else(|| panic!("resetInMs: {w}"))
}

#[tokio::test]
async fn the_counts_are_those_real_purchases_left_in_redis() {
    let sale = Sale::new().await;
    for _ in 0..3 {
        assert_eq!(sale.buy("lim_ann", "10.9.8.7"), Some(0));
    }
    let body = sale.limits_json(&["--user", "lim_ann", "--ip", "10.9.8.7"]);
    assert_eq!(
        keys(&body),
        [
            "ip", "limiter", "note", "redis", "reset", "user", "windowMs"
        ]
    );
    assert_eq!(body["limiter"], "redis");
    assert_eq!(body["redis"], sale.redis.url);
    assert_eq!(body["windowMs"], 60_000);
    assert_eq!(body["note"], Value::Null);
    assert_eq!(body["reset"], Value::Null);
    let user = &body["user"];
    assert_eq!(
        keys(user),
        [
            "count",
            "id",
            "key",
            "limit",
            "open",
            "remaining",
            "resetInMs"
        ]
    );
    assert_eq!(user["id"], "lim_ann");
    assert_eq!(user["key"], sale.key("user:lim_ann"));
    assert_eq!(
        (&user["count"], &user["limit"], &user["remaining"]),
        (&Value::from(3), &Value::from(5), &Value::from(2))
    );
    assert_eq!(user["open"], true);
    assert!((1..=60_000).contains(&reset_in(user)), "{user}");
    let ip = &body["ip"];
    assert_eq!(ip["address"], "10.9.8.7");
    assert_eq!(ip["bucket"], "10.9.8.7");
    assert_eq!(ip["key"], sale.key("ip:10.9.8.7"));
    assert_eq!((&ip["count"], &ip["remaining"]), (&3.into(), &7.into()));
    // What Redis itself holds.
    let mut conn = sale.redis.conn().await;
    let held: i64 = conn.get(sale.key("user:lim_ann")).await.expect("get");
    assert_eq!(held, 3);

    // At the limit: the sixth purchase is refused, and limits shows none left.
    for _ in 0..2 {
        assert_eq!(sale.buy("lim_ann", "10.9.8.6"), Some(0));
    }
    assert_eq!(sale.buy("lim_ann", "10.9.8.6"), Some(3), "rate limited");
    let body = sale.limits_json(&["--user", "lim_ann"]);
    assert_eq!(
        (&body["user"]["count"], &body["user"]["remaining"]),
        (&5.into(), &0.into())
    );
    assert_eq!(body["ip"], Value::Null, "no --ip, no IP window");

    // The text form, one line per window.
    let (code, stdout, stderr) = sale.launch(&["limits", "--user", "lim_ann", "--ip", "10.9.9.9"]);
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(
        lines[0],
        format!(
            "rate limits in {}: 5 per user, 10 per IP per 1 min (redis, fail-open when down, \
             timeout 250 ms)",
            sale.redis.url
        )
    );
    assert!(
        lines[1].starts_with("user lim_ann: 5 of 5 used, 0 left, resets in "),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with(&format!(" s ({})", sale.key("user:lim_ann"))),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        format!(
            "ip 10.9.9.9: 0 of 10 used, 10 left, no window open: the next purchase starts one ({})",
            sale.key("ip:10.9.9.9")
        )
    );
}

#[tokio::test]
async fn an_ipv6_address_reads_its_networks_window() {
    let sale = Sale::new().await;
    assert_eq!(sale.buy("lim_v6a", "2001:db8:7:1::5"), Some(0));
    assert_eq!(sale.buy("lim_v6b", "2001:db8:7:1:ffff::9"), Some(0));
    let body = sale.limits_json(&["--user", "lim_v6a", "--ip", "2001:db8:7:1::1234"]);
    let ip = &body["ip"];
    assert_eq!(ip["address"], "2001:db8:7:1::1234");
    assert_eq!(ip["bucket"], "2001:db8:7:1::/64");
    assert_eq!(ip["key"], sale.key("ip:2001:db8:7:1::/64"));
    assert_eq!(ip["count"], 2, "both addresses of the /64 counted: {ip}");
    assert_eq!(body["user"]["count"], 1);
}

#[tokio::test]
async fn reset_asks_first_refuses_without_a_terminal_and_lifts_the_limit_with_yes() {
    let sale = Sale::new().await;
    for _ in 0..5 {
        assert_eq!(sale.buy("lim_bob", "10.7.7.7"), Some(0));
    }
    assert_eq!(sale.buy("lim_bob", "10.7.7.7"), Some(3), "rate limited");
    let mut conn = sale.redis.conn().await;

    // No terminal on stdin and no --yes: nothing deleted.
    let (code, stdout, stderr) = sale.launch(&["limits", "--user", "lim_bob", "--reset"]);
    assert_eq!(code, Some(2), "{stdout}");
    assert_eq!(
        stderr,
        "flashsale: error: limits --reset asks before it acts, and stdin is not a terminal: add \
         --yes to go ahead without asking\n"
    );
    let exists: bool = conn.exists(sale.key("user:lim_bob")).await.expect("exists");
    assert!(exists, "refused: the window is still there");

    // --read-only refuses it whatever the confirmation.
    let (code, _, stderr) = sale.launch(&[
        "limits",
        "--user",
        "lim_bob",
        "--reset",
        "--yes",
        "--read-only",
    ]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "flashsale: error: --read-only refuses it: limits --reset deletes a customer's \
         rate-limit windows in Redis (run it without --read-only)\n"
    );
    let (code, _, stderr) = sale.launch(&["limits", "--user", "lim_bob", "--read-only"]);
    assert_eq!(code, Some(0), "reading is allowed: {stderr}");

    let body = sale.limits_json(&["--user", "lim_bob", "--ip", "10.7.7.7", "--reset", "--yes"]);
    assert_eq!(body["reset"]["deleted"], 2);
    assert_eq!(body["reset"]["confirmed"], true);
    assert_eq!(body["user"]["count"], 5, "the figures cleared");
    for key in [sale.key("user:lim_bob"), sale.key("ip:10.7.7.7")] {
        let exists: bool = conn.exists(&key).await.expect("exists");
        assert!(!exists, "{key} deleted");
    }
    assert_eq!(sale.buy("lim_bob", "10.7.7.7"), Some(0), "unblocked");
    let body = sale.limits_json(&["--user", "lim_bob"]);
    assert_eq!(body["user"]["count"], 1);

    // Nothing open: nothing to ask about.
    let (code, stdout, stderr) = sale.launch(&["limits", "--user", "lim_nobody", "--reset"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.ends_with("reset: nothing to delete (no window open)\n"),
        "{stdout}"
    );
}

#[test]
fn the_in_process_limiter_says_it_has_no_figures_instead_of_zeros() {
    let home = tempfile::tempdir().expect("tmp");
    let launch = |args: &[&str]| {
        let (out, stdout, stderr) = run(flashsale(home.path()).args(args));
        (out.status.code(), stdout, stderr)
    };
    let (code, stdout, stderr) =
        launch(&["limits", "--user", "lim_carl", "--ip", "10.1.1.1", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let body: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(body["limiter"], "in-process");
    assert_eq!(body["redis"], Value::Null);
    let note = body["note"].as_str().expect("note");
    assert!(
        note.starts_with("rate limits are counted in process (no REDIS_URL)"),
        "{note}"
    );
    for w in [&body["user"], &body["ip"]] {
        for figure in ["count", "remaining", "resetInMs", "open", "key"] {
            assert_eq!(w[figure], Value::Null, "{figure} unknown, not zero: {w}");
        }
    }
    assert_eq!(body["user"]["limit"], 5);
    assert_eq!(body["ip"]["limit"], 10);

    let (code, stdout, _) = launch(&["limits", "--user", "lim_carl"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        "5 per user, 10 per IP per 1 min (in-process limiter)\nrate limits are counted in \
         process (no REDIS_URL): each flashsale process keeps its own windows and this one has \
         just started, so it knows nothing of any other's; there are no figures to show. Set \
         REDIS_URL to share the windows and read them here\n"
    );
    let (code, _, stderr) = launch(&["limits", "--user", "lim_carl", "--reset", "--yes"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "flashsale: error: limits --reset needs Redis: the in-process limiter's windows live in \
         each process and end with it, so there is nothing here to reset\n"
    );
}

#[test]
fn redis_unreachable_is_named_so_with_the_password_masked_and_exits_1() {
    let home = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let (out, stdout, stderr) = run(flashsale(home.path())
        .args(["limits", "--user", "lim_dan", "--json"])
        .env("REDIS_URL", format!("redis://:hunter2@127.0.0.1:{port}")));
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(
        stderr,
        format!(
            "flashsale: error: cannot read the rate-limit windows from \
             redis://:***@127.0.0.1:{port}: Redis refused the connection: nothing listens at \
             its address (is redis-server running?)\n"
        )
    );
}

#[test]
fn a_bad_user_id_is_named() {
    let home = tempfile::tempdir().expect("tmp");
    let (out, _, stderr) = run(flashsale(home.path()).args(["limits", "--user", "a\tb"]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr,
        "flashsale: error: --user: userId must not contain control characters\n"
    );
}

#[tokio::test]
async fn on_a_terminal_reset_asks_and_does_only_what_was_answered() {
    use crate::support::terminal::{START, Tmux};
    let sale = Sale::new().await;
    assert_eq!(sale.buy("lim_eve", "10.6.6.6"), Some(0));
    let db = format!("sqlite://{}", sale.lite.path().display());
    let env = [
        ("DATABASE_URL", db.as_str()),
        ("REDIS_URL", sale.redis.url.as_str()),
        ("RATE_LIMIT_PREFIX", sale.redis.prefix.as_str()),
    ];
    let args = ["limits", "--user", "lim_eve", "--reset"];
    let question = format!(
        "delete {} in {}? [y/N]",
        sale.key("user:lim_eve"),
        sale.redis.url
    );
    let mut conn = sale.redis.conn().await;

    let no = Tmux::start(&args, &env, 200, 10);
    no.wait_for(&question, START);
    no.literal("n");
    no.keys(&["Enter"]);
    no.wait_for("not reset (answered no)", START);
    assert_eq!(no.wait_exit().0, "EXIT=0");
    let exists: bool = conn.exists(sale.key("user:lim_eve")).await.expect("exists");
    assert!(exists, "answered no: kept");

    let yes = Tmux::start(&args, &env, 200, 10);
    yes.wait_for(&question, START);
    yes.literal("y");
    yes.keys(&["Enter"]);
    yes.wait_for("reset: deleted 1 of 1", START);
    assert_eq!(yes.wait_exit().0, "EXIT=0");
    let exists: bool = conn.exists(sale.key("user:lim_eve")).await.expect("exists");
    assert!(!exists, "answered yes: deleted");
}
