//! What the screen must not get wrong after the facts change (issue 16, items 3 to 6): an
//! oversell stays the top alert and marks its row until acknowledged; a gauge measures against
//! the stock before the known sales; the Burst pane shows the burst `b` fires next; an alert
//! clears only once its rule has stopped firing for `ALERT_HOLD`.

use std::time::{Duration, Instant};

use crossterm::event::KeyCode;

use super::app::{App, Effect};
use super::drive_tests::{ch, draw, key, send};
use super::event::Event;
use super::fixture;
use super::state::{ALERT_HOLD, BurstPhase, Level, Overlay, State};
use flashsale_core::model::Product;
use flashsale_core::money::Money;
use flashsale_core::strategy::Strategy;
use flashsale_monitor::sales::ProductSales;
use flashsale_monitor::{Oversell, SalesCoverage, SalesSnapshot, Severity, Update};

fn oversell_saved(effects: &[Effect]) -> Option<Vec<Oversell>> {
    effects.iter().find_map(|e| match e {
        Effect::SaveOversells(v) => Some(v.clone()),
        _ => None,
    })
}

/// The row of `name` on a drawn screen.
fn row<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(name))
        .unwrap_or_else(|| panic!("no row for {name}:\n{screen}"))
}

#[test]
fn an_oversell_is_the_top_alert_and_marks_its_row_until_acknowledged() {
    let mut app = fixture::app(Instant::now());
    app.state.selected = 2;
    fixture::running(&mut app, Strategy::Naive);
    let effects = app.update(
        Event::BurstFinished(Ok(Box::new(fixture::report(true)))),
        app.state.now,
        fixture::wall(),
    );
    let saved = oversell_saved(&effects).expect("kept in the oversells file");
    assert_eq!(saved.len(), 1);
    assert_eq!(
        (
            saved[0].product_id,
            saved[0].oversold,
            saved[0].lost_updates
        ),
        (3, 38, 38)
    );
    assert_eq!(saved[0].database, app.state.conn.database);
    let top = &app.state.alerts[0];
    assert_eq!(top.key, "oversold-3");
    assert_eq!(top.severity, Severity::Critical);
    assert_eq!(
        top.message,
        "Mechanical Keyboard OVERSOLD by 38, LOST 38 updates"
    );
    for (w, h) in [(80, 24), (160, 48)] {
        let s = draw(&app, w, h);
        let banner = s.lines().find(|l| l.contains("ALERT")).expect("banner");
        assert!(
            banner.contains("⚠ ALERTS (3)  Mechanical Keyboard OVERSOLD by 38"),
            "first in the banner: {banner}"
        );
        let r = row(&s, "Mechanical");
        assert!(r.contains("OVERSOLD"), "{w}x{h}: {r}");
        assert!(!r.contains('█') && !r.contains('░'), "no gauge: {r}");
        assert!(
            !r.contains("15s"),
            "no time to sell out told from a lying stock: {r}"
        );
        assert!(
            s.contains("a ack oversell"),
            "the footer offers the key: {s}"
        );
    }
    // Leaving the pane, time passing, new polls: it stays.
    send(&mut app, key(KeyCode::Tab));
    let later = app.state.now + Duration::from_secs(600);
    app.update(
        Update::Stock(fixture::products()).into(),
        later,
        fixture::wall(),
    );
    assert_eq!(app.state.alerts[0].key, "oversold-3");
    // `a` acknowledges it: gone from the banner and the row, kept in the events.
    let effects = send(&mut app, ch('a'));
    assert_eq!(oversell_saved(&effects), Some(Vec::new()));
    assert!(app.state.alerts.iter().all(|a| a.key != "oversold-3"));
    let s = draw(&app, 80, 24);
    assert!(!row(&s, "Mechanical").contains("OVERSOLD"), "{s}");
    assert!(!s.contains("a ack oversell"), "{s}");
    assert!(app.state.log.entries.iter().any(|e| e.level == Level::Warn
        && e.text == "acknowledged: Mechanical Keyboard OVERSOLD by 38, LOST 38 updates"));
    // Nothing left: `a` says so.
    assert!(send(&mut app, ch('a')).is_empty());
    assert!(
        app.state
            .notice
            .as_ref()
            .is_some_and(|n| n.text == "no oversell to acknowledge")
    );
}

#[test]
fn an_honest_burst_records_no_oversell_and_the_help_lists_the_key() {
    let mut app = fixture::app(Instant::now());
    fixture::running(&mut app, Strategy::Atomic);
    let effects = app.update(
        Event::BurstFinished(Ok(Box::new(fixture::report(false)))),
        app.state.now,
        fixture::wall(),
    );
    assert_eq!(oversell_saved(&effects), None);
    send(&mut app, ch('?'));
    let s = draw(&app, 80, 24);
    assert!(s.contains("acknowledge oversell alerts"), "{s}");
}

/// The `--once --json` face: oversells read from the file are in its events (and, in
/// `headless.rs`, first in its alerts).
#[test]
fn once_json_events_show_an_oversell_found_earlier() {
    let found = Oversell {
        database: fixture::embedded().database,
        product_id: 3,
        product_name: "Mechanical Keyboard".into(),
        oversold: 100,
        lost_updates: 193,
        at: fixture::wall(),
    };
    let (_, events, _) = super::headless::opening::panes(
        fixture::embedded(),
        None,
        &flashsale_monitor::Thresholds::default(),
        fixture::wall(),
        vec![Update::Stock(fixture::products())],
        vec![found],
    );
    let alerts: Vec<&str> = events
        .iter()
        .filter(|e| e.text.starts_with("ALERT"))
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(
        alerts[0],
        "ALERT Mechanical Keyboard OVERSOLD by 100, LOST 193 updates"
    );
}

fn joining(stock: i32, sold: i64) -> App {
    let t0 = Instant::now();
    let mut app = fixture::app(t0);
    // A fresh dashboard: no reference points from the fixture.
    app.state.gauges.clear();
    let products = vec![Product {
        id: 4,
        name: "4K Monitor".into(),
        price: Money::from_cents(44_999),
        stock,
    }];
    let sales = SalesSnapshot {
        products: vec![ProductSales {
            product_id: 4,
            units: sold,
            revenue: Money::from_cents(44_999 * sold),
            units_last_minute: 0,
        }],
        coverage: SalesCoverage::AllProducts,
        ..fixture::sales()
    };
    app.update(Update::Stock(products).into(), t0, fixture::wall());
    app.update(Update::Sales(sales).into(), t0, fixture::wall());
    app.state.selected = 0;
    app
}

#[test]
fn joining_a_sale_under_way_shows_a_near_empty_gauge_at_first_sight() {
    // 3 left of 500: 497 sold before the dashboard started.
    let app = joining(3, 497);
    let p = &app.state.stock.value.as_ref().expect("stock")[0];
    assert_eq!(app.state.gauge_full(p), 500);
    let s = draw(&app, 160, 48);
    let r = row(&s, "449.99");
    // 20 cells: 3/500 rounds to none filled.
    assert!(r.contains(&"░".repeat(20)), "{r}");
    insta::assert_snapshot!("joining_a_sale_gauge_160x48", r.trim_end());
    let s = draw(&app, 80, 24);
    insta::assert_snapshot!("joining_a_sale_gauge_80x24", row(&s, "449.99").trim_end());
    // Half sold: half a gauge.
    let app = joining(250, 250);
    let r = row(&draw(&app, 160, 48), "449.99").to_string();
    assert!(
        r.contains(&format!("{}{}", "█".repeat(10), "░".repeat(10))),
        "{r}"
    );
}

#[test]
fn the_burst_pane_shows_what_b_fires_next_not_the_last_burst() {
    let mut app = fixture::app(Instant::now());
    fixture::finished(&mut app, false);
    // Edit: 40 buyers; then naive; then retarget the 4K Monitor.
    send(&mut app, ch('e'));
    send(
        &mut app,
        Event::Key(crossterm::event::KeyEvent::new(
            KeyCode::Char('u'),
            crossterm::event::KeyModifiers::CONTROL,
        )),
    );
    send(&mut app, ch('4'));
    send(&mut app, ch('0'));
    send(&mut app, key(KeyCode::Enter));
    assert_eq!(app.state.burst.params.buyers, 40);
    while app.state.burst.params.strategy != Strategy::Naive {
        send(&mut app, ch('s'));
    }
    app.state.focus = super::state::Pane::Stock;
    send(&mut app, ch('j'));
    assert_eq!(app.state.selected, 3);
    for (w, h) in [(80, 24), (160, 48)] {
        let s = draw(&app, w, h);
        assert!(s.contains("▶ 4K Monitor (#4)"), "{w}x{h}: {s}");
        assert!(s.contains("40 buyers ×32"), "{w}x{h}: {s}");
        assert!(s.contains("strategy  naive UNSAFE"), "{w}x{h}: {s}");
        assert!(!s.contains("200 buyers ×"), "{w}x{h}: {s}");
        // The figures below are said to be the last burst's.
        assert!(
            s.contains("200 on #3 atomic")
                || s.contains("200 buyers on Mechanical Keyboard (#3) atomic"),
            "{w}x{h}: {s}"
        );
    }
    // What the pane shows is what `b` fires (after asking).
    send(&mut app, ch('b'));
    let Some(Overlay::Confirm(c)) = &app.state.overlay else {
        panic!("asks first");
    };
    assert!(
        c.lines[0].starts_with("40 purchases of 4K Monitor (#4)"),
        "{:?}",
        c.lines
    );
    let effects = send(&mut app, ch('y'));
    let [Effect::StartBurst(r)] = &effects[..] else {
        panic!("{effects:?}");
    };
    assert_eq!(
        (r.product_id, r.params.buyers, r.params.strategy),
        (4, 40, Strategy::Naive)
    );
    assert!(matches!(app.state.burst.phase, BurstPhase::Running { .. }));
}

fn error_rate_shown(s: &State) -> bool {
    s.alerts.iter().any(|a| a.key == "error-rate")
}

#[test]
fn a_rate_that_dips_for_a_moment_neither_clears_nor_raises_the_alert_again() {
    let t0 = Instant::now();
    let mut app = fixture::app(t0);
    fixture::running(&mut app, Strategy::Atomic);
    let BurstPhase::Running { progress, .. } = &app.state.burst.phase else {
        unreachable!("running");
    };
    let mut p = progress.clone();
    p.completed = 140;
    p.counts.failed = 20;
    send(&mut app, Event::BurstProgress(p.clone()));
    assert!(error_rate_shown(&app.state));
    // 500 good purchases half a second later: the minute's rate dips to 22/640, 3.4%.
    p.completed = 640;
    app.update(
        Event::BurstProgress(p.clone()),
        t0 + Duration::from_millis(500),
        fixture::wall(),
    );
    assert!(error_rate_shown(&app.state), "held, not cleared");
    assert!(app.state.alert_clearing.contains_key("error-rate"));
    assert!(draw(&app, 160, 48).contains("(clearing)"));
    // Errors again before the hold is over: still the same alert, never re-announced.
    p.completed = 700;
    p.counts.failed = 80;
    app.update(
        Event::BurstProgress(p),
        t0 + Duration::from_secs(3),
        fixture::wall(),
    );
    assert!(!app.state.alert_clearing.contains_key("error-rate"));
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
            .filter(|t| t.starts_with("ALERT purchase errors"))
            .count(),
        1,
        "{texts:?}"
    );
    assert!(
        !texts.iter().any(|t| t.starts_with("cleared:")),
        "{texts:?}"
    );
    // The last purchases leave the minute's window after 63 s: the rule stops at 64 s, and the
    // alert clears ALERT_HOLD later.
    app.update(Event::Tick, t0 + Duration::from_secs(63), fixture::wall());
    assert!(error_rate_shown(&app.state));
    assert!(!app.state.alert_clearing.contains_key("error-rate"));
    app.update(Event::Tick, t0 + Duration::from_secs(64), fixture::wall());
    assert!(error_rate_shown(&app.state));
    app.update(
        Event::Tick,
        t0 + Duration::from_secs(64) + ALERT_HOLD - Duration::from_millis(1),
        fixture::wall(),
    );
    assert!(error_rate_shown(&app.state), "not before the hold is over");
    app.update(
        Event::Tick,
        t0 + Duration::from_secs(64) + ALERT_HOLD,
        fixture::wall(),
    );
    assert!(!error_rate_shown(&app.state));
    let cleared: Vec<&str> = app
        .state
        .log
        .entries
        .iter()
        .map(|e| e.text.as_str())
        .filter(|t| t.starts_with("cleared: purchase"))
        .collect();
    assert_eq!(
        cleared,
        ["cleared: purchase errors no longer above 5% over the last minute (for 10s)"]
    );
}

#[test]
fn alerts_are_announced_when_raised_and_when_cleared() {
    let t0 = Instant::now();
    let mut app = fixture::app(t0);
    let raised: Vec<String> = app
        .state
        .log
        .entries
        .iter()
        .filter(|e| e.text.starts_with("ALERT"))
        .map(|e| e.text.clone())
        .collect();
    assert_eq!(
        raised,
        [
            "ALERT low stock: Mechanical Keyboard has 3 left",
            "ALERT 4K Monitor sold out"
        ]
    );
    let mut products = fixture::products();
    products[3].stock = 8;
    app.update(Update::Stock(products).into(), t0, fixture::wall());
    // Restocked: the rule no longer fires, but the alert is held for ALERT_HOLD, then cleared
    // in words saying what is true now.
    let cleared = |app: &super::app::App| fixture::events_starting(app, "cleared:");
    assert!(cleared(&app).is_empty());
    assert!(app.state.alerts.iter().any(|a| a.key == "low-stock-4"));
    app.update(Event::Tick, t0 + Duration::from_secs(9), fixture::wall());
    assert!(cleared(&app).is_empty(), "9 s is not long enough");
    app.update(Event::Tick, t0 + Duration::from_secs(10), fixture::wall());
    assert_eq!(
        cleared(&app),
        ["cleared: 4K Monitor has 5 or more in stock (for 10s)"]
    );
    assert!(!app.state.alerts.iter().any(|a| a.key == "low-stock-4"));
    // The error-rate rule: 2 errors in 132 purchases is under 5%; 20 in 140 is not.
    fixture::running(&mut app, Strategy::Atomic);
    let mut p = match &app.state.burst.phase {
        BurstPhase::Running { progress, .. } => progress.clone(),
        _ => unreachable!("running"),
    };
    send(&mut app, Event::BurstProgress(p.clone()));
    assert!(!app.state.alerts.iter().any(|a| a.key == "error-rate"));
    p.completed = 140;
    p.counts.failed = 20;
    send(&mut app, Event::BurstProgress(p));
    assert!(
        app.state.alerts.iter().any(|a| a.key == "error-rate"),
        "{:?}",
        app.state.alerts
    );
    // A minute later the window is empty: the rule stops firing, and the alert clears once
    // that has lasted ALERT_HOLD.
    let fired_at = app.state.now;
    app.update(
        Event::Tick,
        fired_at + Duration::from_secs(61),
        fixture::wall(),
    );
    assert!(app.state.alerts.iter().any(|a| a.key == "error-rate"));
    app.update(
        Event::Tick,
        fired_at + Duration::from_secs(71),
        fixture::wall(),
    );
    assert!(!app.state.alerts.iter().any(|a| a.key == "error-rate"));
}
