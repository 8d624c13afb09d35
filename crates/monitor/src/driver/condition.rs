//! The failure state of one source: whether it answers, withholds or fails (and how often in a
//! row), which report changes that state (the only ones worth a log line), and the backoff of a
//! source that keeps failing. Pure: no clock, no I/O, so the decisions are tested directly.

use std::time::Duration;

use super::{RETRY, RETRY_CAP, Report};

/// The wait before the next try after `failures` failures in a row: [`RETRY`], doubling with
/// each further failure, never above [`RETRY_CAP`].
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1);
    RETRY
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(RETRY_CAP)
}

/// A change of state worth one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The source failed after answering (or on its first poll).
    Failing { error: String },
    /// Still failing, with another error.
    FailingDifferently { error: String },
    /// The source answers but withholds its data, or withholds it for another reason.
    Withheld { reason: String },
    /// Data again after failing.
    Recovered,
}

/// Where a source stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum State {
    /// Nothing reported yet.
    #[default]
    Unknown,
    Answering,
    Withheld(String),
    Failing {
        error: String,
        /// In a row, this one included.
        failures: u32,
    },
}

/// The failure state of one source, fed every report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condition {
    state: State,
}

impl Condition {
    /// Takes in a report; returns the change of state it makes, if any. Any answer (data or
    /// data withheld) ends a run of failures, so the backoff starts again from [`RETRY`].
    pub fn observe<D>(&mut self, report: &Report<D>) -> Option<Change> {
        let (state, change) = match (report, &self.state) {
            (Report::Data(_), State::Failing { .. }) => (State::Answering, Some(Change::Recovered)),
            (Report::Data(_), _) => (State::Answering, None),
            (Report::Withheld(reason), State::Withheld(before)) if before == reason => {
                return None;
            }
            (Report::Withheld(reason), _) => (
                State::Withheld(reason.clone()),
                Some(Change::Withheld {
                    reason: reason.clone(),
                }),
            ),
            (
                Report::Failed { error, .. },
                State::Failing {
                    error: before,
                    failures,
                },
            ) => (
                State::Failing {
                    error: error.clone(),
                    failures: failures.saturating_add(1),
                },
                (before != error).then(|| Change::FailingDifferently {
                    error: error.clone(),
                }),
            ),
            (Report::Failed { error, .. }, _) => (
                State::Failing {
                    error: error.clone(),
                    failures: 1,
                },
                Some(Change::Failing {
                    error: error.clone(),
                }),
            ),
        };
        self.state = state;
        change
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        match self.state {
            State::Failing { failures, .. } => failures,
            _ => 0,
        }
    }

    /// The wait before the next try if the source is failing ([`RETRY`] otherwise: what the
    /// first failure would wait).
    pub fn retry_in(&self) -> Duration {
        backoff(self.failures().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(error: &str) -> Report<()> {
        Report::Failed {
            error: error.into(),
            partial: None,
        }
    }

    #[test]
    fn the_backoff_doubles_from_two_seconds_up_to_the_cap() {
        let secs: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [2, 4, 8, 16, 16, 16, 16]);
        assert_eq!(backoff(0), RETRY, "no failure yet: the first retry's wait");
        assert_eq!(backoff(u32::MAX), RETRY_CAP, "no overflow");
    }

    #[test]
    fn a_run_of_failures_is_one_change_and_grows_the_backoff() {
        let mut c = Condition::default();
        assert_eq!(
            c.observe(&failed("down")),
            Some(Change::Failing {
                error: "down".into()
            })
        );
        assert_eq!(c.retry_in(), RETRY);
        assert_eq!(c.observe(&failed("down")), None, "the same error again");
        assert_eq!(c.observe(&failed("down")), None);
        assert_eq!((c.failures(), c.retry_in().as_secs()), (3, 8));
        assert_eq!(
            c.observe(&failed("timed out")),
            Some(Change::FailingDifferently {
                error: "timed out".into()
            })
        );
        assert_eq!(c.failures(), 4, "still the same run of failures");
        assert_eq!(c.observe(&Report::Data(())), Some(Change::Recovered));
        assert_eq!(
            (c.failures(), c.retry_in()),
            (0, RETRY),
            "reset by an answer"
        );
        assert_eq!(c.observe(&Report::Data(())), None, "answering, as before");
    }

    #[test]
    fn the_first_answer_is_no_recovery_and_withholding_is_said_once_per_reason() {
        let mut c = Condition::default();
        assert_eq!(c.observe(&Report::Data(())), None);
        let withheld = |r: &str| Report::<()>::Withheld(r.into());
        assert_eq!(
            c.observe(&withheld("token needed")),
            Some(Change::Withheld {
                reason: "token needed".into()
            })
        );
        assert_eq!(c.observe(&withheld("token needed")), None);
        assert!(matches!(
            c.observe(&withheld("token refused")),
            Some(Change::Withheld { .. })
        ));
        assert!(matches!(
            c.observe(&failed("down")),
            Some(Change::Failing { .. })
        ));
        assert!(
            matches!(
                c.observe(&withheld("token refused")),
                Some(Change::Withheld { .. })
            ),
            "an answer after failing: the backoff starts again"
        );
        assert_eq!(c.failures(), 0);
    }
}
