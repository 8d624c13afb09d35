//! The read replica's own source: asks the primary where its WAL is, then the replica where
//! its replay is, and reports the lag between the two (bytes, and the age of the last commit
//! replayed while any WAL is left). It is also what brings a replica that was taken out of
//! use back: its answer puts the reads on it again; its failure keeps them on the primary.

use super::read_route::ReadRoute;
use crate::driver::{Sampler, Step, StepContext};
use crate::read_replica::ReadReplicaSnapshot;
use crate::{Source, Update};

/// Polls the replica's position against the primary's.
#[derive(Debug)]
pub struct ReadReplicaSampler {
    route: ReadRoute,
}

impl ReadReplicaSampler {
    pub(super) fn new(route: ReadRoute) -> Self {
        Self { route }
    }
}

impl Sampler for ReadReplicaSampler {
    type Data = ReadReplicaSnapshot;

    fn source(&self) -> Source {
        Source::ReadReplica
    }

    async fn step(&mut self, _cx: StepContext) -> Step<ReadReplicaSnapshot> {
        let Some((replica, url)) = self.route.replica() else {
            return Step::Withheld("no read replica configured".into());
        };
        let url = url.to_string();
        // The primary first: a replica read after it that replayed more since reads as caught
        // up, never as ahead.
        let primary = self.route.primary().wal_position().await;
        match replica.wal_position().await {
            Ok(standby) => {
                self.route.mark_up();
                let (lag, primary_error) = match (&standby, primary) {
                    (Some(s), Ok(Some(p))) => (Some(s.lag_behind(&p)), None),
                    (_, Err(e)) => (None, Some(e.to_string())),
                    _ => (None, None),
                };
                Step::Data(ReadReplicaSnapshot {
                    url,
                    reads_from: self.route.reads_from(),
                    in_recovery: standby.map(|s| s.in_recovery),
                    lag_bytes: lag.map(|l| l.bytes),
                    lag_ms: lag
                        .and_then(|l| l.time)
                        .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
                    primary_error,
                    down_since: None,
                    error: None,
                })
            }
            Err(e) => {
                self.route.mark_down(&e);
                let error = e.to_string();
                Step::Failed {
                    partial: Some(ReadReplicaSnapshot {
                        url,
                        reads_from: self.route.reads_from(),
                        in_recovery: None,
                        lag_bytes: None,
                        lag_ms: None,
                        primary_error: None,
                        down_since: self.route.replica_down_since(),
                        error: Some(error.clone()),
                    }),
                    error,
                }
            }
        }
    }

    fn update(data: ReadReplicaSnapshot) -> Update {
        Update::ReadReplica(data)
    }
}
