//! The gatherer's short wait for the buyers it just answered: how a closed loop of buyers fills
//! each commit instead of half of it.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

/// The longest a gatherer waits for the buyers it just answered to come back (see [`Regather`]).
const REGATHER_MAX: Duration = Duration::from_millis(1);
/// After this many fruitless waits in a row, the gatherer skips waiting for the most cycles.
const REGATHER_BACKOFF_MAX: u32 = 6;

/// Waiting, briefly, for the buyers just answered. Buyers who wait for their answer before
/// buying again (every client of a storm, every page that awaits its purchase) come back just
/// after their transaction commits, and by then the next transaction has already left with
/// the others who queued during the commit: 64 such buyers settle into two groups of 32 taking
/// turns, every commit half full. So when fewer are queued than the last transaction answered,
/// the gatherer waits for that many, for at most a quarter of that transaction's time (and
/// [`REGATHER_MAX`]): the two groups merge into one batch, one commit for all. PostgreSQL's
/// `commit_delay` is the same bargain inside the server.
///
/// Waiting only pays while the buyers do come back in time. When they do not (arrivals
/// independent of answers, or buyers whose round trip is as long as a transaction, as over
/// HTTP on a busy machine), a wait that gathered less than three quarters of what it waited
/// for counts as fruitless, and after `n` of them in a row the next 2^n cycles (at most
/// 2^[`REGATHER_BACKOFF_MAX`]) go without waiting: the extra latency fades to almost nothing.
/// A lone buyer is never kept waiting: after a transaction of one, one queued is enough.
#[derive(Debug, Default)]
pub(super) struct Regather {
    /// Purchases the last transaction answered.
    answered: usize,
    /// How long it took, from its start to its answers.
    took: Duration,
    /// Fruitless waits in a row.
    misses: u32,
    /// Cycles left to go without waiting.
    skip: u32,
}

impl Regather {
    pub(super) fn answered(&mut self, answered: usize, took: Duration) {
        self.answered = answered;
        self.took = took;
    }

    /// The longest the next wait may last. Tokio's timer rounds it up to its next millisecond.
    fn window(&self) -> Duration {
        (self.took / 4).min(REGATHER_MAX)
    }

    /// Adds to `jobs` (already holding what was queued) until it holds as many as the last
    /// transaction answered, or the time is up.
    pub(super) async fn wait<T>(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<T>,
        jobs: &mut Vec<T>,
        max: usize,
    ) {
        let want = self.answered.min(max);
        if jobs.len() >= want {
            return;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        let until = Instant::now() + self.window();
        while jobs.len() < want {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(job)) => jobs.push(job),
                // Closed, or the time is up: go with what there is.
                Ok(None) | Err(_) => break,
            }
        }
        if jobs.len() * 4 >= want * 3 {
            self.misses = 0;
        } else {
            self.misses = (self.misses + 1).min(REGATHER_BACKOFF_MAX);
            self.skip = 1 << self.misses;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOOK: Duration = Duration::from_millis(4);

    /// A queue holding `queued` jobs, and its sender for more.
    fn queue(queued: usize) -> (mpsc::UnboundedSender<u32>, mpsc::UnboundedReceiver<u32>) {
        let (tx, rx) = mpsc::unbounded_channel();
        for i in 0..queued {
            tx.send(i as u32).expect("open");
        }
        (tx, rx)
    }

    /// Buyers coming back once the gatherer waits (a task that runs when it yields).
    fn come_back(tx: &mpsc::UnboundedSender<u32>, buyers: u32) {
        let tx = tx.clone();
        tokio::spawn(async move {
            for i in 0..buyers {
                tokio::task::yield_now().await;
                let _ = tx.send(100 + i);
            }
        });
    }

    /// One gatherer cycle: take what is queued, then wait; the jobs and how long the wait took.
    async fn cycle(r: &mut Regather, rx: &mut mpsc::UnboundedReceiver<u32>) -> (usize, Duration) {
        let mut jobs = Vec::new();
        while let Ok(j) = rx.try_recv() {
            jobs.push(j);
        }
        let start = Instant::now();
        r.wait(rx, &mut jobs, 256).await;
        (jobs.len(), start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_buyer_after_a_lone_buyer_goes_at_once() {
        let mut r = Regather::default();
        let (tx, mut rx) = queue(1);
        come_back(&tx, 3);
        assert_eq!(
            cycle(&mut r, &mut rx).await,
            (1, Duration::ZERO),
            "nothing answered yet"
        );
        r.answered(1, TOOK);
        let (tx, mut rx) = queue(1);
        come_back(&tx, 3);
        assert_eq!(cycle(&mut r, &mut rx).await, (1, Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn the_buyers_just_answered_join_the_next_batch() {
        let mut r = Regather::default();
        r.answered(8, TOOK);
        let (tx, mut rx) = queue(3);
        come_back(&tx, 5);
        assert_eq!(
            cycle(&mut r, &mut rx).await,
            (8, Duration::ZERO),
            "not one more wait"
        );
        // No more than were answered: the rest go in the batch after.
        r.answered(8, TOOK);
        let (tx, mut rx) = queue(3);
        come_back(&tx, 9);
        assert_eq!(cycle(&mut r, &mut rx).await.0, 8);
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_ends_after_a_quarter_of_the_last_transaction_at_most_the_cap() {
        let mut r = Regather::default();
        r.answered(8, TOOK);
        assert_eq!(r.window(), TOOK / 4);
        r.answered(8, Duration::from_millis(100));
        assert_eq!(r.window(), REGATHER_MAX);
        // Buyers who come back later than that are not waited for.
        let (tx, mut rx) = queue(3);
        let late = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(REGATHER_MAX * 5).await;
            let _ = late.send(9);
        });
        let (jobs, waited) = cycle(&mut r, &mut rx).await;
        assert_eq!(jobs, 3);
        assert!(
            waited > Duration::ZERO && waited <= REGATHER_MAX,
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fruitless_waits_back_off_and_one_that_pays_resets() {
        let mut r = Regather::default();
        r.answered(8, TOOK);
        let (tx, mut rx) = queue(0);
        let mut waited = Vec::new();
        for _ in 0..8 {
            tx.send(0).expect("open");
            let (_, w) = cycle(&mut r, &mut rx).await;
            waited.push(w > Duration::ZERO);
        }
        // Waits, skips 2, waits, skips 4.
        let expected = [true, false, false, true, false, false, false, false];
        assert_eq!(waited, expected);
        // The next wait fills the batch (six of eight is enough): the backing off ends.
        tx.send(0).expect("open");
        come_back(&tx, 5);
        assert_eq!(cycle(&mut r, &mut rx).await, (6, TOOK / 4));
        tx.send(0).expect("open");
        let (_, w) = cycle(&mut r, &mut rx).await;
        assert!(w > Duration::ZERO, "the next cycle waits again");
    }
}
