//! Watchers: stock event streams held open on an HTTP target during a burst, the buyers'
//! pages of a real sale, each timing how late every stock change reached it.
//!
//! ```text
//!  open(n) ─> n streams (GET /api/stock/events?ids=...) ─> one task each: (product, stock, arrival)
//!  burst's purchases ─> Change { remaining, written_at } per product
//!  finish ─> every stream has the final figure, or the grace period is over ─> WatchReport
//! ```
//!
//! A change is the stock one purchase left. It reached a stream at the first event of that
//! product whose figure is at or below it (events are coalesced, so one figure covers every
//! change before it). Its lateness is that event's arrival less the order's `createdAt`: the
//! database's clock inside the purchase's transaction, at or before the commit, so the figure
//! is an upper bound of commit-to-event, and it assumes the database's clock and this
//! machine's agree (the same host, or synchronised clocks). Stock only falls during a burst
//! without restocks by another tool; a restock mid-burst would show as changes missed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::tally::{Change, Latency};
use flashsale_client::{ApiClient, StockStream};

/// How long, after the last purchase, the streams have to hear the final figures.
pub const GRACE: Duration = Duration::from_secs(3);
/// Streams being opened at once (each is a TCP connect and a first answer).
const OPENING_AT_ONCE: usize = 256;
/// Microseconds, 1 µs to 10 minutes.
const MAX_LATE_US: u64 = 600_000_000;

/// How the watchers fared, in the burst report's `watchers`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchReport {
    /// Streams asked for.
    pub streams: u32,
    /// Streams that opened.
    pub opened: u32,
    /// Why the first stream that did not open did not, if any.
    pub open_error: Option<String>,
    /// Streams that ended or failed before the burst's final figures reached them.
    pub dropped: u32,
    /// Figures received, all streams together.
    pub events: u64,
    /// Stock changes the burst made (its committed purchases).
    pub changes: u64,
    /// (change, open stream) pairs: each change should reach each stream.
    pub deliveries: u64,
    /// Pairs where the change had not reached the stream when it ended or the grace period did.
    pub missed: u64,
    /// From each change's order write to its arrival on each stream.
    pub commit_to_event_ms: Latency,
}

impl WatchReport {
    /// The report's lines, then a blank one.
    pub fn text(&self) -> String {
        let mut o = format!(
            "watchers: {} of {} event streams open",
            self.opened, self.streams
        );
        if let Some(why) = &self.open_error {
            o.push_str(&format!(" (the first refused: {why})"));
        }
        if self.missed == 0 {
            o.push_str(&format!(
                "; all {} stock changes reached every stream ({} events)\n",
                self.changes, self.events
            ));
        } else {
            o.push_str(&format!(
                "; {} of {} deliveries MISSED ({} streams dropped)\n",
                self.missed, self.deliveries, self.dropped
            ));
        }
        let l = self.commit_to_event_ms;
        o.push_str(&format!(
            "  commit to event ms   p50 {:.1}   p90 {:.1}   p99 {:.1}   max {:.1}\n\n",
            l.p50, l.p90, l.p99, l.max
        ));
        o
    }
}

/// What one stream heard: `(product index, stock, arrival)` in arrival order.
type Heard = Vec<(usize, i32, NaiveDateTime)>;

/// Open streams, each read by its own task until told the final figures.
pub struct Watchers {
    products: Vec<i32>,
    asked: u32,
    open_error: Option<String>,
    tasks: JoinSet<(Heard, bool)>,
    finals: watch::Sender<Option<Vec<Option<i32>>>>,
    stop: CancellationToken,
}

/// Why no watcher could be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    #[error("the target offers no stock event stream (the reference system has none)")]
    NoStream,
    #[error("no event stream opened: {0}")]
    Refused(String),
}

impl Watchers {
    /// Opens `n` streams of `products` on `client`'s server, [`OPENING_AT_ONCE`] at a time;
    /// an error only when none opens.
    pub async fn open(client: &ApiClient, products: &[i32], n: u32) -> Result<Self, WatchError> {
        let gate = Arc::new(Semaphore::new(OPENING_AT_ONCE));
        let mut opening = JoinSet::new();
        for _ in 0..n {
            let (client, ids, gate) = (client.clone(), products.to_vec(), Arc::clone(&gate));
            opening.spawn(async move {
                let _permit = gate.acquire_owned().await;
                client.stock_events_lean(&ids).await
            });
        }
        let (finals, _) = watch::channel(None);
        let mut watchers = Watchers {
            products: products.to_vec(),
            asked: n,
            open_error: None,
            tasks: JoinSet::new(),
            finals,
            stop: CancellationToken::new(),
        };
        let mut offered = true;
        while let Some(joined) = opening.join_next().await {
            match joined {
                Ok(Ok(Some(stream))) => watchers.spawn_reader(stream),
                Ok(Ok(None)) => offered = false,
                Ok(Err(e)) => {
                    watchers.open_error.get_or_insert(e.to_string());
                }
                Err(e) => {
                    watchers.open_error.get_or_insert(e.to_string());
                }
            }
        }
        match (watchers.tasks.len(), offered, &watchers.open_error) {
            (0, false, _) => Err(WatchError::NoStream),
            (0, true, why) => Err(WatchError::Refused(why.clone().unwrap_or_default())),
            _ => Ok(watchers),
        }
    }

    fn spawn_reader(&mut self, mut stream: StockStream) {
        let products = self.products.clone();
        let mut finals = self.finals.subscribe();
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            let mut heard = Heard::new();
            let mut latest: Vec<Option<i32>> = vec![None; products.len()];
            loop {
                if reached(&latest, finals.borrow().as_deref()) {
                    return (heard, false);
                }
                tokio::select! {
                    _ = stop.cancelled() => return (heard, false),
                    _ = finals.changed() => {}
                    next = stream.next() => match next {
                        Ok(Some(figures)) => {
                            let at = Utc::now().naive_utc();
                            for (id, stock) in figures {
                                if let Some(ix) = products.iter().position(|p| *p == id) {
                                    heard.push((ix, stock, at));
                                    latest[ix] = Some(stock);
                                }
                            }
                        }
                        Ok(None) | Err(_) => return (heard, true),
                    },
                }
            }
        });
    }

    /// Waits until every stream has heard the final figure of each product the burst changed
    /// (or [`GRACE`] is over), then times every change on every stream.
    pub async fn finish(mut self, changes: &[Vec<Change>]) -> WatchReport {
        let finals: Vec<Option<i32>> = (0..self.products.len())
            .map(|ix| changes.get(ix)?.iter().map(|c| c.remaining).min())
            .collect();
        let opened = self.tasks.len() as u32;
        let _ = self.finals.send(Some(finals));
        let mut heard = Vec::with_capacity(self.tasks.len());
        let deadline = tokio::time::sleep(GRACE);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                joined = self.tasks.join_next() => match joined {
                    Some(Ok(h)) => heard.push(h),
                    Some(Err(_)) => heard.push((Heard::new(), true)),
                    None => break,
                },
                _ = &mut deadline, if !self.stop.is_cancelled() => self.stop.cancel(),
            }
        }
        let mut report = time_changes(&heard, changes);
        report.streams = self.asked;
        report.opened = opened;
        report.open_error = self.open_error.take();
        report
    }
}

/// Whether a stream's latest figures are at or below every final one.
fn reached(latest: &[Option<i32>], finals: Option<&[Option<i32>]>) -> bool {
    let Some(finals) = finals else {
        return false;
    };
    finals.iter().zip(latest).all(|(f, l)| match (f, l) {
        (None, _) => true,
        (Some(f), Some(l)) => l <= f,
        (Some(_), None) => false,
    })
}

/// Times every change on every stream (see the module for the rule).
fn time_changes(heard: &[(Heard, bool)], changes: &[Vec<Change>]) -> WatchReport {
    let mut by_stock: Vec<Vec<Change>> = changes.to_vec();
    for list in &mut by_stock {
        list.sort_by_key(|c| (std::cmp::Reverse(c.remaining), c.written_at));
    }
    let mut late = Histogram::<u64>::new_with_bounds(1, MAX_LATE_US, 3)
        .expect("constant histogram bounds are valid");
    let (mut events, mut deliveries, mut missed, mut dropped) = (0u64, 0u64, 0u64, 0u32);
    for (stream, ended_early) in heard {
        events += stream.len() as u64;
        let mut stream_missed = 0;
        for (ix, list) in by_stock.iter().enumerate() {
            let mut figures = stream.iter().filter(|(p, _, _)| *p == ix).peekable();
            for change in list {
                deliveries += 1;
                while figures.next_if(|(_, s, _)| *s > change.remaining).is_some() {}
                match figures.peek() {
                    Some((_, _, at)) => {
                        let us = (*at - change.written_at).num_microseconds().unwrap_or(0);
                        // Cannot fail: clamped into the bounds.
                        let _ = late.record((us.max(1) as u64).min(MAX_LATE_US));
                    }
                    None => stream_missed += 1,
                }
            }
        }
        missed += stream_missed;
        if *ended_early && stream_missed > 0 {
            dropped += 1;
        }
    }
    WatchReport {
        streams: 0,
        opened: 0,
        open_error: None,
        dropped,
        events,
        changes: changes.iter().map(|l| l.len() as u64).sum(),
        deliveries,
        missed,
        commit_to_event_ms: Latency::of_micros(&late),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp_millis(1_800_000_000_000 + ms)
            .expect("a time")
            .naive_utc()
    }

    fn change(remaining: i32, ms: i64) -> Change {
        Change {
            remaining,
            written_at: at(ms),
        }
    }

    #[test]
    fn a_coalesced_figure_delivers_every_change_before_it() {
        // Stock 10 -> 7 in three purchases; the stream hears 10 at open, then 7 only.
        let changes = vec![vec![change(8, 0), change(9, 0), change(7, 40)]];
        let heard = vec![(vec![(0, 10, at(-500)), (0, 7, at(100))], false)];
        let r = time_changes(&heard, &changes);
        assert_eq!((r.changes, r.deliveries, r.missed, r.events), (3, 3, 0, 2));
        // 100 ms for the first two, 60 ms for the last.
        assert!((r.commit_to_event_ms.max - 100.0).abs() < 0.2, "{r:?}");
        assert!((r.commit_to_event_ms.p50 - 100.0).abs() < 0.2, "{r:?}");
        let r = time_changes(&[(vec![(0, 7, at(100))], false)], &[vec![change(7, 40)]]);
        assert!((r.commit_to_event_ms.max - 60.0).abs() < 0.1, "{r:?}");
    }

    #[test]
    fn a_change_never_heard_is_missed_and_its_stream_dropped_if_it_ended() {
        let changes = vec![vec![change(9, 0), change(8, 10)], vec![change(4, 5)]];
        let heard = vec![
            (vec![(0, 9, at(20)), (1, 4, at(30))], true),
            (vec![(0, 8, at(20)), (1, 4, at(30))], false),
        ];
        let r = time_changes(&heard, &changes);
        assert_eq!((r.deliveries, r.missed, r.dropped), (6, 1, 1), "{r:?}");
    }

    #[test]
    fn a_stream_is_done_once_every_changed_product_is_at_its_final_figure() {
        assert!(!reached(&[Some(5)], None));
        assert!(!reached(&[Some(5)], Some(&[Some(4)])));
        assert!(reached(&[Some(4)], Some(&[Some(4)])));
        assert!(!reached(&[None, Some(1)], Some(&[Some(4), None])));
        assert!(reached(&[None, Some(1)], Some(&[None, None])));
    }
}
