//! How data changes the state: sampler snapshots and failures (logged once, on change), burst
//! progress and reports, and the alert rules re-evaluated after each.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::App;
use crate::state::{ALERT_HOLD, BurstPhase, Level, ServerHealth, State};
use flashsale_monitor::{Source, Update, alerts};

impl App {
    pub(super) fn progress(&mut self, p: flashsale_burst::Progress) {
        let s = &mut self.state;
        let errors = p.counts.errors();
        let (done, errs) = s.burst.counted;
        let (dn, de) = (
            p.completed.saturating_sub(done),
            errors.saturating_sub(errs),
        );
        if dn > 0 {
            s.purchases.push_back((s.now, dn, de));
        }
        while s
            .purchases
            .front()
            .is_some_and(|(t, _, _)| s.now.saturating_duration_since(*t) > Duration::from_secs(60))
        {
            s.purchases.pop_front();
        }
        s.burst.counted = (p.completed, errors);
        s.history.progress(s.now, &p.counts);
        s.burst.push_throughput(p.throughput_per_s);
        if let BurstPhase::Running { progress, .. } = &mut s.burst.phase {
            *progress = p;
        }
        self.refresh_alerts();
    }

    pub(super) fn finished(
        &mut self,
        result: Result<Box<flashsale_burst::BurstReport>, String>,
        effects: &mut Vec<super::Effect>,
    ) {
        let s = &mut self.state;
        let request = match &s.burst.phase {
            BurstPhase::Running { request, .. } => Some(request.clone()),
            _ => None,
        };
        match (result, request) {
            (Ok(report), Some(request)) => {
                let (level, verdict) = match (&report.audit, &report.audit_error) {
                    (Some(a), _) if a.ok => (Level::Ok, "audit OK".to_string()),
                    (Some(a), _) => (Level::Error, a.verdict()),
                    (None, e) => (
                        Level::Warn,
                        format!("audit NOT RUN ({})", e.as_deref().unwrap_or("no database")),
                    ),
                };
                s.log.push(
                    s.wall,
                    level,
                    format!(
                        "burst finished: {verdict}; {} purchased of {}, {:.0}/s",
                        report.purchased, report.attempts, report.throughput_per_s
                    ),
                );
                let at = s.wall;
                s.history.finished(&report);
                s.burst.remember(crate::state::BurstRecord {
                    request: request.clone(),
                    report: report.clone(),
                    at,
                });
                self.record_oversell(&request, &report, effects);
                self.state.burst.phase = BurstPhase::Finished {
                    request,
                    report,
                    at,
                };
            }
            (Ok(_), None) => {}
            (Err(error), request) => {
                s.log
                    .push(s.wall, Level::Error, format!("burst failed: {error}"));
                s.burst.phase = BurstPhase::Failed {
                    request,
                    error,
                    at: s.wall,
                };
            }
        }
    }

    pub(super) fn monitor(&mut self, update: Update) {
        let s = &mut self.state;
        let (now, wall) = (s.now, s.wall);
        let recovered = |s: &mut State, had: Option<String>, source: Source| {
            if had.is_some() {
                s.log
                    .push(wall, Level::Ok, format!("{source}: reachable again"));
            }
        };
        match update {
            Update::Stock(products) => {
                s.gauges.saw(&products, s.sales.value.as_ref());
                s.history.saw_stock(now, wall, &products);
                if s.conn.api.is_some() {
                    s.sell_rates.record(now, &products);
                }
                s.selected = s.selected.min(products.len().saturating_sub(1));
                let had = s.stock.error.take();
                s.stock.set(products, now);
                recovered(s, had, Source::Stock);
            }
            Update::Sales(snap) => {
                let had = s.sales.error.take();
                s.sales.set(snap, now);
                recovered(s, had, Source::Sales);
            }
            Update::Pool(snap) => {
                // The in-memory figures are fresh even when the server query failed; its error
                // arrives as a separate Failed update.
                let error = s.pool.error.take();
                s.pool.set(snap, now);
                s.pool.error = error;
            }
            Update::Redis(snap) => {
                let was_down = s
                    .redis
                    .value
                    .as_ref()
                    .is_some_and(|r| r.down_since.is_some());
                match (&snap.down_since, was_down) {
                    (Some(_), false) => s.log.push(
                        wall,
                        Level::Error,
                        format!(
                            "Redis down: {}",
                            snap.error.as_deref().unwrap_or("no answer")
                        ),
                    ),
                    (None, true) => s.log.push(wall, Level::Ok, "Redis answers again"),
                    _ => {}
                }
                s.redis.set(snap, now);
            }
            Update::Health(report) => {
                let before = s.health.value.take();
                let since =
                    |down: bool, was: Option<DateTime<Utc>>| down.then(|| was.unwrap_or(wall));
                let health = ServerHealth {
                    database_down_since: since(
                        report.database.is_down(),
                        before.as_ref().and_then(|b| b.database_down_since),
                    ),
                    redis_down_since: since(
                        report.redis.is_down(),
                        before.as_ref().and_then(|b| b.redis_down_since),
                    ),
                    report,
                };
                for (name, was, now, dep) in [
                    (
                        "its database",
                        before
                            .as_ref()
                            .is_some_and(|b| b.database_down_since.is_some()),
                        health.database_down_since.is_some(),
                        &health.report.database,
                    ),
                    (
                        "Redis",
                        before
                            .as_ref()
                            .is_some_and(|b| b.redis_down_since.is_some()),
                        health.redis_down_since.is_some(),
                        &health.report.redis,
                    ),
                ] {
                    match (was, now) {
                        (false, true) => s.log.push(
                            wall,
                            Level::Error,
                            format!(
                                "the server reports {name} down: {}",
                                dep.error.as_deref().unwrap_or("no reason given")
                            ),
                        ),
                        (true, false) => s.log.push(
                            wall,
                            Level::Ok,
                            format!("the server reports {name} up again"),
                        ),
                        _ => {}
                    }
                }
                let had = s.health.error.take();
                s.health.set(health, now);
                recovered(s, had, Source::Health);
            }
            Update::ServerPurchases(reading) => {
                if reading.restarted {
                    s.log.push(
                        wall,
                        Level::Info,
                        "metrics: the server's counters went down (it restarted): its error \
                         rate is counted afresh",
                    );
                }
                let had = s.server_purchases.error.take();
                s.server_purchases.set(reading, now);
                recovered(s, had, Source::Metrics);
            }
            Update::Replica(reading) => {
                if let Some(text) = s.replicas.saw(reading, now, wall) {
                    s.log.push(wall, Level::Ok, text);
                }
            }
            Update::Failed {
                source: Source::Replica(i),
                error,
                ..
            } => {
                if let Some(text) = s.replicas.failed(i, error, wall) {
                    s.log.push(wall, Level::Error, text);
                }
            }
            Update::ReadReplica(snap) => {
                let was_down = s
                    .read_replica
                    .value
                    .as_ref()
                    .is_some_and(|r| r.down_since.is_some());
                match (&snap.error, was_down) {
                    (Some(e), false) => s.log.push(
                        wall,
                        Level::Error,
                        format!("read replica down, reading the primary: {e}"),
                    ),
                    (None, true) => s.log.push(
                        wall,
                        Level::Ok,
                        "read replica answers again: reading from it",
                    ),
                    _ => {}
                }
                s.read_replica.set(snap, now);
            }
            Update::Activity(sample) => {
                let had = s.activity.sample.error.take();
                s.activity.sample.set(sample, now);
                recovered(s, had, Source::Activity);
            }
            Update::Withheld { source, reason } => {
                let shown = match source {
                    Source::Stock => s.stock.withheld.clone(),
                    Source::Sales => s.sales.withheld.clone(),
                    Source::Pool => s.pool.withheld.clone(),
                    Source::Redis => s.redis.withheld.clone(),
                    Source::Health => s.health.withheld.clone(),
                    Source::Metrics => s.server_purchases.withheld.clone(),
                    Source::Activity => s.activity.sample.withheld.clone(),
                    Source::ReadReplica => s.read_replica.withheld.clone(),
                    // A replica's sampler never withholds: what it lacks is in its reading.
                    Source::Replica(_) => return,
                };
                if shown.as_ref() != Some(&reason) {
                    s.log.push(wall, Level::Warn, format!("{source}: {reason}"));
                }
                match source {
                    Source::Stock => s.stock.withhold(reason),
                    Source::Sales => s.sales.withhold(reason),
                    Source::Pool => s.pool.withhold(reason),
                    Source::Redis => s.redis.withhold(reason),
                    Source::Health => s.health.withhold(reason),
                    Source::Metrics => s.server_purchases.withhold(reason),
                    Source::Activity => s.activity.sample.withhold(reason),
                    Source::ReadReplica => s.read_replica.withhold(reason),
                    Source::Replica(_) => {}
                }
            }
            Update::Failed { source, error, .. } => {
                let slot = match source {
                    Source::Stock => &mut s.stock.error,
                    Source::Sales => &mut s.sales.error,
                    Source::Pool => &mut s.pool.error,
                    Source::Redis => &mut s.redis.error,
                    Source::Health => &mut s.health.error,
                    Source::Metrics => &mut s.server_purchases.error,
                    Source::Activity => &mut s.activity.sample.error,
                    Source::ReadReplica => &mut s.read_replica.error,
                    // Taken by the arm above.
                    Source::Replica(_) => return,
                };
                // A Redis failure comes right after the snapshot that says Redis is down, in its
                // own words ("Redis down: ..."): saying it twice would crowd the events.
                let told = match source {
                    Source::Redis => s.redis.value.as_ref().and_then(|r| r.error.as_ref()),
                    Source::ReadReplica => {
                        s.read_replica.value.as_ref().and_then(|r| r.error.as_ref())
                    }
                    _ => None,
                } == Some(&error);
                if slot.as_ref() != Some(&error) && !told {
                    s.log.push(wall, Level::Error, format!("{source}: {error}"));
                }
                *slot = Some(error);
            }
        }
    }

    /// Re-evaluates the alert rules; new alerts and cleared ones become events. An alert whose
    /// rule stops firing stays (marked as clearing) until it has not fired for [`ALERT_HOLD`]:
    /// only then is it cleared, in words saying what is now true.
    pub(super) fn refresh_alerts(&mut self) {
        let s = &mut self.state;
        let fired = alerts::evaluate(
            &alerts::Inputs {
                redis: s.redis.value.as_ref(),
                purchases_last_minute: s.purchases_last_minute(),
                server_purchases_last_minute: s.server_purchases_last_minute(),
                acquire: s.pool.value.as_ref().map(|p| &p.acquire),
                products: s.stock.value.as_deref().unwrap_or_default(),
                server: s.health.value.as_ref().map(|h| &h.report),
                database_error: s.direct_database_error(),
                oversold: &s.oversells,
                replicas: &s.replicas.views(),
                read_replica: s.read_replica.value.as_ref(),
            },
            &s.thresholds,
        );
        let before: BTreeSet<&str> = s.alerts.iter().map(|a| a.key.as_str()).collect();
        let now_firing: BTreeSet<&str> = fired.iter().map(|a| a.key.as_str()).collect();
        let mut entries = Vec::new();
        for a in &fired {
            if !before.contains(a.key.as_str()) {
                s.alert_book.raised(&a.key, s.wall);
                let level = match a.severity {
                    flashsale_monitor::Severity::Critical => Level::Error,
                    flashsale_monitor::Severity::Warning => Level::Warn,
                };
                entries.push((level, format!("ALERT {}", a.message)));
            }
        }
        let mut shown = fired.clone();
        for a in &s.alerts {
            if now_firing.contains(a.key.as_str()) {
                continue;
            }
            let since = *s.alert_clearing.entry(a.key.clone()).or_insert(s.now);
            if s.now.saturating_duration_since(since) >= ALERT_HOLD {
                entries.push((
                    Level::Ok,
                    format!("cleared: {} (for {}s)", a.cleared, ALERT_HOLD.as_secs()),
                ));
            } else {
                shown.push(a.clone());
            }
        }
        let shown_keys: BTreeSet<String> = shown.iter().map(|a| a.key.clone()).collect();
        s.alert_clearing
            .retain(|k, _| shown_keys.contains(k) && !now_firing.contains(k.as_str()));
        // Most severe first; among equals, those firing before those clearing (stable sort).
        shown.sort_by_key(|a| std::cmp::Reverse(a.severity));
        for (level, text) in entries {
            s.log.push(s.wall, level, text);
        }
        s.alerts = shown;
        s.alert_book.expire(s.now);
    }
}
