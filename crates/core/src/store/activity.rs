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

impl ProductLock {
    /// `4242 RowExclusiveLock`, `(waiting)` after a lock not granted yet: as `activity` and
    /// the dashboard list it.
    pub fn text(&self) -> String {
        let waiting = if self.granted { "" } else { " (waiting)" };
        format!("{} {}{waiting}", self.pid, self.mode)
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

impl Signal {
    /// The server function that sends it.
    pub fn function(self) -> &'static str {
        match self {
            Signal::Cancel => "pg_cancel_backend",
            Signal::Terminate => "pg_terminate_backend",
        }
    }
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

impl BackendRow {
    /// The application, or the backend type for a process that gave none.
    pub fn name(&self) -> String {
        if self.application.is_empty() {
            format!("({})", self.backend_type)
        } else {
            self.application.clone()
        }
    }
}

/// What SQLite cannot show, and why.
pub const NO_SERVER: &str = "activity needs PostgreSQL's server view: an SQLite file has no \
     server, so there are no backends, queries, waits, locks, transactions or commit rates to \
     show";

/// What came of sending `signal` to backend `pid` of `database`, in one sentence (the CLI
/// prints it, the dashboard logs it).
pub fn signal_outcome(signal: Signal, pid: i32, outcome: &Signalled, database: &str) -> String {
    let function = signal.function();
    match (outcome, signal) {
        (Signalled::Sent, Signal::Cancel) => {
            format!("{function}({pid}): sent; its query is being cancelled")
        }
        (Signalled::Sent, Signal::Terminate) => {
            format!("{function}({pid}): sent; its session is ending")
        }
        (Signalled::NoSuchBackend, _) => format!(
            "no backend {pid} in {database} (it ended, or it is another database's, or it is \
             this command's own): nothing sent"
        ),
        (Signalled::Refused, _) => format!(
            "{function}({pid}) answered false: the process is gone, or is not a PostgreSQL \
             server process"
        ),
        (Signalled::NotPermitted { role, message }, _) => {
            format!("the role {role} may not signal backend {pid}: {message}")
        }
    }
}

/// `850 ms`, `3.2 s`, `4m12s`, `2h03m`; `-` for none.
pub fn duration_text(ms: Option<f64>) -> String {
    let Some(ms) = ms.filter(|m| m.is_finite() && *m >= 0.0) else {
        return "-".into();
    };
    let secs = (ms / 1000.0) as u64;
    match ms {
        m if m < 1000.0 => format!("{m:.0} ms"),
        m if m < 60_000.0 => format!("{:.1} s", m / 1000.0),
        _ if secs < 3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// How long the two samples of the commit counters are apart.
pub const RATE_INTERVAL: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration_text(None), "-");
        assert_eq!(duration_text(Some(849.6)), "850 ms");
        assert_eq!(duration_text(Some(3_240.0)), "3.2 s");
        assert_eq!(duration_text(Some(252_000.0)), "4m12s");
        assert_eq!(duration_text(Some(7_380_000.0)), "2h03m");
        assert_eq!(duration_text(Some(f64::NAN)), "-");
    }

    #[test]
    fn a_refused_signal_names_the_role() {
        let refused = Signalled::NotPermitted {
            role: "sale_ro".into(),
            message: "permission denied to cancel query".into(),
        };
        assert_eq!(
            signal_outcome(Signal::Cancel, 42, &refused, "sale"),
            "the role sale_ro may not signal backend 42: permission denied to cancel query"
        );
    }
}
