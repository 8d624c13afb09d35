//! The dashboard without a terminal: `dashboard --once --json` (and `dashboard` when stdout is
//! not a terminal) prints one snapshot of every pane's data; the `[alerts]` thresholds are read
//! here for both faces.

pub(crate) mod opening;

pub use opening::{BurstJson, EventJson};

use serde::Serialize;

use flashsale_core::config::source::Section;
use flashsale_core::config::{ConfigError, Settings};
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::{OpenMode, Store};
use flashsale_monitor::{Monitor, RedisTarget, Snapshot, Thresholds};

/// The `[alerts]` table over the defaults; unknown keys and bad values name file:line.
pub fn thresholds(section: Option<&Section>) -> Result<Thresholds, ConfigError> {
    let mut t = Thresholds::default();
    let Some(section) = section else {
        return Ok(t);
    };
    for e in &section.entries {
        let err = |message: String| ConfigError::File {
            path: section.path.clone(),
            line: e.line,
            column: 1,
            key: Some(format!("alerts.{}", e.name)),
            message,
        };
        let number = e
            .value
            .as_float()
            .or_else(|| e.value.as_integer().map(|i| i as f64))
            .filter(|v| *v >= 0.0 && v.is_finite())
            .ok_or_else(|| err("expected a number, 0 or more".into()));
        match e.name.as_str() {
            "redis_ping_ms" => t.redis_ping_ms = number?,
            "error_rate_percent" => t.error_rate_percent = number?,
            "pool_waiters" => t.pool_waiters = number? as i64,
            "low_stock" => t.low_stock = number?.min(f64::from(i32::MAX)) as i32,
            "replica_lag_ms" => t.replica_lag_ms = number? as u64,
            _ => {
                return Err(err(
                    "unknown threshold (known: redis_ping_ms, error_rate_percent, pool_waiters, \
                     low_stock, replica_lag_ms)"
                        .into(),
                ));
            }
        }
    }
    Ok(t)
}

/// One snapshot with what it was taken from.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OnceReport {
    pub database: String,
    pub backend: flashsale_core::config::BackendKind,
    /// The masked URL (`redis` is the Redis pane's data).
    pub redis_url: Option<String>,
    pub rate_limit: String,
    pub strategy: flashsale_core::strategy::Strategy,
    pub thresholds: Thresholds,
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// The burst `b` would fire.
    pub burst: BurstJson,
    /// What the Events pane shows at that moment.
    pub events: Vec<EventJson>,
}

/// Takes the snapshot; an error when the database cannot even be opened.
pub async fn snapshot(settings: &Settings, thresholds: &Thresholds) -> Result<OnceReport, String> {
    let store = Store::open(&settings.database, &settings.pool)
        .await
        .map_err(|e| e.to_string())?;
    let limiter = RateLimiter::new(settings.limits.clone(), settings.redis_url.as_ref())
        .map_err(|e| e.to_string())?;
    let reads = crate::read_route(settings, &store, OpenMode::Create).await?;
    let monitor = Monitor {
        purchase_store: store.clone(),
        reads: reads.clone(),
        redis: settings.redis_url.clone().map(|url| RedisTarget {
            url,
            timeout: settings.limits.redis_timeout,
            key_prefix: settings.limits.key_prefix.clone(),
        }),
    };
    let mut snapshot = monitor.snapshot_once(thresholds).await;
    if let Some((replica, _)) = reads.replica() {
        replica.close().await;
    }
    store.close().await;
    let conn = crate::connection(settings, &limiter.describe());
    let found = oversells(&conn.database);
    snapshot
        .alerts
        .splice(0..0, found.iter().map(flashsale_monitor::alerts::oversold));
    let (burst, events, _) = opening::panes(
        conn,
        Some(settings.strategy),
        thresholds,
        snapshot.taken_at,
        opening::direct_updates(&snapshot),
        found,
    );
    Ok(OnceReport {
        database: settings.database.to_string(),
        backend: settings.database.kind(),
        redis_url: settings.redis_url.as_ref().map(ToString::to_string),
        rate_limit: limiter.describe(),
        strategy: settings.strategy,
        thresholds: *thresholds,
        snapshot,
        burst,
        events,
    })
}

/// Prints the snapshot as JSON; whether every source answered (the JSON is printed either way,
/// with the errors in it), or why there is no snapshot.
pub async fn print_once(settings: &Settings, thresholds: &Thresholds) -> Result<bool, String> {
    let report = snapshot(settings, thresholds)
        .await
        .map_err(|e| e.to_string())?;
    print_report(&report, report.snapshot.errors.is_empty())
}

/// One snapshot over the API, with where it was taken.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiOnceReport {
    /// The API's base URL, credentials masked.
    pub api: String,
    pub thresholds: Thresholds,
    #[serde(flatten)]
    pub snapshot: flashsale_monitor::over_http::ApiSnapshot,
    /// `--api A,B,C`: each replica as the Replicas pane shows it; absent for one URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Vec<crate::state::replica_rows::ReplicaJson>>,
    /// The burst `b` would fire (over HTTP, with the server's strategy).
    pub burst: BurstJson,
    /// What the Events pane shows at that moment.
    pub events: Vec<EventJson>,
}

/// Prints the snapshot taken over the API as JSON; whether every source answered and the
/// server reports itself healthy (the JSON is printed either way).
pub async fn print_once_api(
    source: &crate::ApiSource,
    thresholds: &Thresholds,
) -> Result<bool, String> {
    let mut monitor = flashsale_monitor::over_http::ApiMonitor::new(source.client.clone());
    monitor.replicas = source.replicas.clone();
    let mut snapshot = monitor.snapshot_once(thresholds).await;
    let conn = crate::api_connection(source);
    let found = oversells(&conn.database);
    snapshot
        .alerts
        .splice(0..0, found.iter().map(flashsale_monitor::alerts::oversold));
    let (burst, events, replicas) = opening::panes(
        conn.clone(),
        None,
        thresholds,
        snapshot.taken_at,
        opening::api_updates(&snapshot),
        found,
    );
    let report = ApiOnceReport {
        api: conn.database,
        thresholds: *thresholds,
        snapshot,
        replicas: (!replicas.is_empty()).then_some(replicas),
        burst,
        events,
    };
    print_report(&report, report.snapshot.all_well())
}

/// The oversells the dashboard found on `database` and nobody acknowledged: the snapshot's top
/// alerts. A file that cannot be read is said on stderr (the snapshot is printed anyway).
fn oversells(database: &str) -> Vec<flashsale_monitor::Oversell> {
    use std::io::Write as _;
    let file = flashsale_monitor::oversells::file();
    flashsale_monitor::oversells::load(&file, database).unwrap_or_else(|e| {
        let _ = writeln!(
            std::io::stderr(),
            "flashsale: warning: oversells unknown: {e}"
        );
        Vec::new()
    })
}

/// Prints a `--once` report as JSON, whatever it holds; passes `all_well` on.
fn print_report(report: &impl serde::Serialize, all_well: bool) -> Result<bool, String> {
    use std::io::Write as _;
    let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    // Not `println!`: it panics when stdout is gone (a closed pipe, a killed terminal).
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    Ok(all_well)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_core::config::source::Layer;
    use std::path::Path;

    fn parse(text: &str) -> Result<Thresholds, ConfigError> {
        let layer = Layer::from_toml(Path::new("/c/config.toml"), text)?;
        thresholds(layer.section("alerts"))
    }

    #[test]
    fn thresholds_come_from_the_alerts_table() {
        let t = parse("[alerts]\nredis_ping_ms = 20\nlow_stock = 3\nerror_rate_percent = 2.5\n")
            .expect("valid");
        assert_eq!(t.redis_ping_ms, 20.0);
        assert_eq!(t.low_stock, 3);
        assert_eq!(t.error_rate_percent, 2.5);
        assert_eq!(t.pool_waiters, Thresholds::default().pool_waiters);
    }

    #[test]
    fn bad_thresholds_name_file_line_and_key() {
        let e = parse("[alerts]\nredis_ping_ms = \"fast\"\n").expect_err("string");
        assert!(e.to_string().starts_with("/c/config.toml:2:"), "{e}");
        assert!(e.to_string().contains("alerts.redis_ping_ms"), "{e}");
        let e = parse("[alerts]\n\nlow_stok = 3\n").expect_err("unknown");
        assert!(e.to_string().starts_with("/c/config.toml:3:"), "{e}");
        assert!(e.to_string().contains("unknown threshold"), "{e}");
    }
}
