//! Redis health as `redis-cli --latency-history` shows it: PING round trips sampled
//! continuously, summarized over a window (min / avg / p99 / max), plus the `INFO` figures an
//! operator looks at first. Down is a state with a start time, not an error to exit on.
//! `intervals.rs` keeps the 15 s rows of the last 16 minutes; `slowlog.rs` reads the server's
//! counters and its slow log.

pub mod intervals;
pub mod slowlog;

pub use intervals::{INTERVAL, INTERVALS_KEPT, IntervalRing, LatencyInterval};
pub use slowlog::{RedisStats, SLOWLOG_EVERY, SlowlogEntry};

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use flashsale_core::ratelimit::connection::RedisConn;
use serde::Serialize;

/// The summary window, as `redis-cli --latency-history` uses by default.
pub const WINDOW: Duration = Duration::from_secs(15);
/// Time between PINGs while Redis answers.
pub const PING_EVERY: Duration = Duration::from_millis(100);
/// Seconds of history in the sparkline.
pub const HISTORY_SECS: usize = 60;

/// PING round trips over the window, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LatencySummary {
    pub min_ms: f64,
    pub avg_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: usize,
}

/// The `INFO` figures the Redis pane shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RedisInfo {
    pub version: String,
    pub connected_clients: u64,
    pub ops_per_sec: u64,
    pub used_memory_human: String,
    pub uptime_secs: u64,
}

/// One master of a Redis Cluster, as of one report (read by `redis_cluster`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterMaster {
    /// `host:port`.
    pub address: String,
    /// Its slots, as `CLUSTER NODES` gives them (`0-5460`).
    pub slots: String,
    pub ping_ms: Option<f64>,
    pub info: Option<RedisInfo>,
    /// Its evictions, hits and misses, memory (from the same `INFO`).
    pub stats: Option<RedisStats>,
    pub error: Option<String>,
}

/// What the Redis pane shows, as of one report.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RedisSnapshot {
    /// The URL, password masked.
    pub url: String,
    /// `None` until a PING has answered in the window.
    pub latency: Option<LatencySummary>,
    /// The slowest PING of each of the last seconds, in microseconds, oldest first.
    pub history_us: Vec<u64>,
    pub info: Option<RedisInfo>,
    /// Set while Redis does not answer: since when.
    pub down_since: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// On a Redis Cluster, every master by its own PING and `INFO`; empty for one server.
    pub masters: Vec<ClusterMaster>,
    /// The live rate-limit windows (`{prefix}rate_limit:*` keys), by a bounded `SCAN`; `None`
    /// until counted, and on a cluster (whose keys are spread over its masters).
    pub rate_limit_keys: Option<KeyCount>,
    /// Min / avg / max of the PINGs per 15 s, oldest first, the last one still filling; on a
    /// cluster, PINGs through the router.
    pub intervals: Vec<LatencyInterval>,
    /// The `INFO` counters; `None` on a cluster (each master has its own in `masters`).
    /// Boxed: every update the samplers send is as large as this snapshot.
    pub stats: Option<Box<RedisStats>>,
    /// The last `SLOWLOG GET 10` entries, newest first (on a cluster, every master's, merged,
    /// each naming its node), read every 5 s.
    pub slowlog: Vec<SlowlogEntry>,
    /// Why the slow log could not be read (a managed Redis may rename or forbid `SLOWLOG`).
    pub slowlog_error: Option<String>,
}

/// Keys counted by a bounded `SCAN`: the count, and whether the scan went all the way round
/// (when not, there are at least `count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct KeyCount {
    pub count: u64,
    pub complete: bool,
}

/// How many keys one `SCAN` call looks at (a hint to Redis, which may return a few more).
pub const SCAN_COUNT: u64 = 1_000;
/// `SCAN` calls per count at most: about [`SCAN_COUNT`] × this many keys looked at, so a
/// Redis holding millions of keys costs one sample a few milliseconds, not a full walk.
pub const SCAN_CALLS: usize = 4;

/// PING samples over the last [`WINDOW`], and the per-second maxima for the sparkline.
#[derive(Debug, Clone, Default)]
pub struct LatencyWindow {
    samples: VecDeque<(Instant, Duration)>,
    history: VecDeque<(u64, u64)>,
    origin: Option<Instant>,
    intervals: IntervalRing,
}

impl LatencyWindow {
    pub fn record(&mut self, at: Instant, rtt: Duration) {
        let origin = *self.origin.get_or_insert(at);
        self.intervals.record(at, Utc::now(), rtt);
        self.samples.push_back((at, rtt));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| at.saturating_duration_since(*t) > WINDOW)
        {
            self.samples.pop_front();
        }
        let second = at.saturating_duration_since(origin).as_secs();
        let us = rtt.as_micros() as u64;
        match self.history.back_mut() {
            Some((s, max)) if *s == second => *max = (*max).max(us),
            _ => self.history.push_back((second, us)),
        }
        while self.history.len() > HISTORY_SECS {
            self.history.pop_front();
        }
    }

    pub fn summary(&self) -> Option<LatencySummary> {
        if self.samples.is_empty() {
            return None;
        }
        let mut ms: Vec<f64> = self
            .samples
            .iter()
            .map(|(_, d)| d.as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let p99 = ms[((n as f64 * 0.99).ceil() as usize).clamp(1, n) - 1];
        Some(LatencySummary {
            min_ms: ms[0],
            avg_ms: ms.iter().sum::<f64>() / n as f64,
            p99_ms: p99,
            max_ms: ms[n - 1],
            samples: n,
        })
    }

    pub fn history_us(&self) -> Vec<u64> {
        self.history.iter().map(|(_, us)| *us).collect()
    }

    /// The 15 s rows, oldest first.
    pub fn intervals(&self) -> Vec<LatencyInterval> {
        self.intervals.rows()
    }
}

/// Picks the pane's figures out of an `INFO` reply.
pub fn parse_info(text: &str) -> RedisInfo {
    let mut info = RedisInfo::default();
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once(':') else {
            continue;
        };
        match k {
            "redis_version" => info.version = v.to_string(),
            "connected_clients" => info.connected_clients = v.parse().unwrap_or(0),
            "instantaneous_ops_per_sec" => info.ops_per_sec = v.parse().unwrap_or(0),
            "used_memory_human" => info.used_memory_human = v.to_string(),
            "uptime_in_seconds" => info.uptime_secs = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    info
}

/// Counts the keys matching `pattern` with at most [`SCAN_CALLS`] `SCAN`s of [`SCAN_COUNT`],
/// each bounded by `timeout`. Not `KEYS`: that blocks Redis for as long as the walk takes.
pub async fn count_keys(
    conn: &mut RedisConn,
    pattern: &str,
    timeout: Duration,
) -> Result<KeyCount, String> {
    let mut cursor: u64 = 0;
    let mut count: u64 = 0;
    for _ in 0..SCAN_CALLS {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        let call = scan.query_async::<(u64, Vec<String>)>(conn);
        let (next, keys) = tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
            .map_err(|e| flashsale_core::ratelimit::redis::describe(&e))?;
        count += keys.len() as u64;
        if next == 0 {
            return Ok(KeyCount {
                count,
                complete: true,
            });
        }
        cursor = next;
    }
    Ok(KeyCount {
        count,
        complete: false,
    })
}

/// One PING, timed, bounded by `timeout`.
pub async fn ping(conn: &mut RedisConn, timeout: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let reply: Result<String, _> =
        tokio::time::timeout(timeout, redis::cmd("PING").query_async(conn))
            .await
            .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?;
    reply.map_err(|e| flashsale_core::ratelimit::redis::describe(&e))?;
    Ok(start.elapsed())
}

/// `INFO`, parsed into the pane's figures and the counters, bounded by `timeout`.
pub async fn info(
    conn: &mut RedisConn,
    timeout: Duration,
) -> Result<(RedisInfo, RedisStats), String> {
    let text: Result<String, _> = tokio::time::timeout(
        timeout,
        redis::cmd("INFO")
            .arg("server")
            .arg("clients")
            .arg("stats")
            .arg("memory")
            .query_async(conn),
    )
    .await
    .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?;
    text.map(|t| (parse_info(&t), slowlog::parse_stats(&t)))
        .map_err(|e| flashsale_core::ratelimit::redis::describe(&e))
}

/// `SLOWLOG GET 10`, bounded by `timeout`.
pub async fn slowlog(conn: &mut RedisConn, timeout: Duration) -> Result<Vec<SlowlogEntry>, String> {
    let reply: Result<redis::Value, _> =
        tokio::time::timeout(timeout, slowlog::slowlog_cmd().query_async(conn))
            .await
            .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?;
    reply
        .map(|v| slowlog::parse_slowlog(&v, None))
        .map_err(|e| flashsale_core::ratelimit::redis::describe(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_covers_the_window_only() {
        let t0 = Instant::now();
        let mut w = LatencyWindow::default();
        w.record(t0, Duration::from_millis(90));
        for i in 1..=100u64 {
            w.record(
                t0 + WINDOW + Duration::from_millis(i * 10),
                Duration::from_micros(i * 10),
            );
        }
        let s = w.summary().expect("samples");
        assert_eq!(s.samples, 100, "the 90 ms sample left the window");
        assert!((s.min_ms - 0.01).abs() < 1e-9, "{s:?}");
        assert!((s.max_ms - 1.0).abs() < 1e-9, "{s:?}");
        assert!((s.p99_ms - 0.99).abs() < 1e-9, "{s:?}");
        assert!((s.avg_ms - 0.505).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn history_keeps_the_slowest_ping_of_each_second() {
        let t0 = Instant::now();
        let mut w = LatencyWindow::default();
        w.record(t0, Duration::from_micros(100));
        w.record(t0 + Duration::from_millis(500), Duration::from_micros(300));
        w.record(t0 + Duration::from_millis(1200), Duration::from_micros(50));
        assert_eq!(w.history_us(), [300, 50]);
    }

    #[test]
    fn info_fields_are_parsed() {
        let info = parse_info(
            "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:42\r\n# Clients\r\n\
             connected_clients:3\r\n# Stats\r\ninstantaneous_ops_per_sec:1200\r\n\
             # Memory\r\nused_memory_human:1.05M\r\n",
        );
        assert_eq!(
            info,
            RedisInfo {
                version: "7.0.15".into(),
                connected_clients: 3,
                ops_per_sec: 1200,
                used_memory_human: "1.05M".into(),
                uptime_secs: 42,
            }
        );
    }
}
