//! The app watching over the API (`--api`), driven by injected events: what the keys do when the
//! strategy is the server's and the API has no restock, how withheld statistics, the server's
//! health reports and its purchase counters change the state and the alerts, and that no key or
//! size makes it panic.

use std::time::{Duration, Instant};

use super::app::Effect;
use super::drive_tests::{all_keys, ch, draw, send};
use super::event::Event;
use super::fixture;
use super::state::{BurstPhase, Field, Overlay, Pane};
use flashsale_core::strategy::Strategy;
use flashsale_monitor::{Source, Update};

#[test]
fn s_says_the_strategy_is_the_servers_and_changes_nothing() {
    let mut app = fixture::app_api(None, Instant::now(), "dark");
    let before = app.state.burst.params.strategy;
    assert!(send(&mut app, ch('s')).is_empty());
    assert_eq!(app.state.burst.params.strategy, before);
    let notice = app.state.notice.as_ref().map(|n| n.text.clone());
    assert_eq!(
        notice.as_deref(),
        Some("the strategy is the server's (batched): it cannot be changed over the API")
    );
}

#[test]
fn restock_without_a_database_is_refused_in_words() {
    let mut app = fixture::app_api(None, Instant::now(), "dark");
    assert!(send(&mut app, ch('r')).is_empty());
    assert!(app.state.overlay.is_none(), "nothing to confirm");
    let notice = app.state.notice.as_ref().map(|n| n.text.clone());
    assert!(
        notice
            .as_deref()
            .is_some_and(|n| n.contains("the API has none") && n.contains("--database-url")),
        "{notice:?}"
    );
}

#[test]
fn restock_with_a_database_asks_then_restocks_through_it() {
    let db = "postgres://sale:***@db.internal:5432/sale";
    let mut app = fixture::app_api(Some(db), Instant::now(), "dark");
    assert!(send(&mut app, ch('r')).is_empty());
    let Some(Overlay::Confirm(c)) = &app.state.overlay else {
        panic!("a confirm dialog: {:?}", app.state.overlay);
    };
    assert!(c.lines.iter().any(|l| l.contains(db)), "{:?}", c.lines);
    let effects = send(&mut app, ch('y'));
    assert_eq!(
        effects,
        [Effect::Restock {
            product_id: 1,
            stock: 100
        }]
    );
}

#[test]
fn a_burst_asks_first_says_it_goes_over_http_then_starts() {
    let mut app = fixture::app_api(None, Instant::now(), "dark");
    assert!(send(&mut app, ch('b')).is_empty());
    let Some(Overlay::Confirm(c)) = &app.state.overlay else {
        panic!("a confirm dialog: {:?}", app.state.overlay);
    };
    let text = c.lines.join("\n");
    assert!(text.contains("the server's strategy (batched)"), "{text}");
    assert!(text.contains("Over HTTP; not audited"), "{text}");
    let effects = send(&mut app, ch('y'));
    assert!(
        matches!(&effects[..], [Effect::StartBurst(r)] if r.product_id == 1),
        "{effects:?}"
    );
    assert!(app.state.burst.is_running());
    let last = app.state.log.entries.back().map(|e| e.text.clone());
    assert_eq!(
        last.as_deref(),
        Some("burst started: 200 buyers on Laptop Pro 15, over HTTP")
    );
}

#[test]
fn not_connected_yet_names_the_api() {
    let mut app = fixture::app_api(None, Instant::now(), "dark");
    app.state.connected = false;
    assert!(send(&mut app, ch('b')).is_empty());
    let notice = app.state.notice.as_ref().map(|n| n.text.clone());
    assert_eq!(notice.as_deref(), Some("not connected to the API yet"));
}

#[test]
fn the_editor_has_no_strategy_field() {
    let mut app = fixture::app_api(None, Instant::now(), "dark");
    send(&mut app, ch('e'));
    let editor = app.state.burst.editor.as_ref().expect("editing");
    let fields: Vec<Field> = editor.fields.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        fields,
        [
            Field::Buyers,
            Field::Concurrency,
            Field::Quantity,
            Field::Ips,
            Field::RestockTo
        ]
    );
    assert_eq!(app.state.focus, Pane::Burst);
}

#[test]
fn withheld_statistics_are_logged_once_and_replaced_by_data_when_allowed() {
    let t0 = Instant::now();
    let mut app = fixture::app_api(None, t0, "dark");
    let withheld = || {
        Update::Withheld {
            source: Source::Sales,
            reason: "admin token needed (ADMIN_TOKEN)".into(),
        }
        .into()
    };
    let logged = |app: &super::app::App| {
        app.state
            .log
            .entries
            .iter()
            .filter(|e| e.text.contains("admin token needed"))
            .count()
    };
    send(&mut app, withheld());
    send(&mut app, withheld());
    assert_eq!(logged(&app), 1);
    assert!(app.state.sales.value.is_none(), "old figures are not shown");
    assert!(app.state.sales.error.is_none(), "not a failure");
    assert_eq!(app.state.database_error(), None);
    let sales = flashsale_monitor::over_http::sales_from_stats(&fixture::stats());
    send(&mut app, Update::Sales(sales).into());
    assert!(app.state.sales.withheld.is_none());
    assert!(app.state.sales.value.is_some());
}

#[test]
fn the_servers_reports_keep_when_redis_went_down_and_log_the_changes() {
    let t0 = Instant::now();
    let mut app = fixture::app_api(None, t0, "dark");
    let w0 = fixture::wall();
    let report = |app: &mut super::app::App, redis: &str, secs: i64| {
        let wall = w0 + chrono::Duration::seconds(secs);
        app.update(
            Update::Health(fixture::health(redis)).into(),
            t0 + Duration::from_secs(secs as u64),
            wall,
        );
    };
    report(&mut app, "down", 1);
    report(&mut app, "down", 5);
    let h = app.state.health.value.as_ref().expect("health");
    assert_eq!(
        h.redis_down_since,
        Some(w0 + chrono::Duration::seconds(1)),
        "since the first report"
    );
    assert!(
        app.state
            .alerts
            .iter()
            .any(|a| a.key == "server-redis-down")
    );
    report(&mut app, "up", 9);
    let h = app.state.health.value.as_ref().expect("health");
    assert_eq!(h.redis_down_since, None);
    // Up again: the alert is held for ALERT_HOLD (10 s), then cleared.
    assert!(
        app.state
            .alerts
            .iter()
            .any(|a| a.key == "server-redis-down")
    );
    report(&mut app, "up", 19);
    let texts: Vec<&str> = app
        .state
        .log
        .entries
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.starts_with("the server reports Redis"))
            .count(),
        2,
        "down once, up once: {texts:?}"
    );
    assert!(texts.contains(&"the server reports Redis up again"));
    assert!(
        app.state
            .alerts
            .iter()
            .all(|a| a.key != "server-redis-down")
    );
}

fn error_rate_alert(app: &super::app::App) -> Option<String> {
    app.state
        .alerts
        .iter()
        .find(|a| a.key == "error-rate")
        .map(|a| a.message.clone())
}

/// A running burst fired here has reported `completed` purchases, `failed` of them failed.
fn burst_progress(app: &mut super::app::App, completed: u64, failed: u64) {
    if !app.state.burst.is_running() {
        fixture::running(app, Strategy::default());
    }
    let BurstPhase::Running { progress, .. } = &app.state.burst.phase else {
        unreachable!("running");
    };
    let mut p = progress.clone();
    p.completed = completed;
    p.counts.busy = 0;
    p.counts.failed = failed;
    send(app, Event::BurstProgress(p));
}

#[test]
fn the_servers_error_rate_raises_the_alert_without_counting_a_burst_fired_here_twice() {
    let mut app = fixture::app_api(None, Instant::now(), "dark");
    assert_eq!(app.state.server_purchases_last_minute(), Some((3, 1_204)));
    assert_eq!(error_rate_alert(&app), None, "0.2% is fine");
    // A burst fired here: 100 purchases, none failed. The server counted them too, beside 100
    // of other clients' of which 12 failed: 12 in 200 is 6%. Adding the burst to the server's
    // figures (12 in 300, 4%) would hide it.
    burst_progress(&mut app, 100, 0);
    send(
        &mut app,
        Update::ServerPurchases(fixture::server_purchases(200, 12)).into(),
    );
    assert_eq!(
        error_rate_alert(&app).as_deref(),
        Some("purchase errors 6.0% over the last minute (the server's purchases; above 5%)")
    );
    let s = draw(&app, 160, 48);
    assert!(s.contains("ALERT"), "{s}");
    assert!(
        app.state
            .log
            .entries
            .iter()
            .any(|e| e.text.starts_with("ALERT purchase errors 6.0%")),
        "an event too"
    );
    // The server's minute recovers (the burst's own view is unchanged): the alert is held,
    // marked clearing, and clears once the rate has stayed down for ALERT_HOLD, in words that
    // say what is true now.
    send(
        &mut app,
        Update::ServerPurchases(fixture::server_purchases(1_204, 3)).into(),
    );
    assert!(error_rate_alert(&app).is_some(), "held");
    let cleared = |app: &super::app::App| fixture::events_starting(app, "cleared:");
    assert_eq!(cleared(&app), Vec::<String>::new());
    let later = app.state.now + crate::state::ALERT_HOLD;
    app.update(Event::Tick, later, fixture::wall());
    assert_eq!(error_rate_alert(&app), None);
    assert_eq!(
        cleared(&app),
        ["cleared: purchase errors no longer above 5% over the last minute (for 10s)"]
    );
}

#[test]
fn errors_only_our_buyers_saw_still_alert_and_say_so() {
    let mut app = fixture::app_api(None, Instant::now(), "dark");
    // Refused connections never reach the server's counters.
    burst_progress(&mut app, 50, 10);
    assert_eq!(
        error_rate_alert(&app).as_deref(),
        Some("purchase errors 20.0% over the last minute (bursts fired here; above 5%)")
    );
}

#[test]
fn withheld_counters_are_said_once_and_the_bursts_fired_here_still_count() {
    let t0 = Instant::now();
    let mut app = fixture::app_api(None, t0, "dark");
    let withheld = || {
        Update::Withheld {
            source: Source::Metrics,
            reason: "admin token needed (ADMIN_TOKEN)".into(),
        }
        .into()
    };
    send(&mut app, withheld());
    send(&mut app, withheld());
    let said: Vec<&str> = app
        .state
        .log
        .entries
        .iter()
        .map(|e| e.text.as_str())
        .filter(|t| t.starts_with("metrics:"))
        .collect();
    assert_eq!(said, ["metrics: admin token needed (ADMIN_TOKEN)"]);
    assert_eq!(app.state.server_purchases_last_minute(), None);
    assert_eq!(app.state.database_error(), None, "not a failure");
    let s = draw(&app, 160, 48);
    assert!(
        s.contains("purchase errors: admin token needed (ADMIN_TOKEN)"),
        "{s}"
    );
    burst_progress(&mut app, 140, 20);
    assert!(
        error_rate_alert(&app).is_some_and(|m| m.contains("bursts fired here")),
        "{:?}",
        app.state.alerts
    );
}

#[test]
fn a_failed_or_minute_old_read_is_not_taken_for_the_servers_current_rate() {
    let t0 = Instant::now();
    let mut app = fixture::app_api(None, t0, "dark");
    send(
        &mut app,
        Update::ServerPurchases(fixture::server_purchases(100, 50)).into(),
    );
    assert!(error_rate_alert(&app).is_some());
    send(
        &mut app,
        Update::Failed {
            source: Source::Metrics,
            error: "/metrics unreadable: no flashsale_purchases_total samples in it".into(),
            retry_in: flashsale_monitor::RETRY,
        }
        .into(),
    );
    assert_eq!(app.state.server_purchases_last_minute(), None);
    // Nothing current to tell: the rule stops firing, and the alert is held, marked clearing,
    // for ALERT_HOLD before it clears (a read that fails once must not clear and re-raise it).
    assert!(error_rate_alert(&app).is_some(), "held");
    assert!(app.state.alert_clearing.contains_key("error-rate"));
    let s = draw(&app, 160, 48);
    assert!(s.contains("(clearing)"), "{s}");
    assert!(s.contains("purchase errors: /metrics unreadable"), "{s}");
    // A good read again, then none for a while: a slow read keeps the rate (an overloaded
    // server answers slowly; the alert must not flicker), one older than the window does not.
    send(
        &mut app,
        Update::ServerPurchases(fixture::server_purchases(100, 50)).into(),
    );
    assert!(error_rate_alert(&app).is_some());
    assert!(
        !app.state.alert_clearing.contains_key("error-rate"),
        "firing again, no longer clearing"
    );
    app.update(Event::Tick, t0 + Duration::from_secs(10), fixture::wall());
    assert_eq!(app.state.server_purchases_last_minute(), Some((50, 100)));
    assert!(error_rate_alert(&app).is_some());
    app.update(Event::Tick, t0 + Duration::from_secs(61), fixture::wall());
    assert_eq!(app.state.server_purchases_last_minute(), None);
    assert!(error_rate_alert(&app).is_some(), "held from 61 s");
    app.update(Event::Tick, t0 + Duration::from_secs(71), fixture::wall());
    assert_eq!(error_rate_alert(&app), None, "cleared 10 s later");
    assert!(draw(&app, 160, 48).contains("purchase errors: no read in the last minute"));
}

#[test]
fn a_server_restart_is_said_and_counted_afresh() {
    let mut app = fixture::app_api(None, Instant::now(), "dark");
    let restarted = flashsale_monitor::error_rate::Reading {
        last_minute: None,
        span: Duration::ZERO,
        totals: flashsale_monitor::error_rate::PurchaseCounts {
            purchases: 4,
            errors: 0,
        },
        restarted: true,
    };
    send(&mut app, Update::ServerPurchases(restarted).into());
    assert_eq!(app.state.server_purchases_last_minute(), None);
    assert!(
        app.state
            .log
            .entries
            .iter()
            .any(|e| e.text.contains("it restarted")),
    );
    assert!(draw(&app, 160, 48).contains("purchase errors: after the next read"));
}

#[test]
fn every_key_with_every_pane_focused_never_panics_over_the_api() {
    let t0 = Instant::now();
    for database in [None, Some("postgres://sale:***@db/sale")] {
        for pane in Pane::ALL {
            let mut app = fixture::app_api(database, t0, "dark");
            app.state.focus = pane;
            for k in all_keys() {
                send(&mut app, k);
                if app.state.quit.take().is_some() {
                    app = fixture::app_api(database, t0, "dark");
                    app.state.focus = pane;
                }
                draw(&app, 80, 24);
            }
            draw(&app, 160, 48);
            draw(&app, 20, 5);
        }
    }
}
