//! The Redis source: a PING every [`PING_EVERY`] into the latency window, and a report (summary,
//! history, `INFO`) once per period, at once when Redis answers again, and whenever a PING
//! fails (down since when). Each PING is one step for the driver. The slow log is read with a
//! report at most every [`SLOWLOG_EVERY`].

use std::time::Instant;

use chrono::{DateTime, Utc};
use flashsale_core::ratelimit::connection::RedisConn;

use super::RedisTarget;
use crate::driver::{Sampler, Step, StepContext};
use crate::redis::{
    KeyCount, LatencyWindow, PING_EVERY, RedisInfo, RedisSnapshot, RedisStats, SLOWLOG_EVERY,
    SlowlogEntry, count_keys, info, ping, slowlog,
};
use crate::{Source, Update};

/// PINGs before the first report of a one-off snapshot, for a latency of more than one sample.
pub const ONCE_PINGS: u32 = 3;

/// A Redis watched by PING.
pub struct RedisSampler {
    target: RedisTarget,
    url: String,
    /// Opened on the first step (and again after it could not be).
    conn: Option<RedisConn>,
    window: LatencyWindow,
    info: Option<RedisInfo>,
    stats: Option<Box<RedisStats>>,
    slowlog: Vec<SlowlogEntry>,
    slowlog_error: Option<String>,
    last_slowlog: Option<Instant>,
    /// A cluster's masters as last seen.
    masters: Vec<crate::redis::ClusterMaster>,
    down_since: Option<DateTime<Utc>>,
    /// The live rate-limit keys as last counted.
    rate_limit_keys: Option<KeyCount>,
    last_report: Option<Instant>,
    /// Good PINGs before the first report.
    first_report_after: u32,
    pings: u32,
}

impl RedisSampler {
    /// A sampler whose first report follows `first_report_after` good PINGs (1 for the
    /// dashboard: the pane fills at once; [`ONCE_PINGS`] for a snapshot).
    pub fn new(target: RedisTarget, first_report_after: u32) -> Self {
        Self {
            url: target.url.to_string(),
            target,
            conn: None,
            window: LatencyWindow::default(),
            info: None,
            stats: None,
            slowlog: Vec::new(),
            slowlog_error: None,
            last_slowlog: None,
            masters: Vec::new(),
            down_since: None,
            rate_limit_keys: None,
            last_report: None,
            first_report_after,
            pings: 0,
        }
    }

    /// Down: since when, with the error, keeping the history and the last `INFO`.
    fn down(&mut self, error: String) -> Step<RedisSnapshot> {
        let since = *self.down_since.get_or_insert_with(Utc::now);
        self.last_report = Some(Instant::now());
        Step::Failed {
            partial: Some(RedisSnapshot {
                url: self.url.clone(),
                latency: None,
                history_us: self.window.history_us(),
                info: self.info.clone(),
                down_since: Some(since),
                error: Some(error.clone()),
                masters: self.masters.clone(),
                rate_limit_keys: self.rate_limit_keys,
                intervals: self.window.intervals(),
                stats: self.stats.clone(),
                slowlog: self.slowlog.clone(),
                slowlog_error: self.slowlog_error.clone(),
            }),
            error,
        }
    }
}

impl Sampler for RedisSampler {
    type Data = RedisSnapshot;

    fn source(&self) -> Source {
        Source::Redis
    }

    async fn step(&mut self, cx: StepContext) -> Step<RedisSnapshot> {
        let timeout = self.target.timeout;
        let conn = match &mut self.conn {
            Some(c) => c,
            None => match flashsale_core::ratelimit::redis::manager(&self.target.url, timeout) {
                Ok(c) => self.conn.insert(c),
                Err(e) => return self.down(e.to_string()),
            },
        };
        let rtt = match ping(conn, timeout).await {
            Ok(rtt) => rtt,
            Err(e) => return self.down(e),
        };
        self.window.record(Instant::now(), rtt);
        self.pings = self.pings.saturating_add(1);
        let recovered = self.down_since.take().is_some();
        // The first report once enough PINGs are in, then one per period.
        let due = match self.last_report {
            None => self.pings >= self.first_report_after,
            Some(t) => t.elapsed() >= cx.period,
        };
        if !recovered && !due {
            return Step::Pending(PING_EVERY);
        }
        // On an error the last figures stay: one slow INFO must not blank the pane.
        if let Ok((i, s)) = info(conn, timeout).await {
            (self.info, self.stats) = (Some(i), Some(Box::new(s)));
        }
        if let Some(masters) = crate::redis_cluster::masters(conn, timeout).await {
            self.masters = masters;
            // On a cluster the router's INFO is no one node's: the masters carry their own.
            (self.info, self.stats) = (None, None);
        }
        if self
            .last_slowlog
            .is_none_or(|t| t.elapsed() >= SLOWLOG_EVERY)
        {
            self.last_slowlog = Some(Instant::now());
            let read = match crate::redis_cluster::slowlog(conn, &self.masters, timeout).await {
                Some(r) => r,
                None => slowlog(conn, timeout).await,
            };
            match read {
                Ok(entries) => (self.slowlog, self.slowlog_error) = (entries, None),
                Err(e) => self.slowlog_error = Some(e),
            }
        }
        // A cluster's SCAN walks one master only: no count rather than a wrong one.
        if !conn.is_cluster() {
            let pattern = format!("{}rate_limit:*", self.target.key_prefix);
            self.rate_limit_keys = count_keys(conn, &pattern, timeout).await.ok();
        }
        self.last_report = Some(Instant::now());
        // More, not Data: the PINGs go on between reports, they do not wait a period.
        Step::More(RedisSnapshot {
            url: self.url.clone(),
            latency: self.window.summary(),
            history_us: self.window.history_us(),
            info: self.info.clone(),
            down_since: None,
            error: None,
            masters: self.masters.clone(),
            rate_limit_keys: self.rate_limit_keys,
            intervals: self.window.intervals(),
            stats: self.stats.clone(),
            slowlog: self.slowlog.clone(),
            slowlog_error: self.slowlog_error.clone(),
        })
    }

    fn update(data: RedisSnapshot) -> Update {
        Update::Redis(data)
    }
}
