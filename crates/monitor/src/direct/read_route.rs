//! Where the samplers' reads go: a PostgreSQL streaming replica (`--replica-url`) while it
//! answers, else the primary. A read the replica fails marks it down and is made on the primary
//! at once, so a replica going away costs the panes one failed query, not a gap; reads stay on
//! the primary until the read-replica sampler finds the replica answering again.
//!
//! Only the samplers' reads for watching come here (stock, sales). Purchases, restocks, the
//! audit, the drill-down's orders and `pg_stat_activity` (each server shows only its own
//! backends) never do: they use the primary's stores directly.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::read_replica::ReadsFrom;
use flashsale_core::store::{Store, StoreError};

/// The primary, and the replica when one is configured.
#[derive(Debug, Clone)]
pub struct ReadRoute {
    primary: Store,
    replica: Option<Arc<Replica>>,
}

#[derive(Debug)]
struct Replica {
    store: Store,
    /// The URL as shown (password masked).
    shown: String,
    /// Since when it is out of use, while it is.
    down_since: Mutex<Option<DateTime<Utc>>>,
}

impl ReadRoute {
    /// Every read on `primary`.
    pub fn primary_only(primary: Store) -> Self {
        Self {
            primary,
            replica: None,
        }
    }

    /// Reads on `replica` (shown as `shown`) while it answers. Not known down before a read or
    /// the sampler says so: it may still be starting.
    pub fn with_replica(primary: Store, replica: Store, shown: String) -> Self {
        Self {
            primary,
            replica: Some(Arc::new(Replica {
                store: replica,
                shown,
                down_since: Mutex::new(None),
            })),
        }
    }

    pub fn primary(&self) -> &Store {
        &self.primary
    }

    /// The replica's store and its URL as shown, when one is configured.
    pub fn replica(&self) -> Option<(&Store, &str)> {
        self.replica
            .as_deref()
            .map(|r| (&r.store, r.shown.as_str()))
    }

    pub fn reads_from(&self) -> ReadsFrom {
        self.pick().1
    }

    /// Since when the replica is out of use, while it is.
    pub fn replica_down_since(&self) -> Option<DateTime<Utc>> {
        self.replica.as_deref().and_then(Replica::down_since)
    }

    /// Takes the replica out of use (the first failure's time is kept).
    pub fn mark_down(&self, error: &StoreError) {
        if let Some(r) = &self.replica {
            let mut down = r.down_since.lock().unwrap_or_else(|p| p.into_inner());
            if down.is_none() {
                tracing::warn!(replica = %r.shown, %error, "read replica down: reading from the primary");
                *down = Some(Utc::now());
            }
        }
    }

    /// Puts the replica back in use.
    pub fn mark_up(&self) {
        if let Some(r) = &self.replica {
            let mut down = r.down_since.lock().unwrap_or_else(|p| p.into_inner());
            if down.take().is_some() {
                tracing::info!(replica = %r.shown, "read replica answers again: reading from it");
            }
        }
    }

    /// The server to read from now: the replica while it is in use, else the primary.
    pub fn pick(&self) -> (Store, ReadsFrom) {
        match &self.replica {
            Some(r) if r.down_since().is_none() => (r.store.clone(), ReadsFrom::Replica),
            _ => (self.primary.clone(), ReadsFrom::Primary),
        }
    }

    /// Runs `read` on the server [`pick`](Self::pick) gives. A replica that fails it is taken
    /// out of use and the read is made on the primary at once.
    pub async fn read<T, Fut>(&self, read: impl Fn(Store) -> Fut) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let (store, from) = self.pick();
        match read(store).await {
            Err(e) if from == ReadsFrom::Replica => {
                self.mark_down(&e);
                read(self.primary.clone()).await
            }
            other => other,
        }
    }
}

impl Replica {
    fn down_since(&self) -> Option<DateTime<Utc>> {
        *self.down_since.lock().unwrap_or_else(|p| p.into_inner())
    }
}
