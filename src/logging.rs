//! Logs go to a file in the state directory, never to the terminal: the dashboard owns the
//! screen, and scripts own stdout.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// The filter used when `FLASHSALE_LOG` is not set. sqlx logs every statement at debug level
/// and is kept to warnings (slow statements).
const DEFAULT_FILTER: &str = "info,sqlx=warn";

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
    let filter =
        EnvFilter::try_from_env("FLASHSALE_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}
