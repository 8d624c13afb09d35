//! What the dashboard knows of its read replica (`--replica-url`): where the reads go, and the
//! replica's lag as the read-replica sampler (`direct`) last found it. Data only, for the pane,
//! the alert rules and `--once --json` alike.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Which server the reads go to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadsFrom {
    Replica,
    Primary,
}

/// What the pool pane shows of the read replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadReplicaSnapshot {
    /// Its URL, password masked.
    pub url: String,
    /// Where the dashboard's stock and sales reads go now.
    pub reads_from: ReadsFrom,
    /// `pg_is_in_recovery()`: `false` for a server that is no standby (a promoted replica, or
    /// the primary itself named again), whose figures need not be the primary's.
    pub in_recovery: Option<bool>,
    /// WAL the primary has written that the replica has not replayed.
    pub lag_bytes: Option<u64>,
    /// How far behind in time: 0 when caught up, else the age of its last replayed commit;
    /// `null` when unknown (behind, with no commit replayed since it started).
    pub lag_ms: Option<u64>,
    /// Why the lag is unknown though the replica answered (the primary did not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_error: Option<String>,
    /// Set while it is out of use: since when.
    pub down_since: Option<DateTime<Utc>>,
    pub error: Option<String>,
}
