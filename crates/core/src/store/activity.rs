//! What the server says its backends of our database are doing (`flashsale activity`): the
//! rows, the commit rates, the locks on `products`, and signalling one backend. PostgreSQL only
//! (`store/postgres/pg_activity.rs`); SQLite has no server, and says so in the type.

use std::time::Duration;

use super::row::from_row;

from_row! {
    /// One backend of our database, as `pg_stat_activity` has it.
    #[derive(Debug, Clone, PartialEq, serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct BackendRow {
        pub pid: i32,
        /// Its `application_name` (ours: `flashsale <command>`); empty when none was given.
        pub application: String,
        #[serde(rename = "user")]
        pub user_name: Option<String>,
        /// The client's address; `None` over a Unix socket or for a background process.
        pub client: Option<String>,
        /// `client backend`, `autovacuum worker`, ...
        pub backend_type: String,
        /// `active`, `idle`, `idle in transaction`, ...; `None` for background processes.
        pub state: Option<String>,
        /// The running query, or the last one when not active; in full.
        pub query: String,
        /// How long the query has run (active), or ran (otherwise).
        pub query_ms: Option<f64>,
        pub wait_event_type: Option<String>,
        pub wait_event: Option<String>,
        /// The backends whose locks this one waits for (`pg_blocking_pids`).
        pub blocked_by: Vec<i32>,
        /// The age of its open transaction.
        pub transaction_ms: Option<f64>,
        /// How long it has sat idle inside an open transaction (holding its locks).
        pub idle_in_transaction_ms: Option<f64>,
    }
}

from_row! {
    /// A lock on the `products` table (relation locks; a row lock shows only while someone
    /// waits for it: a `tuple` lock, and the waiter's `blockedBy`).
    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ProductLock {
        pub pid: i32,
        pub locktype: String,
        pub mode: String,
        pub granted: bool,
    }
}

/// Commits and rollbacks per second over an interval, from two samples of `pg_stat_database`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rates {
    pub commits_per_s: f64,
    pub rollbacks_per_s: f64,
    /// The interval between the two samples.
    pub interval_ms: u64,
}

/// The server's view of our database.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// The database's name.
    pub database: String,
    /// Every backend of the database but the one asking, oldest transaction first.
    pub backends: Vec<BackendRow>,
    pub rates: Rates,
    pub product_locks: Vec<ProductLock>,
}

impl Activity {
    /// The backend with the oldest open transaction, if any has one.
    pub fn longest_transaction(&self) -> Option<&BackendRow> {
        self.backends
            .iter()
            .filter_map(|b| b.transaction_ms.map(|ms| (ms, b)))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, b)| b)
    }
}

/// What to send a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Cancel its running query (`pg_cancel_backend`); the session stays.
    Cancel,
    /// End the session (`pg_terminate_backend`).
    Terminate,
}

/// What came of a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signalled {
    /// The server sent it.
    Sent,
    /// No backend of this database has that pid (it ended, or it is another database's).
    NoSuchBackend,
    /// The server would not: the function answered false (the process is gone, or not a
    /// server process).
    Refused,
    /// The role lacks the privilege (SQLSTATE 42501): the server's words.
    NotPermitted { role: String, message: String },
}

/// How long the two samples of the commit counters are apart.
pub const RATE_INTERVAL: Duration = Duration::from_secs(1);
