//! Idempotency-key lookups gathered into one query. A keyed purchase asks for its key's record
//! when the key turns out to be taken, when the limiter refused it, or (naive) before buying;
//! in a retry storm, asked one query each, those lookups would cost the database as much as
//! the purchases themselves, which share a statement per batch. Here one task runs one lookup
//! query at a time, and the keys asked while it is in flight go together into the next:
//! `key = ANY(...)` on PostgreSQL, `IN (json_each(...))` on SQLite. No timer: a lone lookup
//! goes at once. Each caller gets the record of its own key, or none.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::backend::Backend;
use super::{KeyedSale, StoreError};

/// Most keys in one lookup query (a batch of purchases is at most 256 too).
const MAX_KEYS: usize = 256;
/// The task with nothing to look up for this long ends; the next lookup starts a new one.
const IDLE_EXIT: Duration = Duration::from_secs(10);

type Answer = Result<Option<KeyedSale>, StoreError>;

struct Job {
    key: String,
    reply: oneshot::Sender<Answer>,
}

/// The lookup task's queue, shared by a store's clones.
#[derive(Default)]
pub struct KeyLookups {
    queue: Mutex<Option<mpsc::UnboundedSender<Job>>>,
}

impl std::fmt::Debug for KeyLookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLookups").finish_non_exhaustive()
    }
}

impl KeyLookups {
    /// What `key` recorded, if anything, looked up with the keys asked at the same moment.
    pub async fn lookup(&self, backend: &Arc<dyn Backend>, key: &str) -> Answer {
        let (reply, answer) = oneshot::channel();
        let mut job = Job {
            key: key.to_string(),
            reply,
        };
        // A task that just ended on idleness closed its queue: start another and resend.
        loop {
            let queue = self.queue(backend);
            match queue.send(job) {
                Ok(()) => break,
                Err(mpsc::error::SendError(back)) => {
                    job = back;
                    self.drop_queue(&queue);
                }
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Other("the key lookup task ended".into())))
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, Option<mpsc::UnboundedSender<Job>>> {
        // A poisoned lock only means a holder panicked between plain field writes.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn queue(&self, backend: &Arc<dyn Backend>) -> mpsc::UnboundedSender<Job> {
        let mut queue = self.guard();
        match &*queue {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let (tx, rx) = mpsc::unbounded_channel();
                *queue = Some(tx.clone());
                tokio::spawn(gather(Arc::clone(backend), rx));
                tx
            }
        }
    }

    /// Forgets `closed` unless another caller has already replaced it.
    fn drop_queue(&self, closed: &mpsc::UnboundedSender<Job>) {
        let mut queue = self.guard();
        if queue.as_ref().is_some_and(|tx| tx.same_channel(closed)) {
            *queue = None;
        }
    }
}

/// Takes what has queued (up to [`MAX_KEYS`]), looks it up in one query, answers everyone,
/// repeats; ends after [`IDLE_EXIT`] without a lookup.
async fn gather(backend: Arc<dyn Backend>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_KEYS);
    while super::batch::take_queued(&mut rx, &mut jobs, MAX_KEYS, IDLE_EXIT).await {
        let mut keys: Vec<String> = jobs.iter().map(|j| j.key.clone()).collect();
        keys.sort_unstable();
        keys.dedup();
        match backend.idempotency_lookup_many(&keys).await {
            Ok(found) => {
                let found: HashMap<String, Result<KeyedSale, StoreError>> =
                    found.into_iter().collect();
                for job in jobs.drain(..) {
                    let _ = job.reply.send(found.get(&job.key).cloned().transpose());
                }
            }
            Err(e) => {
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}
