//! Whether a transaction pooler (PgBouncer, RDS Proxy, Supavisor, pgcat) sits between us and
//! PostgreSQL, and what that changes. Behind one, each transaction may run on a different
//! server connection, so nothing may outlive a transaction on the server:
//!
//! - no startup `options` (PgBouncer refuses them) and no session `SET`: the statement timeout
//!   and `TimeZone` are set with `SET LOCAL` in every transaction, and every operation runs in
//!   one (the `BEGIN` and the `SET`s are one simple query: one round trip);
//! - no named prepared statements (another client could meet ours on the same server
//!   connection, or ours be gone on the next): every statement is parsed unnamed, inside the
//!   transaction, so its parse and its execution reach the same server;
//! - no session advisory locks (migrations take a transaction-level one) and no `LISTEN`
//!   (restocks by other processes are then heard through `database_listen_url`, or seen when the
//!   sold-out memory expires).
//!
//! The pooler is detected, not configured: PgBouncer refuses the startup parameter `options`
//! (the connection is then retried without it), and one that was told to ignore it is caught by
//! the session's `statement_timeout` not being the one we asked for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How the statements of one operation reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// A connection of our own to PostgreSQL: session settings from the startup packet,
    /// statements prepared once per connection and cached.
    Direct,
    /// Through a transaction pooler: see the module's documentation.
    Pooled,
}

impl Route {
    /// Whether statements may be prepared under a name and cached on the connection.
    pub(crate) fn persistent(self) -> bool {
        self == Route::Direct
    }
}

/// What this store has learnt about its way to the server, shared by its connections.
#[derive(Debug, Default)]
pub(crate) struct PoolerState {
    pooled: AtomicBool,
}

impl PoolerState {
    pub(crate) fn route(&self) -> Route {
        if self.pooled.load(Ordering::Acquire) {
            Route::Pooled
        } else {
            Route::Direct
        }
    }

    /// Records that a pooler is in between; true for the caller that learnt it first (which
    /// says so in the log, once).
    pub(crate) fn learn_pooled(&self) -> bool {
        !self.pooled.swap(true, Ordering::AcqRel)
    }
}

/// The startup parameter a pooler refused, if that is what `error` is: PgBouncer answers
/// `08P01 unsupported startup parameter: <name>`.
pub(crate) fn refused_startup_parameter(error: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(e) = error else {
        return None;
    };
    if e.code().as_deref() != Some("08P01") {
        return None;
    }
    e.message()
        .strip_prefix("unsupported startup parameter")
        .map(|rest| rest.trim_start_matches([':', ' ']).to_string())
}

/// The statement that opens every transaction behind a pooler: the session settings a direct
/// connection gets at startup, for this transaction only.
pub(crate) fn begin_pooled(statement_timeout: Duration) -> String {
    format!(
        "BEGIN; SET LOCAL statement_timeout = {}; SET LOCAL TimeZone = 'UTC'",
        statement_timeout.as_millis()
    )
}

/// Asks the session for its statement timeout in milliseconds (`pg_settings` gives the raw
/// number, whatever unit `SHOW` would print). A simple query: valid before we know the route.
pub(crate) const SESSION_STATEMENT_TIMEOUT: &str =
    "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pooler_is_learnt_once() {
        let s = PoolerState::default();
        assert_eq!(s.route(), Route::Direct);
        assert!(s.learn_pooled(), "the first to learn it logs it");
        assert!(!s.learn_pooled(), "the others do not");
        assert_eq!(s.route(), Route::Pooled);
        assert!(!Route::Pooled.persistent());
    }

    #[test]
    fn the_prelude_sets_both_session_settings_for_the_transaction() {
        assert_eq!(
            begin_pooled(Duration::from_millis(250)),
            "BEGIN; SET LOCAL statement_timeout = 250; SET LOCAL TimeZone = 'UTC'"
        );
    }
}
