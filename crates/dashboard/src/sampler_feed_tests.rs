//! Sampler updates fed to the app in the order the driver sends them (a failure's partial data,
//! then the failure): what the Events pane says of them.

use std::time::{Duration, Instant};

use flashsale_monitor::{Source, Update};

use super::fixture;

#[test]
fn redis_down_is_one_event_in_the_panes_words_however_often_it_fails() {
    let t0 = Instant::now();
    let mut app = fixture::app_with(fixture::postgres(), t0, "dark");
    let before = app.state.log.entries.len();
    let down = |error: &str| flashsale_monitor::RedisSnapshot {
        down_since: Some(fixture::wall()),
        error: Some(error.into()),
        latency: None,
        ..fixture::redis()
    };
    // What the Redis sampler sends on each failed PING: the pane's data, then the failure.
    for error in ["connection refused", "connection refused", "timed out"] {
        for update in [
            Update::Redis(down(error)),
            Update::Failed {
                source: Source::Redis,
                error: error.into(),
                retry_in: Duration::from_secs(2),
            },
        ] {
            app.update(update.into(), t0, fixture::wall());
        }
    }
    let texts: Vec<&str> = app
        .state
        .log
        .entries
        .iter()
        .skip(before)
        .map(|e| e.text.as_str())
        // The alert rule has its say too, once.
        .filter(|t| !t.starts_with("ALERT"))
        .collect();
    assert_eq!(texts, ["Redis down: connection refused"]);
    app.update(Update::Redis(fixture::redis()).into(), t0, fixture::wall());
    assert!(
        app.state
            .log
            .entries
            .iter()
            .any(|e| e.text == "Redis answers again")
    );
    assert_eq!(app.state.redis.error, None, "cleared by the answer");
}
