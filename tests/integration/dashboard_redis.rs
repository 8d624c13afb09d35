//! The Redis view on real Redis (issue 17 item 3): `dashboard --once --json` carries the 15 s
//! latency rows, the `INFO` counters and the slow log of a private redis-server whose slow log
//! records every command; on a terminal, the pane focused with a click and zoomed with `z`
//! shows them.

use std::time::Duration;

use serde_json::Value;

use crate::support::terminal::{START, Tmux, assert_restored, line_with};
use crate::support::{RedisServer, flashsale};

/// A private Redis that logs every command as slow, has a memory limit, and has seen one
/// keyspace hit and one miss and a command the test can find in its slow log.
async fn logging_redis() -> RedisServer {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).expect("url");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("private redis");
    for args in [
        &["CONFIG", "SET", "slowlog-log-slower-than", "0"][..],
        &["CONFIG", "SET", "maxmemory", "67108864"],
        &["SLOWLOG", "RESET"],
        &["SET", "fs_slowlog_probe", "1"],
        &["GET", "fs_slowlog_probe"],
        &["GET", "fs_slowlog_absent"],
    ] {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        let _: redis::Value = cmd.query_async(&mut c).await.expect("redis command");
    }
    server
}

#[tokio::test]
async fn once_json_has_latency_rows_counters_and_the_slow_log_of_real_redis() {
    let server = logging_redis().await;
    let home = tempfile::tempdir().expect("tmp");
    let out = flashsale(home.path())
        .args([
            "dashboard",
            "--once",
            "--json",
            "--redis-url",
            &server.url(),
        ])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let r = &v["redis"];
    let rows = r["intervals"].as_array().expect("redis.intervals");
    assert_eq!(rows.len(), 1, "a one-off snapshot lasts one 15 s row: {r}");
    let row = &rows[0];
    assert!(row["samples"].as_u64().is_some_and(|n| n >= 3), "{row}");
    let (min, avg, max) = (
        row["minMs"].as_f64().expect("minMs"),
        row["avgMs"].as_f64().expect("avgMs"),
        row["maxMs"].as_f64().expect("maxMs"),
    );
    assert!(min > 0.0 && min <= avg && avg <= max, "{row}");
    assert!(row["start"].as_str().is_some(), "{row}");
    let s = &r["stats"];
    assert_eq!(s["maxmemory"], 67_108_864, "{s}");
    assert!(s["usedMemory"].as_u64().is_some_and(|n| n > 0), "{s}");
    assert!(s["keyspaceHits"].as_u64().is_some_and(|n| n >= 1), "{s}");
    assert!(s["keyspaceMisses"].as_u64().is_some_and(|n| n >= 1), "{s}");
    for key in ["evictedKeys", "blockedClients", "rejectedConnections"] {
        assert!(s[key].as_u64().is_some(), "{key}: {s}");
    }
    let slow = r["slowlog"].as_array().expect("redis.slowlog");
    assert!(slow.len() <= 10, "SLOWLOG GET 10: {r}");
    let probe = slow
        .iter()
        .find(|e| e["command"] == "SET fs_slowlog_probe 1")
        .unwrap_or_else(|| panic!("the probe in the slow log: {r}"));
    assert!(probe["durationUs"].as_u64().is_some(), "{probe}");
    assert!(probe["at"].as_str().is_some() && probe["id"].as_u64().is_some());
    assert!(r["slowlogError"].is_null(), "{r}");
}

#[test]
fn a_click_focuses_the_redis_pane_and_z_shows_its_rows_counters_and_slow_log() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(logging_redis());
    let url = server.url();
    let t = Tmux::start(&["dashboard", "--redis-url", &url], &[], 100, 30);
    let screen = t.wait_for("ops/s", START);
    // Inside the pane, below its title, wherever the layout put it.
    let y = line_with(&screen, "Redis ──");
    let title = screen.lines().nth(usize::from(y)).unwrap_or_default();
    let x = title
        .find("Redis ──")
        .map(|b| title[..b].chars().count())
        .expect("the title's column");
    t.click(u16::try_from(x).expect("a column") + 2, y + 1);
    t.wait_for("▶ Redis", Duration::from_secs(5));
    t.keys(&["z"]);
    let zoomed = t.wait_for("PING per 15 s", Duration::from_secs(5));
    assert!(zoomed.contains("mem "), "{zoomed}");
    // The slow log is read every 5 s: the probe is there by the first read.
    t.wait_for("SET fs_slowlog_probe 1", Duration::from_secs(10));
    t.keys(&["z", "q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
    drop(server);
}
