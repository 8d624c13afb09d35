//! Logs go to a file in the state directory, never to the terminal: the dashboard owns the
//! screen, and scripts own stdout. The file is rotated by size (`LOG_MAX_MB`, `LOG_FILES`);
//! the filter is `FLASHSALE_LOG`, else `LOG_LEVEL`, else [`DEFAULT_FILTER`].

mod rotate;

use std::path::Path;

use flashsale_core::config::LogSettings;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter used when `FLASHSALE_LOG` is not set. sqlx logs every statement at debug level
/// and is kept to warnings (slow statements).
const DEFAULT_FILTER: &str = "info,sqlx=warn";

fn default_filter() -> Targets {
    DEFAULT_FILTER
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO))
}

/// The filter: `FLASHSALE_LOG` over `LOG_LEVEL` over the default; one that does not parse is
/// passed over.
fn filter(flashsale_log: Option<String>, log_level: Option<&str>) -> Targets {
    [flashsale_log.as_deref(), log_level]
        .into_iter()
        .flatten()
        .filter(|v| !v.trim().is_empty())
        .find_map(|v| v.trim().parse::<Targets>().ok())
        .unwrap_or_else(default_filter)
}

/// Starts logging to `path`. Returns the guard that flushes on drop, or `None` (and logs
/// nothing) when the file cannot be opened: a read-only home must not stop a sale.
pub fn init(path: &Path, settings: &LogSettings) -> Option<WorkerGuard> {
    let dir = path.parent()?;
    std::fs::create_dir_all(dir).ok()?;
    let file = rotate::RotatingFile::open(path, settings.max_bytes, settings.files).ok()?;
    // Lossy when it falls behind (the default): a log must never slow a sale down.
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = filter(
        std::env::var("FLASHSALE_LOG").ok(),
        settings.level.as_deref(),
    );
    tracing_subscriber::fmt()
        // The builder's own ceiling is INFO; `filter` alone decides.
        .with_max_level(tracing::level_filters::LevelFilter::TRACE)
        .with_writer(writer)
        .with_ansi(false)
        .finish()
        .with(filter)
        .try_init()
        .ok()?;
    Some(guard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(t: &Targets, level: Level) -> bool {
        t.would_enable("flashsale", &level)
    }

    #[test]
    fn flashsale_log_wins_over_log_level_over_the_default() {
        let warn = filter(None, Some("warn"));
        assert!(!enabled(&warn, Level::INFO) && enabled(&warn, Level::WARN));
        let debug = filter(Some("debug".into()), Some("warn"));
        assert!(enabled(&debug, Level::DEBUG));
        let default = filter(None, None);
        assert!(enabled(&default, Level::INFO) && !enabled(&default, Level::DEBUG));
        let bad = filter(Some("=#!".into()), Some("error"));
        assert!(!enabled(&bad, Level::WARN) && enabled(&bad, Level::ERROR));
    }
}
