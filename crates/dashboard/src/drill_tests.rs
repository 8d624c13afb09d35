//! The drill-down and the history graphs (issue 17 items 4 and 9), driven through
//! `App::update` with the stock samples, burst progress and orders the runtime delivers: 15
//! minutes of them, then keys and the mouse; checked on the state, on the effects and on
//! screen at 80x24 and 200x60.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::app::{App, Effect};
use super::drive_tests::{ch, key, send};
use super::event::Event;
use super::fixture;
use super::snapshot_tests::{render, text};
use super::state::drill_view::DRILL_ORDERS;
use super::state::{Overlay, Pane, Range};
use flashsale_burst::{Counts, Progress};
use flashsale_core::money::Money;
use flashsale_core::store::recent::RecentOrder;
use flashsale_monitor::Update;

const SIZES: [(u16, u16); 2] = [(80, 24), (200, 60)];

fn screen(app: &App, w: u16, h: u16) -> String {
    let buf = render(app, w, h);
    text(&buf, buf.area)
}

fn update(app: &mut App, ev: Event, at: Instant) -> Vec<Effect> {
    let wall = app.state.wall;
    app.update(ev, at, wall)
}

/// The Mechanical Keyboard (#3) over 15 minutes, a sample every 5 s: 3 left, sold out in the
/// first minute, restocked to 40 by someone else at minute 4, then about 2 a minute; a burst
/// fired here at minute 6 to 9 (12 bought, the rest sold out). The Laptop sells 1 a minute.
/// Returns the app at the end, 15 minutes after `t0`.
fn fifteen_minutes(t0: Instant) -> App {
    let mut app = fixture::app(t0);
    let mut keyboard = 3;
    for i in 1..=180u64 {
        let at = t0 + Duration::from_secs(5 * i);
        // The wall clock moves with the samples and ends at the fixture's 12:34:56.
        app.state.wall = fixture::wall() - chrono::Duration::seconds(900 - 5 * i as i64);
        keyboard = match i {
            48 => 40,
            _ if i % 6 == 0 || (i < 12 && i % 4 == 0) => (keyboard - 1).max(0),
            _ => keyboard,
        };
        let mut products = fixture::products();
        products[2].stock = keyboard;
        products[0].stock = 58 - (i / 12) as i32;
        update(&mut app, Update::Stock(products).into(), at);
        // The other samplers answer as often (no pane is stale at the end).
        update(&mut app, Update::Sales(fixture::sales()).into(), at);
        let pool = fixture::pool(app.state.conn.backend);
        update(&mut app, Update::Pool(pool).into(), at);
        if i == 72 {
            fixture::running(&mut app, flashsale_core::strategy::Strategy::Atomic);
            app.state.focus = Pane::Stock;
        }
        if (73..108).contains(&i) {
            let k = i - 72;
            let counts = Counts {
                purchased: k.min(12),
                sold_out: 5 * k,
                busy: k / 10,
                ..Counts::default()
            };
            let p = Progress {
                planned: 200,
                completed: counts.total(),
                counts,
                ..Progress::default()
            };
            update(&mut app, Event::BurstProgress(p), at);
        }
        if i == 108 {
            let report = Box::new(fixture::report(false));
            update(&mut app, Event::BurstFinished(Ok(report)), at);
        }
    }
    app.state.focus = Pane::Stock;
    app
}

fn orders(n: i64) -> Vec<RecentOrder> {
    (0..n)
        .map(|i| RecentOrder {
            id: 1_040 - i,
            user_id: format!("burst-1-{:04}", 200 - i),
            quantity: 1 + (i % 2) as i32,
            total_price: Money::from_cents(14_999 * (1 + i % 2)),
            status: "completed".into(),
            created_at: format!("2026-11-25T12:{:02}:{:02}Z", 34 - i / 6, 50 - (i % 6) * 7),
        })
        .collect()
}

/// `j j` selects the keyboard, Enter drills down; the orders it asks for arrive.
fn drill_into_keyboard(app: &mut App, at: Instant) {
    send(app, ch('j'));
    send(app, ch('j'));
    let effects = send(app, key(KeyCode::Enter));
    assert_eq!(
        effects,
        [Effect::FetchOrders {
            product_id: 3,
            limit: DRILL_ORDERS
        }]
    );
    let result = Ok(orders(30));
    update(
        app,
        Event::RecentOrders {
            product_id: 3,
            result,
        },
        at,
    );
}

fn drill(app: &App) -> &crate::state::Drill {
    match &app.state.overlay {
        Some(Overlay::Drill(d)) => d,
        other => panic!("no drill-down: {other:?}"),
    }
}

#[test]
fn the_drill_down_shows_the_products_charts_restock_bursts_and_orders() {
    let t0 = Instant::now();
    let mut app = fifteen_minutes(t0);
    let end = app.state.now;
    drill_into_keyboard(&mut app, end);
    let b = app.state.history.bursts[&3];
    assert_eq!((b.bursts, b.purchased, b.sold_out), (1, 15, 185));
    let r = app.state.history.restocks[&3];
    assert_eq!((r.from, r.to, r.ours), (Some(0), 40, false));
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        for part in [
            "#3 Mechanical Keyboard",
            "seen rising",
            "bursts here 1",
            "sold out 185",
            "latest orders 1-",
            "burst-1-0200",
        ] {
            assert!(s.contains(part), "{w}x{h}: no {part:?}:\n{s}");
        }
        insta::assert_snapshot!(format!("drill_down_{w}x{h}"), s);
    }
    // Esc goes back to the panes.
    send(&mut app, key(KeyCode::Esc));
    assert_eq!(app.state.overlay, None);
}

#[test]
fn the_history_graphs_beside_revenue_and_m_cycling_their_range() {
    let t0 = Instant::now();
    let mut app = fifteen_minutes(t0);
    assert_eq!(app.state.history.range, Range::Five);
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        assert!(s.contains("history 5m"), "{w}x{h}:\n{s}");
        assert!(s.contains("√ scale"), "{w}x{h}");
        insta::assert_snapshot!(format!("history_graphs_{w}x{h}"), s);
    }
    send(&mut app, ch('m'));
    assert_eq!(app.state.history.range, Range::Fifteen);
    let s = screen(&app, 200, 60);
    assert!(s.contains("history 15m"), "{s}");
    // Over 15 minutes the burst's purchases are in view: its peak is no longer 0.
    assert!(s.contains("purchases/s 0  peak 0.2"), "{s}");
    insta::assert_snapshot!("history_graphs_15m_200x60", s);
    send(&mut app, ch('m'));
    assert_eq!(app.state.history.range, Range::One);
    send(&mut app, ch('m'));
    assert_eq!(app.state.history.range, Range::Five);
    // Zoomed, the revenue pane gives the graphs the whole width.
    send(&mut app, ch('3'));
    send(&mut app, ch('z'));
    insta::assert_snapshot!("history_graphs_zoomed_80x24", screen(&app, 80, 24));
}

#[test]
fn r_in_the_drill_down_types_a_target_asks_then_comes_back() {
    let t0 = Instant::now();
    let mut app = fifteen_minutes(t0);
    let end = app.state.now;
    drill_into_keyboard(&mut app, end);
    send(&mut app, ch('r'));
    assert_eq!(drill(&app).typing.as_deref(), Some("100"), "the restock-to");
    for _ in 0..3 {
        send(&mut app, key(KeyCode::Backspace));
    }
    // Keys are text meanwhile: `q` does not quit, a letter is refused with a notice.
    send(&mut app, ch('q'));
    assert!(app.state.quit.is_none());
    let notice = app.state.notice.as_ref().map(|n| n.text.clone());
    assert!(notice.is_some_and(|n| n.contains("digits only")));
    for c in "42".chars() {
        send(&mut app, ch(c));
    }
    assert!(screen(&app, 80, 24).contains("restock to: 42"));
    assert!(send(&mut app, key(KeyCode::Enter)).is_empty(), "asks first");
    let Some(Overlay::Confirm(c)) = &app.state.overlay else {
        panic!("no dialog: {:?}", app.state.overlay);
    };
    assert!(
        c.lines[0].contains("Mechanical Keyboard (#3) to 42"),
        "{c:?}"
    );
    assert_eq!(
        send(&mut app, ch('y')),
        [Effect::Restock {
            product_id: 3,
            stock: 42
        }]
    );
    assert_eq!(drill(&app).typing, None, "back in the drill-down");
    update(&mut app, Event::Restocked(Ok((3, 42))), end);
    let r = app.state.history.restocks[&3];
    assert_eq!((r.from, r.to, r.ours), (Some(18), 42, true));
    assert!(screen(&app, 80, 24).contains("from here"));
    // A target past the bound is refused, and Esc stops typing without closing.
    send(&mut app, ch('r'));
    for _ in 0..3 {
        send(&mut app, key(KeyCode::Backspace));
    }
    for c in "2000000".chars() {
        send(&mut app, ch(c));
    }
    assert!(send(&mut app, key(KeyCode::Enter)).is_empty());
    assert!(drill(&app).typing.is_some());
    let notice = app.state.notice.as_ref().map(|n| n.text.clone());
    assert!(notice.is_some_and(|n| n.contains("0 to 1000000")));
    send(&mut app, key(KeyCode::Esc));
    assert_eq!(drill(&app).typing, None);
    // No answering the dialog with n: the drill-down comes back too.
    send(&mut app, ch('r'));
    send(&mut app, key(KeyCode::Enter));
    assert!(send(&mut app, ch('n')).is_empty());
    assert_eq!(drill(&app).product_id, 3);
}

#[test]
fn read_only_refuses_r_in_the_drill_down() {
    let t0 = Instant::now();
    let mut app = fifteen_minutes(t0);
    app.state.read_only = true;
    let end = app.state.now;
    drill_into_keyboard(&mut app, end);
    send(&mut app, ch('r'));
    assert_eq!(drill(&app).typing, None);
    let notice = app.state.notice.as_ref().map(|n| n.text.clone());
    assert!(notice.is_some_and(|n| n.contains("read-only")));
}

#[test]
fn orders_are_fetched_one_at_a_time_after_stock_samples_and_only_the_products_shown() {
    let t0 = Instant::now();
    let mut app = fixture::app(t0);
    send(&mut app, ch('j'));
    let effects = send(&mut app, key(KeyCode::Enter));
    assert_eq!(effects.len(), 1);
    let at = t0 + Duration::from_secs(1);
    // A sample while the fetch is in flight asks for nothing more.
    let sample = || Event::Monitor(Update::Stock(fixture::products()));
    assert!(update(&mut app, sample(), at).is_empty());
    // Another product's orders (a fetch from before) are not shown as this one's.
    let stale = Event::RecentOrders {
        product_id: 1,
        result: Ok(orders(3)),
    };
    update(&mut app, stale, at);
    assert!(screen(&app, 80, 24).contains("reading the latest orders"));
    let failed = Event::RecentOrders {
        product_id: 2,
        result: Err("database unreachable: connection refused".into()),
    };
    update(&mut app, failed, at);
    let s = screen(&app, 80, 24);
    assert!(s.contains("orders: database unreachable"), "{s}");
    assert_eq!(
        update(&mut app, sample(), at),
        [Effect::FetchOrders {
            product_id: 2,
            limit: DRILL_ORDERS
        }]
    );
    // Closed, samples fetch nothing.
    send(&mut app, key(KeyCode::Esc));
    update(
        &mut app,
        Event::RecentOrders {
            product_id: 2,
            result: Ok(orders(2)),
        },
        at,
    );
    assert!(update(&mut app, sample(), at).is_empty());
}

fn mouse(kind: MouseEventKind, column: u16, row: u16) -> Event {
    Event::Mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

#[test]
fn the_wheel_scrolls_the_orders_and_a_click_outside_closes() {
    let t0 = Instant::now();
    let mut app = fifteen_minutes(t0);
    let end = app.state.now;
    update(&mut app, Event::Resize(80, 24), end);
    drill_into_keyboard(&mut app, end);
    update(&mut app, mouse(MouseEventKind::ScrollDown, 40, 20), end);
    update(&mut app, mouse(MouseEventKind::ScrollDown, 40, 20), end);
    assert_eq!(drill(&app).scroll, 2);
    assert!(screen(&app, 80, 24).contains("latest orders 3-"));
    update(&mut app, mouse(MouseEventKind::ScrollUp, 40, 20), end);
    assert_eq!(drill(&app).scroll, 1);
    // Inside: nothing closes. On the header row (outside): closed.
    update(
        &mut app,
        mouse(MouseEventKind::Down(MouseButton::Left), 40, 12),
        end,
    );
    assert!(matches!(app.state.overlay, Some(Overlay::Drill(_))));
    update(
        &mut app,
        mouse(MouseEventKind::Down(MouseButton::Left), 40, 0),
        end,
    );
    assert_eq!(app.state.overlay, None);
}
