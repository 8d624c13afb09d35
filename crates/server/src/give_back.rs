//! Memory given back after a flood of connections. Each connection's buffers are freed when it
//! closes, but glibc's allocator keeps the freed pages in its arenas for reuse, so a server that
//! once held a thousand connections stays at that size for good (issue 14: 132 MB -> 376 MB
//! after a flood, never returned). When the connections open have fallen to a quarter of the
//! peak since the last look, after a peak worth caring about, the allocator is asked to return
//! its free pages (`malloc_trim`), and the figures are logged.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::connections::Connections;

/// How often the connections are looked at.
const EVERY: Duration = Duration::from_secs(2);
/// A peak below this many connections is not a flood: what it left is not worth a trim.
const FLOOD: usize = 256;

/// Watches `connections` until `stop`, trimming after each flood.
pub async fn after_floods(connections: Arc<Connections>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let (peak, open) = connections.take_peak();
        if peak < FLOOD || open > peak / 4 {
            continue;
        }
        let before = resident_kib();
        // Off the runtime's threads: the trim walks and locks every arena in turn.
        let trimmed = tokio::task::spawn_blocking(allocator::trim)
            .await
            .unwrap_or(false);
        let after = resident_kib();
        tracing::info!(
            peak_connections = peak,
            open_connections = open,
            resident_mib_before = before.map(|k| k / 1024),
            resident_mib_after = after.map(|k| k / 1024),
            trimmed,
            "connection flood over; free memory given back to the system"
        );
    }
}

/// This process's resident set in KiB (`VmRSS` of `/proc/self/status`), where there is one.
pub fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// glibc's `malloc_trim` where there is one; elsewhere nothing (musl, macOS and Windows
/// return large free blocks themselves).
mod allocator {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[expect(
        unsafe_code,
        reason = "glibc's malloc_trim has no safe binding; see the block's SAFETY note"
    )]
    mod glibc {
        // SAFETY: `malloc_trim` takes a size and no pointers, and glibc locks each arena while
        // it trims it, so it is sound to call from any thread at any time; declared `safe`.
        unsafe extern "C" {
            pub safe fn malloc_trim(pad: usize) -> i32;
        }
    }

    /// Asks the allocator to return the free pages of every arena; whether any were returned.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    pub fn trim() -> bool {
        glibc::malloc_trim(0) == 1
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    pub fn trim() -> bool {
        false
    }
}
