//! The driver on small real samplers with scripted steps, on tokio's paused clock: what is sent,
//! what is logged, when the polls happen.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing_subscriber::layer::SubscriberExt;

use super::*;
use flashsale_core::model::Product;
use flashsale_core::money::Money;

/// A source that answers from a script, then `then` for ever; records when each poll ran.
struct Scripted {
    script: VecDeque<Step<i32>>,
    then: Step<i32>,
    /// How long a poll takes.
    takes: Duration,
    polls: Arc<Mutex<Vec<(Instant, Instant)>>>,
}

impl Scripted {
    fn new(script: impl IntoIterator<Item = Step<i32>>, then: Step<i32>) -> Self {
        Self {
            script: script.into_iter().collect(),
            then,
            takes: Duration::ZERO,
            polls: Arc::default(),
        }
    }

    fn polls(&self) -> Arc<Mutex<Vec<(Instant, Instant)>>> {
        self.polls.clone()
    }
}

impl Sampler for Scripted {
    type Data = i32;

    fn source(&self) -> Source {
        Source::Stock
    }

    async fn step(&mut self, _cx: StepContext) -> Step<i32> {
        let start = Instant::now();
        tokio::time::sleep(self.takes).await;
        let step = self.script.pop_front().unwrap_or_else(|| self.then.clone());
        self.polls
            .lock()
            .expect("lock")
            .push((start, Instant::now()));
        step
    }

    fn update(data: i32) -> Update {
        Update::Stock(vec![Product {
            id: data,
            name: format!("p{data}"),
            price: Money::ZERO,
            stock: data,
        }])
    }
}

fn failed(error: &str) -> Step<i32> {
    Step::Failed {
        error: error.into(),
        partial: None,
    }
}

/// The data of a stock update, the retry of a failure, the reason withheld.
#[derive(Debug, PartialEq)]
enum Seen {
    Data(i32),
    Failed(String, u64),
    Withheld(String),
}

fn seen(u: Update) -> Seen {
    match u {
        Update::Stock(p) => Seen::Data(p[0].id),
        Update::Failed {
            error, retry_in, ..
        } => Seen::Failed(error, retry_in.as_secs()),
        Update::Withheld { reason, .. } => Seen::Withheld(reason),
        other => panic!("not from this sampler: {other:?}"),
    }
}

struct Running {
    rx: mpsc::Receiver<Update>,
    control: watch::Sender<Control>,
    task: tokio::task::JoinHandle<()>,
}

fn start(sampler: Scripted, period: Duration) -> Running {
    let (tx, rx) = mpsc::channel(16);
    let (control, control_rx) = watch::channel(Control {
        paused: false,
        period,
    });
    let task = spawn(sampler, tx, control_rx);
    Running { rx, control, task }
}

impl Running {
    /// The next update; the clock is paused, so a generous bound costs no real time.
    async fn next(&mut self) -> Seen {
        let u = tokio::time::timeout(Duration::from_secs(3600), self.rx.recv())
            .await
            .expect("an update within the hour")
            .expect("the sampler runs");
        seen(u)
    }

    fn set(&self, f: impl FnOnce(&mut Control)) {
        self.control.send_modify(f);
    }
}

/// Every event logged: (level, message).
#[derive(Clone, Default)]
struct Logged(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Logged {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        let level = *event.metadata().level();
        self.0.lock().expect("lock").push((level, m.0));
    }
}

impl Logged {
    fn count(&self, message: &str) -> usize {
        let events = self.0.lock().expect("lock");
        events.iter().filter(|(_, m)| m == message).count()
    }
}

#[tokio::test(start_paused = true)]
async fn failures_are_sent_logged_once_per_change_and_retried_with_a_growing_backoff() {
    let logged = Logged::default();
    // The test runs on one thread: the sampler's task logs into this subscriber too.
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(logged.clone()));
    let sampler = Scripted::new(
        [
            failed("down"),
            failed("down"),
            failed("down"),
            failed("timed out"),
            Step::Data(1),
            failed("down"),
        ],
        Step::Data(2),
    );
    let polls = sampler.polls();
    let mut s = start(sampler, Duration::from_secs(1));
    let mut got = Vec::new();
    for _ in 0..7 {
        got.push(s.next().await);
    }
    let f = |e: &str, secs| Seen::Failed(e.into(), secs);
    assert_eq!(
        got,
        [
            f("down", 2),
            f("down", 4),
            f("down", 8),
            f("timed out", 16),
            Seen::Data(1),
            f("down", 2),
            Seen::Data(2),
        ],
        "sent as Failed; the backoff doubles, and starts again after an answer"
    );
    // Each retry waited what its failure said.
    let polls = polls.lock().expect("lock").clone();
    for (i, secs) in [2, 4, 8, 16].into_iter().enumerate() {
        let gap = polls[i + 1].0 - polls[i].1;
        assert!(
            gap >= Duration::from_secs(secs) && gap < Duration::from_secs(secs + 1),
            "retry {i}: {gap:?}"
        );
    }
    assert_eq!(
        logged.count("sampler failing"),
        2,
        "first failure, and again after recovering"
    );
    assert_eq!(logged.count("sampler failing differently"), 1);
    assert_eq!(logged.count("sampler recovered"), 2);
    s.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_withheld_source_is_asked_again_after_the_withheld_retry_and_said_once() {
    let logged = Logged::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(logged.clone()));
    let sampler = Scripted::new([], Step::Withheld("admin token needed".into()));
    let polls = sampler.polls();
    let mut s = start(sampler, Duration::from_secs(1));
    for _ in 0..3 {
        assert_eq!(s.next().await, Seen::Withheld("admin token needed".into()));
    }
    let polls = polls.lock().expect("lock").clone();
    assert!(polls[1].0 - polls[0].1 >= WITHHELD_RETRY, "{polls:?}");
    assert_eq!(logged.count("source withholds its data"), 1);
    assert_eq!(logged.count("sampler failing"), 0, "withheld is no failure");
    s.task.abort();
}

#[tokio::test(start_paused = true)]
async fn pausing_stops_polling_and_resuming_starts_it_again() {
    let sampler = Scripted::new([], Step::Data(1));
    let polls = sampler.polls();
    let mut s = start(sampler, Duration::from_secs(1));
    assert_eq!(s.next().await, Seen::Data(1));
    s.set(|c| c.paused = true);
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(polls.lock().expect("lock").len(), 1, "no poll while paused");
    assert!(s.rx.try_recv().is_err());
    s.set(|c| c.paused = false);
    let resumed = Instant::now();
    assert_eq!(s.next().await, Seen::Data(1));
    assert!(
        resumed.elapsed() < Duration::from_secs(1),
        "the period had passed: at once"
    );
    s.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_sampler_started_paused_does_not_poll_until_resumed() {
    let sampler = Scripted::new([], Step::Data(1));
    let polls = sampler.polls();
    let mut s = start(sampler, Duration::from_secs(1));
    s.set(|c| c.paused = true);
    tokio::time::sleep(Duration::from_secs(60)).await;
    // Paused before the task first ran (one thread: it runs at the test's first await).
    assert_eq!(polls.lock().expect("lock").len(), 0);
    s.set(|c| c.paused = false);
    assert_eq!(s.next().await, Seen::Data(1));
    s.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_new_period_applies_to_the_wait_in_progress() {
    let sampler = Scripted::new([], Step::Data(1));
    let mut s = start(sampler, Duration::from_secs(60));
    s.next().await;
    let first = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.set(|c| c.period = Duration::from_secs(1));
    s.next().await;
    assert!(
        first.elapsed() < Duration::from_secs(10),
        "shorter: the wait ended at once, not after 60 s: {:?}",
        first.elapsed()
    );
    let second = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.set(|c| c.period = Duration::from_secs(30));
    s.next().await;
    assert!(
        second.elapsed() >= Duration::from_secs(30),
        "longer: the wait was extended: {:?}",
        second.elapsed()
    );
    s.task.abort();
}

#[tokio::test(start_paused = true)]
async fn more_data_waiting_is_read_at_once_one_poll_at_a_time() {
    let mut sampler = Scripted::new([Step::More(1), Step::More(2), Step::More(3)], Step::Data(4));
    sampler.takes = Duration::from_secs(3);
    let polls = sampler.polls();
    let mut s = start(sampler, Duration::from_millis(100));
    for i in 1..=4 {
        assert_eq!(s.next().await, Seen::Data(i));
    }
    let polls = polls.lock().expect("lock").clone();
    for w in polls.windows(2) {
        assert!(w[1].0 >= w[0].1, "one poll in flight at a time: {polls:?}");
    }
    assert!(
        polls[3].0 - polls[2].1 < Duration::from_secs(1),
        "no wait after More"
    );
    s.task.abort();
}

#[tokio::test(start_paused = true)]
async fn the_task_ends_when_the_receiver_is_dropped_even_while_paused() {
    for paused in [false, true] {
        let mut s = start(Scripted::new([], Step::Data(1)), Duration::from_secs(1));
        s.next().await;
        if paused {
            s.set(|c| c.paused = true);
        }
        drop(s.rx);
        tokio::time::timeout(Duration::from_secs(60), s.task)
            .await
            .expect("the task ends")
            .expect("without panicking");
    }
    // And when the control's sender goes.
    let s = start(Scripted::new([], Step::Data(1)), Duration::from_secs(1));
    drop(s.control);
    tokio::time::timeout(Duration::from_secs(60), s.task)
        .await
        .expect("the task ends")
        .expect("without panicking");
}

#[tokio::test(start_paused = true)]
async fn once_returns_what_the_loop_would_first_send() {
    let pending = Duration::from_millis(500);
    let scripts: [Vec<Step<i32>>; 3] = [
        vec![
            Step::Pending(pending),
            Step::Pending(pending),
            Step::Data(3),
        ],
        vec![
            Step::Pending(pending),
            Step::Failed {
                error: "no server view".into(),
                partial: Some(7),
            },
        ],
        vec![Step::Withheld("no token".into())],
    ];
    for script in scripts {
        let mut alone = Scripted::new(script.clone(), Step::Data(99));
        let started = Instant::now();
        let report = once(&mut alone).await;
        let waited = pending * (script.len() as u32 - 1);
        assert!(started.elapsed() >= waited, "the steps' own waits are kept");

        let mut s = start(
            Scripted::new(script, Step::Data(99)),
            Duration::from_secs(1),
        );
        let expected = report.into_updates(Source::Stock, RETRY, Scripted::update);
        let mut first = Vec::new();
        for _ in 0..expected.len() {
            first.push(s.next().await);
        }
        assert_eq!(first, expected.into_iter().map(seen).collect::<Vec<_>>());
        s.task.abort();
    }
}

#[test]
fn a_failure_with_partial_data_sends_the_data_first() {
    let report = Report::Failed {
        error: "no server view".into(),
        partial: Some(7),
    };
    let updates: Vec<Seen> = report
        .into_updates(Source::Stock, RETRY, Scripted::update)
        .into_iter()
        .map(seen)
        .collect();
    assert_eq!(
        updates,
        [Seen::Data(7), Seen::Failed("no server view".into(), 2)]
    );
    assert_eq!(
        Report::Failed {
            error: "x".into(),
            partial: Some(1)
        }
        .into_parts(),
        (Some(1), Some("x".into()))
    );
    let wait = Duration::from_secs(1);
    assert_eq!(Step::<i32>::Pending(wait).into_report(), Err(wait));
}
