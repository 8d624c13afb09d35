//! The server's own counters an operator reads after latency (`INFO`: evictions, keyspace hits
//! and misses, blocked clients, rejected connections, memory against `maxmemory`) and the last
//! entries of `SLOWLOG GET`, which say *which* command was slow, not only that one was.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Entries asked of `SLOWLOG GET`.
pub const SLOWLOG_ENTRIES: usize = 10;
/// How often the slow log is read: it changes rarely, and reading it every report would add a
/// command per period to the server being watched.
pub const SLOWLOG_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// A logged command is cut to this many characters (arguments can be values of any size).
const COMMAND_MAX: usize = 160;

/// `INFO` counters, totals since the server started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RedisStats {
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub blocked_clients: u64,
    pub rejected_connections: u64,
    /// Bytes; 0 means no limit.
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    /// Bytes.
    pub used_memory: u64,
}

impl RedisStats {
    /// Hits over lookups, in percent; `None` before any lookup.
    pub fn hit_percent(&self) -> Option<f64> {
        let lookups = self.keyspace_hits + self.keyspace_misses;
        (lookups > 0).then(|| self.keyspace_hits as f64 * 100.0 / lookups as f64)
    }

    /// Used memory over `maxmemory`, in percent; `None` without a limit.
    pub fn memory_percent(&self) -> Option<f64> {
        (self.maxmemory > 0).then(|| self.used_memory as f64 * 100.0 / self.maxmemory as f64)
    }
}

/// Picks the counters out of an `INFO` reply (sections clients, stats, memory).
pub fn parse_stats(text: &str) -> RedisStats {
    let mut s = RedisStats::default();
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once(':') else {
            continue;
        };
        let n = || v.parse().unwrap_or(0);
        match k {
            "evicted_keys" => s.evicted_keys = n(),
            "keyspace_hits" => s.keyspace_hits = n(),
            "keyspace_misses" => s.keyspace_misses = n(),
            "blocked_clients" => s.blocked_clients = n(),
            "rejected_connections" => s.rejected_connections = n(),
            "maxmemory" => s.maxmemory = n(),
            "maxmemory_policy" => s.maxmemory_policy = v.to_string(),
            "used_memory" => s.used_memory = n(),
            _ => {}
        }
    }
    s
}

/// One `SLOWLOG GET` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlowlogEntry {
    pub id: u64,
    pub at: DateTime<Utc>,
    /// How long the command ran, in microseconds (the server's own measure, no network).
    pub duration_us: u64,
    /// The command and its arguments, as the server logged them (it cuts long ones itself),
    /// cut to 160 characters.
    pub command: String,
    /// The client's `ip:port`, as logged.
    pub client: String,
    /// On a Redis Cluster, the master that logged it (`host:port`); `None` for one server.
    pub node: Option<String>,
}

fn text(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        redis::Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn number(v: &redis::Value) -> Option<u64> {
    match v {
        redis::Value::Int(i) => u64::try_from(*i).ok(),
        other => text(other)?.parse().ok(),
    }
}

/// Reads a `SLOWLOG GET` reply; entries it cannot read are passed over, not fatal.
pub fn parse_slowlog(reply: &redis::Value, node: Option<&str>) -> Vec<SlowlogEntry> {
    let redis::Value::Array(entries) = reply else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            let redis::Value::Array(f) = e else {
                return None;
            };
            let args: Vec<String> = match f.get(3)? {
                redis::Value::Array(a) => a.iter().filter_map(text).collect(),
                _ => Vec::new(),
            };
            let mut command = args.join(" ");
            if command.chars().count() > COMMAND_MAX {
                command = command.chars().take(COMMAND_MAX - 3).collect::<String>() + "...";
            }
            let secs = i64::try_from(number(f.get(1)?)?).ok()?;
            Some(SlowlogEntry {
                id: number(f.first()?)?,
                at: DateTime::from_timestamp(secs, 0)?,
                duration_us: number(f.get(2)?)?,
                command,
                client: f.get(4).and_then(text).unwrap_or_default(),
                node: node.map(str::to_string),
            })
        })
        .collect()
}

/// The `SLOWLOG GET` command.
pub fn slowlog_cmd() -> redis::Cmd {
    let mut cmd = redis::cmd("SLOWLOG");
    cmd.arg("GET").arg(SLOWLOG_ENTRIES);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn stats_are_parsed_from_info() {
        let s = parse_stats(
            "# Clients\r\nblocked_clients:2\r\n# Memory\r\nused_memory:1048576\r\n\
             maxmemory:4194304\r\nmaxmemory_policy:allkeys-lru\r\n# Stats\r\n\
             rejected_connections:7\r\nevicted_keys:11\r\nkeyspace_hits:30\r\n\
             keyspace_misses:10\r\n",
        );
        assert_eq!(s.blocked_clients, 2);
        assert_eq!((s.used_memory, s.maxmemory), (1_048_576, 4_194_304));
        assert_eq!(s.maxmemory_policy, "allkeys-lru");
        assert_eq!((s.rejected_connections, s.evicted_keys), (7, 11));
        assert_eq!(s.hit_percent(), Some(75.0));
        assert_eq!(s.memory_percent(), Some(25.0));
        assert_eq!(RedisStats::default().hit_percent(), None, "no lookup yet");
        assert_eq!(RedisStats::default().memory_percent(), None, "no limit");
    }

    #[test]
    fn slowlog_entries_are_read_and_bad_ones_passed_over() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(14),
                Value::Int(1_700_000_000),
                Value::Int(1234),
                Value::Array(vec![bulk("EVALSHA"), bulk("abc"), bulk("1")]),
                bulk("127.0.0.1:5555"),
                bulk(""),
            ]),
            Value::Array(vec![Value::Int(13)]),
            Value::Nil,
        ]);
        let got = parse_slowlog(&reply, Some("10.0.0.1:7001"));
        assert_eq!(got.len(), 1, "{got:?}");
        let e = &got[0];
        assert_eq!((e.id, e.duration_us), (14, 1234));
        assert_eq!(e.command, "EVALSHA abc 1");
        assert_eq!(e.client, "127.0.0.1:5555");
        assert_eq!(e.at.timestamp(), 1_700_000_000);
        assert_eq!(e.node.as_deref(), Some("10.0.0.1:7001"));
        assert!(parse_slowlog(&Value::Okay, None).is_empty());
    }

    #[test]
    fn a_long_command_is_cut() {
        let long = "x".repeat(500);
        let reply = Value::Array(vec![Value::Array(vec![
            Value::Int(1),
            Value::Int(1),
            Value::Int(1),
            Value::Array(vec![bulk("SET"), bulk(&long)]),
        ])]);
        let got = parse_slowlog(&reply, None);
        assert_eq!(got[0].command.chars().count(), COMMAND_MAX);
        assert!(got[0].command.ends_with("..."));
    }
}
