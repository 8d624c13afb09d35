//! Pacing: the [`Control`] every sampler shares through a watch channel, and the wait between two
//! polls of one source, measured against the control in force while it lasts (paused: no poll
//! until resumed; a new period applies to the wait in progress, from when it began).

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::WITHHELD_RETRY;

/// How the samplers are paced: shared by all of them through a watch channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control {
    pub paused: bool,
    pub period: Duration,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            paused: false,
            period: Duration::from_secs(1),
        }
    }
}

/// How long to wait before the next poll, as a rule: the length follows the period in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// No wait (the first poll, more data waiting).
    Now,
    /// One period.
    Period,
    /// [`WITHHELD_RETRY`], or a period when that is longer.
    Withheld,
    /// This long, whatever the period (a backoff, a step's own pace).
    For(Duration),
}

impl Wait {
    fn length(self, period: Duration) -> Duration {
        match self {
            Wait::Now => Duration::ZERO,
            Wait::Period => period,
            Wait::Withheld => WITHHELD_RETRY.max(period),
            Wait::For(d) => d,
        }
    }
}

/// One source's view of the control.
pub(super) struct Pace {
    control: watch::Receiver<Control>,
}

impl Pace {
    pub(super) fn new(control: watch::Receiver<Control>) -> Self {
        Self { control }
    }

    /// The period in force.
    pub(super) fn period(&self) -> Duration {
        self.control.borrow().period
    }

    /// Waits `wait` from now, re-measured whenever the control changes: while paused it never
    /// ends; a shorter period ends it early, a longer one extends it. False when nobody is
    /// listening any more (the receiver of the updates or the control's sender dropped): the
    /// sampler ends, even while paused.
    pub(super) async fn wait<T>(&mut self, wait: Wait, tx: &mpsc::Sender<T>) -> bool {
        let start = Instant::now();
        loop {
            let control = *self.control.borrow_and_update();
            let deadline = (!control.paused).then(|| start + wait.length(control.period));
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return true;
            }
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => return true,
                changed = self.control.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                }
                () = tx.closed() => return false,
            }
        }
    }
}
