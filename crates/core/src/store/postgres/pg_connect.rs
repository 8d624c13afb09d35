//! Why no connection could be had. sqlx's pool retries a refused connection until the acquire
//! timeout and then reports only "timed out", the same words as a pool whose every connection is
//! in use: one answer for a server that is down and one that is saturated. (The pool's size
//! does not tell them apart: it counts connections still being attempted.) So when an acquire
//! times out, one direct connection attempt finds out which class it is
//! (`failure::ConnectFailure`). One probe at a time, its verdict kept for a second: a storm of
//! timed-out purchases waits for the one probe in flight and shares its answer.

use std::time::Instant;

use tokio::sync::Mutex;

use super::*;
use crate::failure::ConnectFailure;

/// How long a probe's verdict answers for every acquire that times out.
const VERDICT_KEPT: Duration = Duration::from_secs(1);
/// A probe waits at least this long for the server (an acquire timeout of a few ms would
/// otherwise call every server stalled).
const PROBE_AT_LEAST: Duration = Duration::from_millis(1000);

/// The last probe's verdict.
#[derive(Debug, Default)]
pub(crate) struct Diagnosis {
    last: Mutex<Option<(Instant, StoreError)>>,
}

impl PgBackend {
    /// `host:port` as the connection options name them (a socket path, if one is used).
    pub(super) fn server(&self) -> (String, String, String) {
        let options = self.pool.connect_options();
        let host = options.get_host().to_string();
        let server = match options.get_socket() {
            Some(path) => path.display().to_string(),
            None => format!("{host}:{}", options.get_port()),
        };
        let name = options
            .get_database()
            .unwrap_or(options.get_username())
            .to_string();
        (host, server, name)
    }

    /// A driver error of an acquire, in its class.
    pub(super) async fn acquire_error(&self, err: sqlx::Error) -> StoreError {
        let (host, server, name) = self.server();
        match err {
            sqlx::Error::PoolTimedOut => self.probe(&host, &server, &name).await,
            other => StoreError::connecting(other, &host, &server, &name),
        }
    }

    /// One direct connection attempt, or the verdict of one made in the last second.
    async fn probe(&self, host: &str, server: &str, name: &str) -> StoreError {
        // Held across the probe: the others wait for its verdict instead of probing too.
        let mut last = self.diagnosis.last.lock().await;
        if let Some((at, verdict)) = last.as_ref()
            && at.elapsed() < VERDICT_KEPT
        {
            return verdict.clone();
        }
        let bound = self.acquire_timeout.max(PROBE_AT_LEAST);
        let options = self.pool.connect_options();
        let verdict = match tokio::time::timeout(bound, PgConnection::connect_with(&options)).await
        {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                // The server is there: every pooled connection is in use, or none was ready.
                StoreError::Connect(ConnectFailure::PoolExhausted {
                    open: self.pool.size().saturating_sub(self.pool.num_idle() as u32),
                    max: self.max_connections,
                    waited: self.acquire_timeout,
                })
            }
            Ok(Err(e)) => StoreError::connecting(e, host, server, name),
            Err(_) => StoreError::Connect(ConnectFailure::Timeout {
                server: server.to_string(),
                waited: bound,
            }),
        };
        *last = Some((Instant::now(), verdict.clone()));
        verdict
    }
}
