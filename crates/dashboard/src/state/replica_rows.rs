//! The replicas of a deployment watched as a list (`--api A,B,C`): per replica its last
//! reading, whether it is up, and since when (the wall clock of the change, as
//! [`super::ServerHealth`] keeps since when a dependency is down). Fed by `App::update`;
//! the Replicas pane, the alert rules and `--once --json` read it.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use flashsale_monitor::over_http::ReplicaReading;
use flashsale_monitor::replica_alerts::ReplicaView;

/// One replica.
#[derive(Debug, Clone, PartialEq)]
pub struct Replica {
    /// As shown: credentials masked.
    pub url: String,
    /// `None` until its sampler first reports.
    pub up: Option<bool>,
    /// Since when it has been up (or down), as the dashboard saw it.
    pub since: Option<DateTime<Utc>>,
    /// Why it is down, in its sampler's words.
    pub error: Option<String>,
    /// Its last reading (kept while it is down: the strategy it had).
    pub reading: Option<ReplicaReading>,
    pub at: Option<Instant>,
}

/// Every replica, in the `--api` list's order; empty for one URL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replicas {
    pub rows: Vec<Replica>,
}

impl Replicas {
    /// Nothing heard from `urls` yet. One URL is no list: it may be a load balancer's.
    pub fn new(urls: &[String]) -> Self {
        if urls.len() < 2 {
            return Self::default();
        }
        Self {
            rows: urls
                .iter()
                .map(|url| Replica {
                    url: url.clone(),
                    up: None,
                    since: None,
                    error: None,
                    reading: None,
                    at: None,
                })
                .collect(),
        }
    }

    /// A reading from replica `reading.index`; what to say in the events, if it came back.
    pub fn saw(
        &mut self,
        reading: ReplicaReading,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Option<String> {
        let row = self.rows.get_mut(usize::from(reading.index))?;
        let was_down = row.up == Some(false);
        if row.up != Some(true) {
            row.since = Some(wall);
        }
        row.up = Some(true);
        row.error = None;
        row.reading = Some(reading);
        row.at = Some(now);
        was_down.then(|| format!("replica {}: answers again", row.url))
    }

    /// Replica `index` is out of reach; what to say in the events, when that is news.
    pub fn failed(&mut self, index: u16, error: String, wall: DateTime<Utc>) -> Option<String> {
        let row = self.rows.get_mut(usize::from(index))?;
        let news = row.up != Some(false) || row.error.as_ref() != Some(&error);
        if row.up != Some(false) {
            row.since = Some(wall);
        }
        row.up = Some(false);
        let text = format!("replica {} down: {error}", row.url);
        row.error = Some(error);
        news.then_some(text)
    }

    /// The replicas as the alert rules see them (those not heard from yet are not judged).
    pub fn views(&self) -> Vec<ReplicaView<'_>> {
        self.rows
            .iter()
            .filter(|r| r.up.is_some())
            .map(|r| ReplicaView {
                url: &r.url,
                down: r.error.as_deref().filter(|_| r.up == Some(false)),
                not_ready: r.up == Some(true)
                    && r.reading.as_ref().is_some_and(|x| x.ready == Some(false)),
                last_minute: r
                    .reading
                    .as_ref()
                    .filter(|_| r.up == Some(true))
                    .and_then(ReplicaReading::last_minute),
            })
            .collect()
    }

    /// How many are up, of how many.
    pub fn up_count(&self) -> (usize, usize) {
        let up = self.rows.iter().filter(|r| r.up == Some(true)).count();
        (up, self.rows.len())
    }

    /// The Events pane's words on connecting: which replicas are watched.
    pub fn watching(&self) -> Option<String> {
        (!self.rows.is_empty()).then(|| {
            let urls: Vec<&str> = self.rows.iter().map(|r| r.url.as_str()).collect();
            format!(
                "watching {} replicas over their API: {}",
                urls.len(),
                urls.join(", ")
            )
        })
    }

    /// `first` (the first replica's URL) and how many more: `http://a:3000 +2`.
    pub fn with_more(&self, first: &str) -> String {
        match self.rows.len() {
            0 | 1 => first.to_string(),
            n => format!("{first} +{}", n - 1),
        }
    }

    /// The `replicas` of `--once --json`.
    pub fn json(&self) -> Vec<ReplicaJson> {
        self.rows.iter().map(Replica::json).collect()
    }
}

impl Replica {
    /// The reading, while it is up (a down replica's figures are not current).
    pub fn live(&self) -> Option<&ReplicaReading> {
        self.reading.as_ref().filter(|_| self.up == Some(true))
    }

    fn json(&self) -> ReplicaJson {
        let live = self.live();
        let totals = live
            .and_then(|r| r.counters.as_ref().ok())
            .map(|c| c.totals);
        ReplicaJson {
            url: self.url.clone(),
            up: self.up,
            since: self.since,
            error: self.error.clone().filter(|_| self.up == Some(false)),
            ready: live.and_then(|r| r.ready),
            strategy: self
                .reading
                .as_ref()
                .and_then(|r| r.strategy())
                .map(str::to_string),
            database: live
                .and_then(|r| r.health.as_ref())
                .map(|h| h.database.status.clone()),
            redis: live
                .and_then(|r| r.health.as_ref())
                .map(|h| h.redis.status.clone()),
            purchases_per_sec: live.and_then(ReplicaReading::purchases_per_sec),
            error_rate: live.and_then(ReplicaReading::error_rate_percent),
            p99_ms: live.and_then(|r| r.p99_ms),
            purchases_total: totals.map(|t| t.purchases),
            errors_total: totals.map(|t| t.errors),
            metrics_missing: live.and_then(|r| match &r.counters {
                Ok(_) => None,
                Err(
                    flashsale_monitor::over_http::Missing::Withheld(why)
                    | flashsale_monitor::over_http::Missing::Failed(why),
                ) => Some(why.clone()),
            }),
        }
    }
}

/// One replica in `--once --json`: every key always there, `null` when unknown.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaJson {
    pub url: String,
    pub up: Option<bool>,
    pub since: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub ready: Option<bool>,
    pub strategy: Option<String>,
    pub database: Option<String>,
    pub redis: Option<String>,
    pub purchases_per_sec: Option<f64>,
    /// Busy and failed, percent of its purchases over the window.
    pub error_rate: Option<f64>,
    pub p99_ms: Option<f64>,
    pub purchases_total: Option<u64>,
    pub errors_total: Option<u64>,
    pub metrics_missing: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(index: u16) -> ReplicaReading {
        ReplicaReading {
            index,
            health: None,
            ready: Some(true),
            counters: Err(flashsale_monitor::over_http::Missing::Withheld("no".into())),
            p99_ms: None,
        }
    }

    #[test]
    fn up_and_down_since_the_change_not_since_each_report() {
        let urls = vec!["http://a:1".to_string(), "http://b:2".to_string()];
        assert!(
            Replicas::new(&urls[..1]).rows.is_empty(),
            "one URL: no list"
        );
        let mut r = Replicas::new(&urls);
        let (t, w0) = (Instant::now(), chrono::DateTime::<Utc>::UNIX_EPOCH);
        let w = |s| w0 + chrono::Duration::seconds(s);
        assert_eq!(r.saw(reading(0), t, w(1)), None);
        assert_eq!(r.saw(reading(0), t, w(2)), None);
        assert_eq!(r.rows[0].since, Some(w(1)), "up since the first report");
        assert!(r.views().len() == 1, "b not heard from: not judged");
        let said = r.failed(0, "API unreachable: refused".into(), w(3));
        assert_eq!(
            said.as_deref(),
            Some("replica http://a:1 down: API unreachable: refused")
        );
        assert_eq!(
            r.failed(0, "API unreachable: refused".into(), w(5)),
            None,
            "said once"
        );
        assert_eq!(r.rows[0].since, Some(w(3)));
        assert_eq!(r.views()[0].down, Some("API unreachable: refused"));
        assert_eq!(
            r.saw(reading(0), t, w(9)).as_deref(),
            Some("replica http://a:1: answers again")
        );
        assert_eq!(r.rows[0].since, Some(w(9)));
        assert_eq!(
            r.saw(reading(7), t, w(9)),
            None,
            "an index out of the list is ignored"
        );
        assert_eq!(r.up_count(), (1, 2));
        assert_eq!(r.with_more("http://a:1"), "http://a:1 +1");
        assert_eq!(
            r.watching().as_deref(),
            Some("watching 2 replicas over their API: http://a:1, http://b:2")
        );
        assert_eq!(Replicas::default().with_more("http://a:1"), "http://a:1");
        let json = serde_json::to_value(r.json()).expect("json");
        assert_eq!(json[1]["up"], serde_json::Value::Null);
        assert_eq!(json[0]["metricsMissing"], "no");
    }
}
