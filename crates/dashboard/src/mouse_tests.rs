//! The mouse (issue 17 item 5), driven through `App::update` with the events crossterm gives:
//! a click selects the Stock row under it at both arrangements, focuses the pane under it, the
//! wheel scrolls what is under it, overlays take the mouse first.

use std::time::Instant;

use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use crate::event::Event;
use crate::fixture;
use crate::state::{Overlay, Pane};

fn at(kind: MouseEventKind, column: u16, row: u16) -> Event {
    Event::Mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

fn app(w: u16, h: u16) -> crate::app::App {
    let t0 = Instant::now();
    let mut app = fixture::app(t0);
    app.update(Event::Resize(w, h), t0, fixture::wall());
    app
}

fn send(app: &mut crate::app::App, ev: Event) {
    let (now, wall) = (app.state.now, app.state.wall);
    app.update(ev, now, wall);
}

/// The screen line showing `text`, as drawn at `w`x`h`.
fn line_of(app: &crate::app::App, w: u16, h: u16, text: &str) -> u16 {
    let screen = super::drive_tests::draw(app, w, h);
    let i = screen
        .lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("{text} not drawn:\n{screen}"));
    i as u16
}

#[test]
fn a_click_on_a_stock_row_selects_that_product_at_both_arrangements() {
    for (w, h) in [(80, 24), (200, 60)] {
        let mut app = app(w, h);
        app.state.focus = Pane::Events;
        // Its price: the banner names the product too.
        let y = line_of(&app, w, h, "449.99");
        send(&mut app, at(MouseEventKind::Down(MouseButton::Left), 10, y));
        assert_eq!(app.state.focus, Pane::Stock, "{w}x{h}");
        assert_eq!(
            app.state.selected_product().map(|p| p.name.as_str()),
            Some("4K Monitor")
        );
        // The header line above the rows selects nothing.
        let header = line_of(&app, w, h, "price");
        send(
            &mut app,
            at(MouseEventKind::Down(MouseButton::Left), 10, header),
        );
        assert_eq!(
            app.state.selected_product().map(|p| p.name.as_str()),
            Some("4K Monitor")
        );
    }
}

#[test]
fn a_click_focuses_the_pane_under_it_and_the_wheel_scrolls_it() {
    let mut app = app(80, 24);
    let y = line_of(&app, 80, 24, "Events");
    send(&mut app, at(MouseEventKind::Down(MouseButton::Left), 2, y));
    assert_eq!(app.state.focus, Pane::Events);
    send(&mut app, at(MouseEventKind::ScrollUp, 2, y + 1));
    assert_eq!(app.state.log.scroll, 1, "the wheel up shows older events");
    send(&mut app, at(MouseEventKind::ScrollDown, 2, y + 1));
    assert_eq!(app.state.log.scroll, 0);
    // The wheel over the Stock pane moves the selection there.
    let y = line_of(&app, 80, 24, " 29.99");
    send(&mut app, at(MouseEventKind::ScrollDown, 10, y));
    assert_eq!(app.state.focus, Pane::Stock);
    assert_eq!(app.state.selected, 1);
}

#[test]
fn overlays_take_the_mouse_first() {
    let mut app = app(80, 24);
    app.state.overlay = Some(Overlay::Help);
    send(
        &mut app,
        at(MouseEventKind::Down(MouseButton::Left), 40, 12),
    );
    assert_eq!(app.state.overlay, None, "a click closes the help");
    app.state.overlay = Some(Overlay::Whole {
        pane: Pane::Events,
        scroll: 0,
    });
    send(&mut app, at(MouseEventKind::ScrollDown, 40, 12));
    assert_eq!(
        app.state.overlay,
        Some(Overlay::Whole {
            pane: Pane::Events,
            scroll: 1
        })
    );
    // Behind the overlay nothing moves.
    assert_eq!(app.state.selected, 0);
    assert_eq!(app.state.focus, Pane::Stock);
}

#[test]
fn before_the_size_is_known_and_off_screen_a_click_does_nothing() {
    let t0 = Instant::now();
    let mut app = fixture::app(t0);
    send(&mut app, at(MouseEventKind::Down(MouseButton::Left), 10, 5));
    assert_eq!((app.state.focus, app.state.selected), (Pane::Stock, 0));
    let mut app = self::app(80, 24);
    send(
        &mut app,
        at(MouseEventKind::Down(MouseButton::Left), 500, 500),
    );
    assert_eq!((app.state.focus, app.state.selected), (Pane::Stock, 0));
}
