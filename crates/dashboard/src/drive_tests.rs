//! The app driven by injected events, as a user would drive it: behaviour of the keys, and that
//! no key with any pane focused, and no terminal size, makes it panic.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{App, Effect};
use super::event::Event;
use super::fixture;
use super::state::{BurstPhase, Overlay, Pane};
use super::ui;
use flashsale_core::strategy::Strategy;
use flashsale_monitor::{Source, Update};

pub(super) fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub(super) fn ch(c: char) -> Event {
    key(KeyCode::Char(c))
}

pub(super) fn send(app: &mut App, ev: Event) -> Vec<Effect> {
    let (now, wall) = (app.state.now, app.state.wall);
    app.update(ev, now, wall)
}

pub(super) fn draw(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    term.draw(|f| ui::draw(f, &app.state, app.theme(), &app.keymap))
        .expect("draw");
    term.backend().to_string()
}

/// Every key a user might press, bound or not.
pub(super) fn all_keys() -> Vec<Event> {
    let mut keys: Vec<Event> = "qQ?bBeEsSrRtT +-=jkhlyYnNx0159.aZ/\\"
        .chars()
        .map(ch)
        .collect();
    for code in [
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Backspace,
        KeyCode::Delete,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::F(1),
        KeyCode::Insert,
    ] {
        keys.push(key(code));
    }
    for c in ['u', 'a', 'l', 'z'] {
        keys.push(Event::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::CONTROL,
        )));
    }
    keys.push(Event::Key(KeyEvent::new(
        KeyCode::Char('x'),
        KeyModifiers::ALT,
    )));
    keys
}

#[test]
fn every_key_with_every_pane_focused_never_panics() {
    let t0 = Instant::now();
    for setup in 0..4 {
        for pane in Pane::ALL {
            let fresh = || {
                let mut app = fixture::app(t0);
                match setup {
                    1 => fixture::running(&mut app, Strategy::Naive),
                    2 => fixture::finished(&mut app, true),
                    3 => app.state.read_only = true,
                    _ => {}
                }
                app.state.focus = pane;
                app
            };
            // Each key alone, then inside the editor, the help and a dialog, one after another
            // on the same app (sequences reach states single keys do not).
            for prefix in [None, Some(ch('e')), Some(ch('?')), Some(ch('r'))] {
                let mut app = fresh();
                for k in all_keys() {
                    if let Some(p) = &prefix {
                        send(&mut app, p.clone());
                    }
                    send(&mut app, k.clone());
                    if app.state.quit.take().is_some() {
                        app = fresh();
                    }
                    draw(&app, 80, 24);
                }
                draw(&app, 160, 48);
            }
        }
    }
}

/// Every height from the smallest accepted up, at widths around the layout's breakpoints, with
/// every pane holding data (Redis with its latency history included): whatever room the layout
/// solver leaves a pane, drawing never writes outside the frame.
#[test]
fn every_height_and_width_around_the_breakpoints_draws() {
    let t0 = Instant::now();
    let mut running = fixture::app(t0);
    fixture::running(&mut running, Strategy::Atomic);
    let with_redis = fixture::app_with(fixture::postgres(), t0, "dark");
    assert!(with_redis.state.redis.value.is_some(), "Redis data to draw");
    for app in [fixture::app(t0), running, with_redis] {
        for w in [40, 59, 60, 79, 80, 100, 119, 120, 160] {
            for h in 5..=50 {
                draw(&app, w, h);
            }
        }
    }
}

#[test]
fn resizing_to_20x5_and_back_never_panics() {
    let t0 = Instant::now();
    let mut apps = vec![fixture::app(t0)];
    let mut a = fixture::app(t0);
    fixture::running(&mut a, Strategy::Atomic);
    apps.push(a);
    let mut a = fixture::app(t0);
    fixture::finished(&mut a, true);
    send(&mut a, ch('?'));
    apps.push(a);
    let mut a = fixture::app(t0);
    send(&mut a, ch('e'));
    apps.push(a);
    for app in &mut apps {
        for (w, h) in [
            (80, 24),
            (20, 5),
            (1, 1),
            (59, 15),
            (60, 16),
            (119, 35),
            (120, 36),
            (200, 60),
            (300, 10),
            (10, 100),
            (80, 24),
        ] {
            send(app, Event::Resize(w, h));
            let screen = draw(app, w, h);
            if (w, h) == (20, 5) {
                assert!(screen.contains("too small"), "{screen}");
            }
        }
    }
}

#[test]
fn firing_on_the_embedded_database_asks_first_too() {
    let mut app = fixture::app(Instant::now());
    assert!(send(&mut app, ch('b')).is_empty(), "nothing fired yet");
    let Some(Overlay::Confirm(c)) = &app.state.overlay else {
        panic!("a confirm dialog: {:?}", app.state.overlay);
    };
    assert_eq!(
        c.lines,
        [
            "200 purchases of Laptop Pro 15 (#1) at concurrency 32, strategy batched",
            "against the embedded flashsale.db — these are real orders."
        ]
    );
    let effects = send(&mut app, ch('y'));
    assert!(
        matches!(&effects[..], [Effect::StartBurst(r)] if r.product_id == 1),
        "{effects:?}"
    );
    assert!(app.state.burst.is_running());
    assert_eq!(app.state.focus, Pane::Burst);
    // A second burst waits for the first.
    assert!(send(&mut app, ch('b')).is_empty());
    assert!(
        app.state
            .notice
            .as_ref()
            .is_some_and(|n| n.text.contains("already running"))
    );
}

#[test]
fn firing_at_another_database_asks_first() {
    let mut app = fixture::app_with(fixture::postgres(), Instant::now(), "dark");
    assert!(send(&mut app, ch('b')).is_empty());
    assert!(matches!(app.state.overlay, Some(Overlay::Confirm(_))));
    assert!(send(&mut app, ch('n')).is_empty(), "n declines");
    assert!(app.state.overlay.is_none() && !app.state.burst.is_running());
    send(&mut app, ch('b'));
    let effects = send(&mut app, ch('y'));
    assert!(
        matches!(&effects[..], [Effect::StartBurst(_)]),
        "{effects:?}"
    );
}

#[test]
fn enter_fires_from_the_burst_pane_and_drills_down_from_the_stock_pane() {
    let mut app = fixture::app(Instant::now());
    send(&mut app, ch('j'));
    send(&mut app, ch('j'));
    // Enter on a Stock row opens its drill-down and asks for its orders.
    assert_eq!(
        send(&mut app, key(KeyCode::Enter)),
        [Effect::FetchOrders {
            product_id: 3,
            limit: crate::state::drill_view::DRILL_ORDERS
        }]
    );
    assert!(matches!(&app.state.overlay, Some(Overlay::Drill(d)) if d.product_id == 3));
    assert!(send(&mut app, key(KeyCode::Esc)).is_empty());
    assert_eq!(app.state.overlay, None);
    send(&mut app, key(KeyCode::Tab));
    assert_eq!(app.state.focus, Pane::Burst);
    assert!(send(&mut app, key(KeyCode::Enter)).is_empty(), "asks first");
    assert!(matches!(app.state.overlay, Some(Overlay::Confirm(_))));
    let effects = send(&mut app, key(KeyCode::Enter));
    assert!(
        matches!(&effects[..], [Effect::StartBurst(r)] if r.product_id == 3),
        "{effects:?}"
    );
}

#[test]
fn escape_cancels_a_running_burst_once() {
    let mut app = fixture::app(Instant::now());
    fixture::running(&mut app, Strategy::Atomic);
    assert_eq!(send(&mut app, key(KeyCode::Esc)), [Effect::CancelBurst]);
    assert!(send(&mut app, key(KeyCode::Esc)).is_empty());
    assert!(matches!(
        app.state.burst.phase,
        BurstPhase::Running {
            cancelling: true,
            ..
        }
    ));
}

#[test]
fn quitting_during_a_burst_cancels_it() {
    let mut app = fixture::app(Instant::now());
    fixture::running(&mut app, Strategy::Atomic);
    assert_eq!(send(&mut app, ch('q')), [Effect::CancelBurst]);
    assert_eq!(app.state.quit, Some(crate::Ending::Quit));
    assert!(
        !app.state.leave_now,
        "q waits briefly for the cancelled burst's audit"
    );
    let mut app = fixture::app(Instant::now());
    fixture::running(&mut app, Strategy::Atomic);
    send(
        &mut app,
        Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert_eq!(
        app.state.quit,
        Some(crate::Ending::Quit),
        "ctrl-c always quits"
    );
    assert!(app.state.leave_now, "and does not wait for the audit");
    let mut app = fixture::app(Instant::now());
    fixture::running(&mut app, Strategy::Atomic);
    send(&mut app, Event::Signal("SIGTERM"));
    assert_eq!(app.state.quit, Some(crate::Ending::Signal("SIGTERM")));
    assert!(app.state.leave_now, "nor does a signal");
}

#[test]
fn read_only_refuses_every_write_with_a_message() {
    let mut app = fixture::app(Instant::now());
    app.state.read_only = true;
    for k in ['b', 'r', 'e', 's'] {
        assert!(send(&mut app, ch(k)).is_empty());
        assert!(app.state.overlay.is_none() && app.state.burst.editor.is_none());
        let notice = app
            .state
            .notice
            .as_ref()
            .map(|n| n.text.clone())
            .unwrap_or_default();
        assert!(notice.contains("read-only"), "{k}: {notice}");
    }
    app.state.focus = Pane::Burst;
    assert!(send(&mut app, key(KeyCode::Enter)).is_empty());
    let screen = draw(&app, 80, 24);
    assert!(
        !screen.contains("b burst"),
        "the footer hides write keys: {screen}"
    );
    assert!(screen.contains("READ-ONLY"), "{screen}");
}

#[test]
fn restock_asks_then_applies_and_resets_the_gauge() {
    let mut app = fixture::app(Instant::now());
    send(&mut app, ch('j'));
    send(&mut app, ch('j'));
    send(&mut app, ch('r'));
    let effects = send(&mut app, ch('y'));
    assert_eq!(
        effects,
        [Effect::Restock {
            product_id: 3,
            stock: 100
        }]
    );
    send(&mut app, Event::Restocked(Ok((3, 100))));
    // Full again: measured from the restock on, the 14 units sold before it left out.
    assert_eq!(
        app.state.gauges.get(3),
        Some(crate::state::GaugeRef {
            seen: 100,
            last: 100,
            sold_at: Some(14)
        })
    );
    assert!(
        app.state
            .log
            .entries
            .iter()
            .any(|e| e.text == "restocked product 3 to 100")
    );
}

#[test]
fn strategy_cycles_and_naive_says_unsafe() {
    let mut app = fixture::app(Instant::now());
    assert_eq!(
        app.state.burst.params.strategy,
        Strategy::Batched,
        "the default"
    );
    send(&mut app, ch('s'));
    assert_eq!(app.state.burst.params.strategy, Strategy::Atomic);
    send(&mut app, ch('s'));
    assert_eq!(app.state.burst.params.strategy, Strategy::RowLock);
    send(&mut app, ch('s'));
    assert_eq!(app.state.burst.params.strategy, Strategy::Naive);
    assert!(
        app.state
            .notice
            .as_ref()
            .is_some_and(|n| n.text.contains("UNSAFE"))
    );
    assert!(draw(&app, 80, 24).contains("naive UNSAFE"));
    send(&mut app, ch('s'));
    assert_eq!(app.state.burst.params.strategy, Strategy::Batched);
}

#[test]
fn refresh_rate_steps_and_pause_toggles() {
    let mut app = fixture::app(Instant::now());
    send(&mut app, ch('+'));
    assert_eq!(app.state.refresh, Duration::from_millis(500));
    for _ in 0..10 {
        send(&mut app, ch('-'));
    }
    assert_eq!(app.state.refresh, Duration::from_secs(10));
    send(&mut app, ch(' '));
    assert!(app.state.paused);
    assert!(draw(&app, 80, 24).contains("PAUSED"));
}

#[test]
fn editing_parameters_validates_in_place() {
    let mut app = fixture::app(Instant::now());
    send(&mut app, ch('e'));
    send(&mut app, ch('x'));
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("200x"), "{screen}");
    assert!(
        screen.contains("✖"),
        "the error is shown beside the field: {screen}"
    );
    send(&mut app, key(KeyCode::Enter));
    assert!(
        app.state.burst.editor.is_some(),
        "an invalid field keeps the editor open"
    );
    send(&mut app, key(KeyCode::Backspace));
    send(&mut app, key(KeyCode::Backspace));
    send(&mut app, key(KeyCode::Backspace));
    send(&mut app, key(KeyCode::Backspace));
    send(&mut app, ch('9'));
    send(&mut app, key(KeyCode::Enter));
    assert!(app.state.burst.editor.is_none());
    assert_eq!(app.state.burst.params.buyers, 9);
}

#[test]
fn a_database_that_goes_down_is_logged_once_and_panes_go_stale() {
    let t0 = Instant::now();
    let mut app = fixture::app(t0);
    fixture::database_down(&mut app, t0);
    let later = t0 + Duration::from_secs(14);
    for _ in 0..3 {
        app.update(
            Update::Failed {
                source: Source::Stock,
                error: "database unreachable: connection refused".into(),
                retry_in: Duration::from_secs(2),
            }
            .into(),
            later,
            fixture::wall(),
        );
    }
    let logged = app
        .state
        .log
        .entries
        .iter()
        .filter(|e| e.text.starts_with("stock: database unreachable"))
        .count();
    assert_eq!(logged, 1);
    let screen = draw(&app, 80, 24);
    assert!(
        screen.contains("database unreachable: connection refused, retrying in 2s"),
        "{screen}"
    );
    assert!(screen.contains("stale 14s"), "{screen}");
    app.update(
        Update::Stock(fixture::products()).into(),
        later,
        fixture::wall(),
    );
    assert!(
        app.state
            .log
            .entries
            .iter()
            .any(|e| e.text == "stock: reachable again")
    );
}
