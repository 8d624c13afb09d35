//! Slow requests in the log without flooding it: the first one of each interval is logged in
//! full (route, status, outcome, time), the others only counted; at the end of an interval
//! that had more, one summary line says how many and the worst. At 2,000 connections every
//! request can be slow, and a line for each was 123,168 lines in 15 s.

use std::sync::Mutex;
use std::time::Duration;

/// One full line and at most one summary per interval.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// One slow request, as the log shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Slow {
    pub route: String,
    pub method: String,
    pub status: u16,
    pub outcome: &'static str,
    pub elapsed_ms: f64,
}

#[derive(Debug, Default)]
struct Window {
    /// Slow requests this interval beyond the one logged in full.
    folded: u64,
    worst: Option<Slow>,
    /// Whether this interval's full line has been written.
    logged: bool,
}

/// The current interval's tally.
#[derive(Debug, Default)]
pub struct SlowLog {
    window: Mutex<Window>,
}

impl SlowLog {
    /// Records one slow request: logged in full when it is the interval's first.
    pub fn record(&self, slow: Slow) {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if !w.logged {
            w.logged = true;
            drop(w);
            tracing::warn!(
                route = %slow.route,
                method = %slow.method,
                status = slow.status,
                outcome = slow.outcome,
                elapsed_ms = slow.elapsed_ms,
                "slow request (further ones this interval are summarised)"
            );
            return;
        }
        w.folded += 1;
        if w.worst
            .as_ref()
            .is_none_or(|x| slow.elapsed_ms > x.elapsed_ms)
        {
            w.worst = Some(slow);
        }
    }

    /// Ends the interval: what it folded, if anything.
    pub fn take(&self) -> Option<(u64, Slow)> {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let folded = std::mem::take(&mut *w);
        folded.worst.map(|worst| (folded.folded, worst))
    }
}

/// Writes each interval's summary, until aborted.
pub async fn summarise(log: &SlowLog) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Some((count, worst)) = log.take() {
            tracing::warn!(
                count,
                interval_s = INTERVAL.as_secs(),
                worst_ms = worst.elapsed_ms,
                worst_route = %worst.route,
                worst_status = worst.status,
                "slow requests not logged one by one"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slow(ms: f64) -> Slow {
        Slow {
            route: "/api/purchase".into(),
            method: "POST".into(),
            status: 200,
            outcome: "purchased",
            elapsed_ms: ms,
        }
    }

    #[test]
    fn an_interval_keeps_a_count_and_the_worst() {
        let log = SlowLog::default();
        assert_eq!(log.take(), None);
        log.record(slow(150.0));
        assert_eq!(
            log.take(),
            None,
            "the first is logged in full, nothing folded"
        );
        log.record(slow(120.0));
        log.record(slow(900.0));
        log.record(slow(300.0));
        let (count, worst) = log.take().expect("folded");
        assert_eq!(count, 2);
        assert_eq!(worst.elapsed_ms, 900.0);
        assert_eq!(log.take(), None);
    }
}
