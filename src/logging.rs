//! Logs go to a file in the state directory, never to the terminal: the dashboard owns the
//! screen, and scripts own stdout.

use std::path::Path;

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

/// Starts logging to `path`. Returns the guard that flushes on drop, or `None` (and logs
/// nothing) when the file cannot be opened: a read-only home must not stop a sale.
pub fn init(path: &Path) -> Option<WorkerGuard> {
    let dir = path.parent()?;
    std::fs::create_dir_all(dir).ok()?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = std::env::var("FLASHSALE_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(default_filter);
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
