//! One source read from the first of several replicas that answers (`dashboard --api A,B,C`):
//! the stock, the statistics and the health report are the deployment's, the same from any
//! replica, so they are read once, not once per replica. [`Failover`] holds one sampler per
//! replica and steps the one that answered last; when it fails, the next ones are tried in
//! list order within the same step, and the first to answer is kept from then on.

use crate::driver::{Sampler, Step, StepContext};
use crate::{Source, Update};

/// The same source over several replicas, read from one at a time.
#[derive(Debug)]
pub struct Failover<S> {
    samplers: Vec<S>,
    current: usize,
    source: Source,
}

impl<S: Sampler> Failover<S> {
    /// The samplers in the `--api` list's order: the first, then the others.
    pub fn new(first: S, rest: impl IntoIterator<Item = S>) -> Self {
        let source = first.source();
        Self {
            samplers: std::iter::once(first).chain(rest).collect(),
            current: 0,
            source,
        }
    }

    /// The replica the source is read from now (its place in the list).
    pub fn current(&self) -> usize {
        self.current
    }
}

impl<S: Sampler> Sampler for Failover<S> {
    type Data = S::Data;

    fn source(&self) -> Source {
        self.source
    }

    async fn step(&mut self, cx: StepContext) -> Step<S::Data> {
        let n = self.samplers.len();
        let mut first_failure = None;
        for k in 0..n {
            let i = (self.current + k) % n;
            let Some(sampler) = self.samplers.get_mut(i) else {
                break;
            };
            match sampler.step(cx).await {
                Step::Failed { error, partial } => {
                    tracing::debug!(source = %self.source, replica = i, %error, "replica failed, trying the next");
                    first_failure.get_or_insert(Step::Failed { error, partial });
                }
                answered => {
                    if i != self.current {
                        tracing::info!(source = %self.source, from = self.current, to = i, "read from another replica");
                        self.current = i;
                    }
                    return answered;
                }
            }
        }
        first_failure.unwrap_or(Step::Failed {
            error: "no replica to read from".into(),
            partial: None,
        })
    }

    fn update(data: S::Data) -> Update {
        S::update(data)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A source whose steps are written in advance, counting how often it was asked.
    struct Scripted {
        steps: VecDeque<Step<u32>>,
        asked: u32,
    }

    impl Sampler for Scripted {
        type Data = u32;
        fn source(&self) -> Source {
            Source::Stock
        }
        async fn step(&mut self, _cx: StepContext) -> Step<u32> {
            self.asked += 1;
            self.steps.pop_front().unwrap_or(Step::Failed {
                error: "script over".into(),
                partial: None,
            })
        }
        fn update(data: u32) -> Update {
            Update::Stock(vec![flashsale_core::model::Product {
                id: i32::try_from(data).unwrap_or_default(),
                name: String::new(),
                price: flashsale_core::money::Money::ZERO,
                stock: 0,
            }])
        }
    }

    fn scripted(steps: Vec<Step<u32>>) -> Scripted {
        Scripted {
            steps: steps.into(),
            asked: 0,
        }
    }

    fn failed(e: &str) -> Step<u32> {
        Step::Failed {
            error: e.into(),
            partial: None,
        }
    }

    #[tokio::test]
    async fn the_first_replica_that_answers_is_read_and_kept() {
        let cx = StepContext {
            period: std::time::Duration::from_secs(1),
        };
        let a = scripted(vec![Step::Data(1), failed("refused"), failed("refused")]);
        let b = scripted(vec![Step::Data(2), Step::Data(3)]);
        let c = scripted(vec![]);
        let mut f = Failover::new(a, [b, c]);
        assert_eq!(f.step(cx).await, Step::Data(1), "the first answers");
        assert_eq!(
            f.step(cx).await,
            Step::Data(2),
            "it fails: the second, same step"
        );
        assert_eq!(f.current(), 1);
        assert_eq!(f.step(cx).await, Step::Data(3), "the second is kept");
        assert_eq!(
            f.samplers[0].asked, 2,
            "the first is not asked again while the second answers"
        );
        assert_eq!(
            f.samplers[2].asked, 0,
            "one read per step, never one per replica"
        );
        // All fail: the failure of the replica tried first, in its words.
        let mut f = Failover::new(
            scripted(vec![failed("timed out")]),
            [scripted(vec![failed("refused")])],
        );
        assert_eq!(f.step(cx).await, failed("timed out"));
        // One replica: the source as it always was.
        let mut f = Failover::new(scripted(vec![Step::Data(7)]), []);
        assert_eq!(f.step(cx).await, Step::Data(7));
    }
}
