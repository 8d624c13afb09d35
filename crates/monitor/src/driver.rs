//! The one sampler driver. A source is a [`Sampler`]: a step function that polls once and says
//! what the poll came to ([`Step`]). Everything around the steps is the driver's, the same for
//! every source, direct or over HTTP:
//!
//! - pacing: the shared `watch<Control>` (pausing stops polling; a new period applies to the
//!   wait in progress at once), and at most one poll in flight per source (one task, each step
//!   awaited before the next);
//! - failures: sent as [`Update::Failed`], logged once per change of state (starts failing, fails
//!   differently, recovers) rather than on every retry, retried after a backoff that starts at
//!   [`RETRY`], doubles up to [`RETRY_CAP`] and starts again after any answer;
//! - withheld data: sent as [`Update::Withheld`] and asked for again after [`WITHHELD_RETRY`];
//! - [`once`], the one-off snapshot (`--once --json`): the steps run until the first report, so
//!   it is what the loop would first send, by the same code.
//!
//! ```text
//!  loop: wait (paused? period? backoff?) ─> step ─> Step ─> condition (log on change) ─> send
//!  once: step ─> Pending? wait, step again ─> Report
//! ```

mod condition;
mod pace;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::{Source, Update};
pub use condition::{Change, Condition, backoff};
pub use pace::Control;
use pace::{Pace, Wait};

/// How long a failed source waits before its first retry.
pub const RETRY: Duration = Duration::from_secs(2);
/// The longest wait between retries of a source that keeps failing: long enough not to hammer
/// a service that is down, short enough that its recovery shows soon.
pub const RETRY_CAP: Duration = Duration::from_secs(16);
/// How often data a source withholds (no admin token, no such endpoint) is asked for again.
pub const WITHHELD_RETRY: Duration = Duration::from_secs(10);

/// What the driver tells a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepContext {
    /// The refresh period in force (a source that samples faster than it reports, like Redis's
    /// PINGs, reports once per period).
    pub period: Duration,
}

/// What one poll of a source came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<D> {
    /// Data; the next poll after a period.
    Data(D),
    /// Data, and more to read at once: the next poll follows without a wait (a sales backlog
    /// larger than one batch; Redis's PINGs, which go on between reports).
    More(D),
    /// The source answered but keeps its data to itself: why. Not a failure.
    Withheld(String),
    /// The poll failed. `partial` is what is still known and worth showing (the pool's
    /// in-memory figures; Redis down, since when), sent before the failure.
    Failed { error: String, partial: Option<D> },
    /// Nothing to report yet: poll again after this long (a PING between two reports, the
    /// first read of a pair of counter reads).
    Pending(Duration),
}

/// What a source reports: a [`Step`] that is not [`Step::Pending`]. [`once`] returns the first.
#[derive(Debug, Clone, PartialEq)]
pub enum Report<D> {
    Data(D),
    Withheld(String),
    Failed { error: String, partial: Option<D> },
}

impl<D> Step<D> {
    /// The report this step makes, or how long to wait for one.
    pub fn into_report(self) -> Result<Report<D>, Duration> {
        match self {
            Step::Data(d) | Step::More(d) => Ok(Report::Data(d)),
            Step::Withheld(reason) => Ok(Report::Withheld(reason)),
            Step::Failed { error, partial } => Ok(Report::Failed { error, partial }),
            Step::Pending(wait) => Err(wait),
        }
    }
}

impl<D> Report<D> {
    /// The data, if any (a failure's partial data included), and why there is no data or only
    /// part of it (the reason withheld, or the error).
    pub fn into_parts(self) -> (Option<D>, Option<String>) {
        match self {
            Report::Data(d) => (Some(d), None),
            Report::Withheld(reason) => (None, Some(reason)),
            Report::Failed { error, partial } => (partial, Some(error)),
        }
    }

    /// The updates the loop sends for this report, in order; a failure says it is retried in
    /// `retry_in`.
    pub fn into_updates(
        self,
        source: Source,
        retry_in: Duration,
        update: impl Fn(D) -> Update,
    ) -> Vec<Update> {
        match self {
            Report::Data(d) => vec![update(d)],
            Report::Withheld(reason) => vec![Update::Withheld { source, reason }],
            Report::Failed { error, partial } => partial
                .map(update)
                .into_iter()
                .chain([Update::Failed {
                    source,
                    error,
                    retry_in,
                }])
                .collect(),
        }
    }
}

/// One data source as a step function.
pub trait Sampler: Send + 'static {
    /// What a successful poll yields.
    type Data: Send + 'static;

    /// The source, as updates and logs name it.
    fn source(&self) -> Source;

    /// Polls once. Never loops, sleeps between polls or retries: the driver does.
    fn step(&mut self, cx: StepContext) -> impl Future<Output = Step<Self::Data>> + Send;

    /// The update that carries the data.
    fn update(data: Self::Data) -> Update;
}

/// Starts `sampler` as a task of its own, sending its updates to `tx`, paced by `control`. The
/// task ends when the receiver or the control's sender is dropped, never because a service is
/// down.
pub fn spawn<S, T>(
    sampler: S,
    tx: mpsc::Sender<T>,
    control: watch::Receiver<Control>,
) -> JoinHandle<()>
where
    S: Sampler,
    T: From<Update> + Send + 'static,
{
    tokio::spawn(run(sampler, tx, control))
}

/// The loop [`spawn`] runs.
pub async fn run<S, T>(mut sampler: S, tx: mpsc::Sender<T>, control: watch::Receiver<Control>)
where
    S: Sampler,
    T: From<Update>,
{
    let source = sampler.source();
    let mut pace = Pace::new(control);
    let mut condition = Condition::default();
    let mut next = Wait::Now;
    loop {
        if !pace.wait(next, &tx).await {
            return;
        }
        let cx = StepContext {
            period: pace.period(),
        };
        // `None`: a failure, whose wait (the backoff) is known once the condition has seen it.
        let (report, wait) = match sampler.step(cx).await {
            Step::Data(d) => (Report::Data(d), Some(Wait::Period)),
            Step::More(d) => (Report::Data(d), Some(Wait::Now)),
            Step::Withheld(reason) => (Report::Withheld(reason), Some(Wait::Withheld)),
            Step::Failed { error, partial } => (Report::Failed { error, partial }, None),
            Step::Pending(d) => {
                next = Wait::For(d);
                continue;
            }
        };
        let change = condition.observe(&report);
        let retry_in = condition.retry_in();
        if let Some(change) = change {
            log(source, &change, retry_in);
        }
        next = wait.unwrap_or(Wait::For(retry_in));
        for update in report.into_updates(source, retry_in, S::update) {
            if tx.send(update.into()).await.is_err() {
                return;
            }
        }
    }
}

/// Runs the steps of `sampler` until the first report, waiting between them as they ask: what
/// the loop would first send (at the default period), for a one-off snapshot.
pub async fn once<S: Sampler>(sampler: &mut S) -> Report<S::Data> {
    let cx = StepContext {
        period: Control::default().period,
    };
    loop {
        match sampler.step(cx).await.into_report() {
            Ok(report) => return report,
            Err(wait) => tokio::time::sleep(wait).await,
        }
    }
}

/// The log line of a change of state: one per change, none per retry.
fn log(source: Source, change: &Change, retry_in: Duration) {
    match change {
        Change::Failing { error } => {
            tracing::warn!(%source, %error, retry_in_secs = retry_in.as_secs(), "sampler failing");
        }
        Change::FailingDifferently { error } => tracing::warn!(
            %source,
            %error,
            retry_in_secs = retry_in.as_secs(),
            "sampler failing differently"
        ),
        Change::Withheld { reason } => {
            tracing::info!(%source, %reason, "source withholds its data")
        }
        Change::Recovered => tracing::info!(%source, "sampler recovered"),
    }
}
