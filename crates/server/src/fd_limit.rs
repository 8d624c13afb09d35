//! The descriptor limit: raised from the soft to the hard limit at start (every connection is a
//! descriptor, and distributions leave the soft one at 1024), and what is left of it for
//! client connections.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept for everything that is not a served connection (besides the database
/// pool): Redis, the listener, the log, SQLite's files, the restock listener (64); refusals
/// being written (64, `accept::REFUSING_AT_ONCE`) and evicted connections still closing (128,
/// `connections::CLOSING_ALLOWANCE`), and 32 to spare.
pub const RESERVE: u64 = 288;
/// However low the limits, this many connections are allowed.
pub const MIN_CONNECTIONS: usize = 16;

/// Raises the soft `RLIMIT_NOFILE` to the hard one; returns (before, after) soft limits.
pub fn raise_nofile() -> (Option<u64>, Option<u64>) {
    let before = getrlimit(Resource::Nofile);
    if before.current != before.maximum {
        let raised = Rlimit {
            current: before.maximum,
            maximum: before.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, soft = ?before.current, hard = ?before.maximum,
                "could not raise the descriptor limit");
        }
    }
    let after = getrlimit(Resource::Nofile);
    (before.current, after.current)
}

/// The connection limit when none is configured: the soft descriptor limit less the reserve
/// and the database pool.
pub fn auto_max_connections(pool: u32) -> usize {
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(1 << 20);
    let usable = soft.saturating_sub(RESERVE + u64::from(pool));
    usize::try_from(usable)
        .unwrap_or(usize::MAX)
        .clamp(MIN_CONNECTIONS, 1 << 20)
}
