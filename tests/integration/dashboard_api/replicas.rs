//! `flashsale dashboard --api A,B,C` over real `flashsale serve` replicas on one PostgreSQL
//! database (issue 13 item 3): `--once --json` lists every replica (up, its strategy, its own
//! purchase counters); one killed with SIGKILL is down with an alert naming it while stock and
//! statistics are still read (from another replica); lists with an empty, bad or repeated URL
//! are refused; and on a terminal the Replicas pane shows a replica going down.

use std::time::Duration;

use serde_json::Value;

use crate::support::buyers::req;
use crate::support::http::ServeProcess;
use crate::support::json::{assert_camel_case, keys};
use crate::support::terminal::{START, Tmux, assert_restored};
use crate::support::{TestDb, flashsale};
use flashsale_client::ApiClient;
use flashsale_core::purchase::Outcome;

fn once_json(home: &std::path::Path, api: &str) -> (Option<i32>, Value, String) {
    let out = flashsale(home)
        .args(["dashboard", "--api", api, "--once", "--json"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code(), v, stderr)
}

/// Three replicas on one database, the third with a strategy of its own.
fn replicas(home: &std::path::Path, db: &TestDb) -> Vec<ServeProcess> {
    (0..3)
        .map(|i| {
            let strategy = if i == 2 { "row-lock" } else { "atomic" };
            ServeProcess::start(
                &home.join(format!("r{i}")),
                &[
                    ("DATABASE_URL", &db.url),
                    ("FLASHSALE_STRATEGY", strategy),
                    ("TRUSTED_PROXIES", "127.0.0.1"),
                ],
            )
        })
        .collect()
}

fn replica(v: &Value, i: usize) -> &Value {
    &v["replicas"][i]
}

#[tokio::test]
async fn once_json_lists_every_replica_and_one_killed_is_down_with_an_alert_naming_it() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let mut servers = replicas(home.path(), &db);
    let list = servers
        .iter()
        .map(|s| s.url.as_str())
        .collect::<Vec<_>>()
        .join(",");
    // Seven purchases through the second replica only.
    let client = ApiClient::new(&servers[1].url, 4, Duration::from_secs(10)).expect("client");
    for i in 0..7 {
        let user = format!("replica-buyer-{i}");
        let outcome = client.purchase(&req(&user, i)).await;
        assert!(matches!(outcome, Outcome::Purchased(_)), "{outcome:?}");
    }

    let (code, v, stderr) = once_json(home.path(), &list);
    assert_eq!(code, Some(0), "every replica answers: {stderr}\n{v}");
    let rows = v["replicas"].as_array().expect("a replicas list");
    assert_eq!(rows.len(), 3, "{v}");
    assert_camel_case(&v);
    // Every key always there, as the README lists them.
    assert_eq!(
        keys(&rows[0]),
        [
            "database",
            "error",
            "errorRate",
            "errorsTotal",
            "metricsMissing",
            "p99Ms",
            "purchasesPerSec",
            "purchasesTotal",
            "ready",
            "redis",
            "since",
            "strategy",
            "up",
            "url"
        ]
    );
    for (i, s) in servers.iter().enumerate() {
        let r = replica(&v, i);
        assert_eq!(r["url"], s.url.as_str());
        assert_eq!(r["up"], true, "{r}");
        assert_eq!(r["ready"], true, "{r}");
        assert!(r["since"].is_string(), "{r}");
        assert_eq!(r["database"], "up", "{r}");
        assert!(r["p99Ms"].is_null() || r["p99Ms"].is_f64(), "{r}");
        assert!(
            r["purchasesPerSec"].is_f64(),
            "two reads a second apart: {r}"
        );
        for key in ["error", "metricsMissing"] {
            assert!(r[key].is_null(), "{key}: {r}");
        }
    }
    assert_eq!(replica(&v, 0)["strategy"], "atomic");
    assert_eq!(replica(&v, 2)["strategy"], "row-lock");
    // Each replica counts its own purchases: the seven are the second's alone.
    assert_eq!(replica(&v, 1)["purchasesTotal"], 7, "{v}");
    assert_eq!(replica(&v, 1)["errorsTotal"], 0, "{v}");
    assert_eq!(replica(&v, 0)["purchasesTotal"], 0, "{v}");
    assert_eq!(replica(&v, 2)["purchasesTotal"], 0, "{v}");
    // Stock and statistics once, in their usual places.
    assert_eq!(v["stock"][0]["stock"], 93, "100 less the seven: {v}");
    assert_eq!(
        v["stats"]["totalUnitsSold"], 21,
        "14 seeded and the seven: {v}"
    );
    assert!(
        v["serverErrorRate"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("several replicas")),
        "{v}"
    );
    assert!(
        !v["alerts"].to_string().contains("replica"),
        "no replica alert while all are up: {v}"
    );

    // The first replica dies: the others still give stock and statistics.
    let dead = servers[0].url.clone();
    servers[0].kill();
    let (code, v, _) = once_json(home.path(), &list);
    assert_eq!(code, Some(1), "a replica is down: {v}");
    let r = replica(&v, 0);
    assert_eq!(r["up"], false, "{r}");
    assert!(
        r["error"].as_str().is_some_and(|e| e.contains("refused")),
        "named for what it is: {r}"
    );
    assert!(r["purchasesPerSec"].is_null(), "{r}");
    assert_eq!(replica(&v, 1)["up"], true);
    assert_eq!(replica(&v, 2)["up"], true);
    let alerts = v["alerts"].as_array().expect("alerts");
    let down = alerts
        .iter()
        .find(|a| a["key"] == format!("replica-down-{dead}"))
        .unwrap_or_else(|| panic!("an alert naming {dead}: {v}"));
    assert_eq!(down["severity"], "critical");
    assert!(
        down["message"].as_str().is_some_and(|m| m.contains(&dead)),
        "{down}"
    );
    assert_eq!(v["stock"][0]["stock"], 93, "stock still read: {v}");
    assert_eq!(
        v["stats"]["totalUnitsSold"], 21,
        "statistics still read: {v}"
    );
    assert!(v["errors"].as_object().is_some_and(|e| e.is_empty()), "{v}");
}

#[tokio::test]
async fn one_url_has_no_replicas_list_and_keeps_the_server_error_rate() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let serve = ServeProcess::start(home.path(), &[("DATABASE_URL", &db.url)]);
    let (code, v, stderr) = once_json(home.path(), &serve.url);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        v.get("replicas").is_none(),
        "one URL may be a load balancer's: {v}"
    );
    assert!(v["serverErrorRate"]["sinceServerStart"].is_object(), "{v}");
}

#[test]
fn a_list_with_an_empty_bad_or_repeated_url_is_refused_naming_it() {
    let home = tempfile::tempdir().expect("tmp");
    for (api, said) in [
        (
            "http://127.0.0.1:1,,http://127.0.0.1:2",
            "URL 2 of 3: empty",
        ),
        ("http://127.0.0.1:1,", "URL 2 of 2: empty"),
        (
            "http://127.0.0.1:1,ftp://x",
            "URL 2 of 2: unsupported scheme 'ftp'",
        ),
        (
            "http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:1/",
            "http://127.0.0.1:1 is listed twice (URLs 1 and 3)",
        ),
    ] {
        let out = flashsale(home.path())
            .args(["dashboard", "--api", api, "--once", "--json"])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{api}: {stderr}");
        assert!(
            stderr.contains(&format!("--api: {said}")),
            "{api}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{api}");
    }
}

#[tokio::test]
async fn on_a_terminal_the_replicas_pane_shows_one_going_down_and_the_banner_alerts() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let a = ServeProcess::start(&home.path().join("a"), &[("DATABASE_URL", &db.url)]);
    let mut b = ServeProcess::start(&home.path().join("b"), &[("DATABASE_URL", &db.url)]);
    let list = format!("{},{}", a.url, b.url);
    let t = Tmux::start(&["dashboard", "--api", &list], &[], 80, 24);
    t.wait_for("Replicas 2/2 up", START);
    let port_b = b.url.rsplit(':').next().expect("port").to_string();
    let s = t.wait_for("1299.99", Duration::from_secs(10));
    assert!(
        !s.contains("Connection pool"),
        "the pane's place is the replicas':\n{s}"
    );
    b.kill();
    let s = t.wait_for("Replicas 1/2 up", Duration::from_secs(15));
    let row = s
        .lines()
        .find(|l| l.contains(&format!(":{port_b}")) && l.contains("DOWN"))
        .unwrap_or_else(|| panic!("the row of the killed replica, DOWN:\n{s}"));
    assert!(row.contains(" at "), "since when: {row}");
    let s = t.wait_for(&format!("replica {} down", b.url), Duration::from_secs(10));
    assert!(
        s.lines()
            .nth(1)
            .is_some_and(|l| l.contains("⚠ ALERT") && l.contains("down")),
        "the banner:\n{s}"
    );
    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}
