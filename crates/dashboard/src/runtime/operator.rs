//! The operator's effects: the activity sampler started while the view is open (on a
//! one-connection store of its own, so a burst holding every purchase connection cannot starve
//! it, and so the one backend `Store::activity` leaves out is the sampler's), signals sent to a
//! backend, and rate-limit windows looked up and reset.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::app::Effect;
use crate::event::Event;
use crate::state::{Found, Who};
use crate::{DataSource, Options};
use flashsale_core::config::{DatabaseTarget, PoolSettings};
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::{OpenMode, Store};
use flashsale_monitor::{ActivitySampler, Control, Source, Update, driver};

/// How long the sampler waits before opening its connection again after it could not.
const REOPEN: Duration = Duration::from_secs(2);

/// What the operator's effects keep between them.
#[derive(Default)]
pub(super) struct Operator {
    /// The activity sampler, while the view is open.
    activity: Option<JoinHandle<()>>,
    /// The in-process limiter of the last burst fired here: what the limits prompt reads
    /// without Redis (each burst counts in windows of its own).
    pub(super) burst_limiter: Option<RateLimiter>,
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(t) = self.activity.take() {
            t.abort();
        }
    }
}

impl Operator {
    /// Carries out one of the operator's effects (others are ignored).
    pub(super) fn carry_out(
        &mut self,
        effect: Effect,
        store: Option<&Store>,
        opts: &Options,
        control: &watch::Sender<Control>,
        tx: &mpsc::Sender<Event>,
    ) {
        let tx = tx.clone();
        match effect {
            Effect::WatchActivity(true) => {
                if let Some(t) = self.activity.take() {
                    t.abort();
                }
                let database = database_of(opts);
                let control = control.subscribe();
                self.activity = Some(tokio::spawn(sample(database, tx, control)));
            }
            Effect::WatchActivity(false) => {
                if let Some(t) = self.activity.take() {
                    t.abort();
                }
            }
            Effect::Signal { pid, signal } => {
                let store = store.cloned();
                let no_store = match (&store, &opts.source) {
                    (Some(_), _) => None,
                    (None, DataSource::Api(s)) if s.database.is_none() => Some(NO_DATABASE),
                    (None, _) => Some("not connected to the database yet"),
                };
                tokio::spawn(async move {
                    let result = match (store, no_store) {
                        (Some(s), _) => match s.signal_backend(pid, signal).await {
                            Ok(Some(outcome)) => Ok(outcome),
                            Ok(None) => Err(flashsale_core::store::activity::NO_SERVER.into()),
                            Err(e) => Err(e.to_string()),
                        },
                        (None, why) => Err(why.unwrap_or_default().to_string()),
                    };
                    let _ = tx
                        .send(Event::Signalled {
                            pid,
                            signal,
                            result,
                        })
                        .await;
                });
            }
            Effect::LookUpLimits(who) => {
                let limiter = self.limiter(opts);
                tokio::spawn(async move {
                    let found = match limiter {
                        Ok((limiter, source)) => lookup(&limiter, who, source).await,
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Event::LimitsFound(found)).await;
                });
            }
            Effect::ResetLimits { who, keys } => {
                let limiter = self.limiter(opts);
                tokio::spawn(async move {
                    let result = match limiter {
                        Ok((limiter, _)) => limiter
                            .delete_windows(&keys)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Event::LimitsReset(who, result)).await;
                });
            }
            _ => {}
        }
    }

    /// The limiter the prompt reads and where its counts come from: Redis, or this process's
    /// in-process limiter as the last burst fired here left it.
    fn limiter(&self, opts: &Options) -> Result<(RateLimiter, String), String> {
        let DataSource::Direct(settings) = &opts.source else {
            return Err("rate limits are the server's over the API".into());
        };
        if let Some(url) = &settings.redis_url {
            let limiter =
                RateLimiter::new(settings.limits.clone(), Some(url)).map_err(|e| e.to_string())?;
            return Ok((limiter, format!("Redis {url}")));
        }
        match &self.burst_limiter {
            Some(l) => Ok((
                l.clone(),
                "this process's in-process limiter, as the last burst fired here counted \
                 (each burst counts afresh; other processes count their own)"
                    .into(),
            )),
            None => RateLimiter::new(settings.limits.clone(), None)
                .map(|l| {
                    (
                        l,
                        "this process's in-process limiter: no burst fired here yet, and other \
                         processes count their own"
                            .into(),
                    )
                })
                .map_err(|e| e.to_string()),
        }
    }
}

const NO_DATABASE: &str = "over the API without --database-url there is no database to ask: \
     start with --database-url to see its backends";

/// The database the activity view reads, with the pool settings it connects with.
fn database_of(opts: &Options) -> Option<(DatabaseTarget, PoolSettings)> {
    match &opts.source {
        DataSource::Direct(s) => Some((s.database.clone(), s.pool.clone())),
        DataSource::Api(a) => a.database.clone().map(|d| (d, a.settings.pool.clone())),
    }
}

/// Opens a one-connection store (again, after it could not) and runs the activity sampler on
/// it until aborted.
async fn sample(
    database: Option<(DatabaseTarget, PoolSettings)>,
    tx: mpsc::Sender<Event>,
    control: watch::Receiver<Control>,
) {
    let Some((target, pool)) = database else {
        let reason = NO_DATABASE.to_string();
        let _ = tx
            .send(Event::Monitor(Update::Withheld {
                source: Source::Activity,
                reason,
            }))
            .await;
        return;
    };
    let pool = PoolSettings {
        max_connections: 1,
        ..pool
    };
    loop {
        // The activity view never writes, not even the schema (signals go through the
        // dashboard's own store).
        match Store::open_with(&target, &pool, OpenMode::ReadOnly).await {
            Ok(store) => {
                driver::run(ActivitySampler::new(store), tx, control).await;
                return;
            }
            Err(e) => {
                let failed = Update::Failed {
                    source: Source::Activity,
                    error: e.to_string(),
                    retry_in: REOPEN,
                };
                if tx.send(Event::Monitor(failed)).await.is_err() {
                    return;
                }
                tokio::time::sleep(REOPEN).await;
            }
        }
    }
}

/// The windows of `who`, and what holds them.
async fn lookup(limiter: &RateLimiter, who: Who, source: String) -> Result<Found, String> {
    let windows = limiter
        .windows(&who.user, who.ip)
        .await
        .map_err(|e| format!("cannot read the rate-limit windows from {source}: {e}"))?;
    Ok(Found {
        who,
        windows,
        source,
        per_process: limiter.is_in_process(),
    })
}
