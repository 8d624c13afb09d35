//! The database activity source (the dashboard's `d` view): `Store::activity` (the backends
//! of our database, commit rates, locks on `products`) polled again as soon as one answers.
//! One poll already spans `RATE_INTERVAL` (two reads of the commit counters), so the view
//! refreshes about once a second. Started only while the view is open: it costs a connection
//! and two queries a second that nobody would look at otherwise.

use flashsale_core::store::Store;
use flashsale_core::store::activity::Activity;

use crate::driver::{Sampler, Step, StepContext};
use crate::{Source, Update};

/// `pg_stat_activity` of our database, for the activity view.
#[derive(Debug)]
pub struct ActivitySampler {
    store: Store,
}

impl ActivitySampler {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl Sampler for ActivitySampler {
    /// `None`: the backend has no server to ask (SQLite).
    type Data = Option<Activity>;

    fn source(&self) -> Source {
        Source::Activity
    }

    async fn step(&mut self, _cx: StepContext) -> Step<Option<Activity>> {
        match self.store.activity().await {
            // The poll took RATE_INTERVAL already: the next follows at once.
            Ok(Some(a)) => Step::More(Some(a)),
            // SQLite will not grow a server: said once a period is plenty.
            Ok(None) => Step::Data(None),
            Err(e) => Step::Failed {
                error: e.to_string(),
                partial: None,
            },
        }
    }

    fn update(data: Option<Activity>) -> Update {
        Update::Activity(data)
    }
}
