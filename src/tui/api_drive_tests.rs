//! The app watching over the API (`--api`), driven by injected events: what the keys do when the
//! strategy is the server's and the API has no restock, how withheld statistics and the
//! server's health reports change the state, and that no key or size makes it panic.

use std::time::{Duration, Instant};

use super::app::Effect;
use super::drive_tests::{all_keys, ch, draw, send};
use super::fixture;
use super::state::{Field, Overlay, Pane};
use crate::monitor::{Source, Update};

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
    let sales = crate::monitor::api::sales_from_stats(&fixture::stats());
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
