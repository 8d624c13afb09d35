//! A hook that widens the gap between the `naive` strategy's read and its write, so that tests
//! and demonstrations can show its lost updates deterministically instead of by luck.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Barrier;

/// What the `naive` strategy does between reading the stock and writing it back.
#[derive(Debug, Clone)]
pub enum RaceHook {
    /// Sleep this long: with enough concurrent buyers, their reads all land inside the gap.
    Delay(Duration),
    /// Wait until this many purchases have read the stock: every one of them then writes a value
    /// computed from the same read, so all but one of their decrements are lost. Exact, for tests.
    Rendezvous(Arc<Barrier>),
}

impl RaceHook {
    pub fn rendezvous(buyers: usize) -> Self {
        RaceHook::Rendezvous(Arc::new(Barrier::new(buyers)))
    }

    pub(crate) async fn wait(&self) {
        match self {
            RaceHook::Delay(d) => tokio::time::sleep(*d).await,
            RaceHook::Rendezvous(b) => {
                b.wait().await;
            }
        }
    }
}
