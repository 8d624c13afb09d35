//! Moving around as k9s and lazygit users do (issue 17 items 5 and 6): the Stock table's filter
//! and sort, pages and ends, number keys, zoom, the events' level filter, and the alerts list
//! with silences. Driven through `App::update` with keys, checked on the state and on screen
//! at 80x24 and 200x60.

use std::time::{Duration, Instant};

use crossterm::event::KeyCode;

use super::app::App;
use super::drive_tests::{ch, key, send};
use super::fixture;
use super::snapshot_tests::{render, text};
use super::state::{Level, Overlay, Pane, SortBy};

const SIZES: [(u16, u16); 2] = [(80, 24), (200, 60)];

fn screen(app: &App, w: u16, h: u16) -> String {
    let buf = render(app, w, h);
    text(&buf, buf.area)
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        send(app, ch(c));
    }
}

fn selected(app: &App) -> String {
    app.state
        .selected_product()
        .map(|p| p.name.clone())
        .unwrap_or_default()
}

#[test]
fn slash_types_a_filter_that_enter_keeps_and_esc_clears_and_keys_are_text_meanwhile() {
    let mut app = fixture::app(Instant::now());
    send(&mut app, ch('/'));
    // `q` and `b` are text while the filter is typed: nothing quits, nothing fires.
    let effects: Vec<_> = "qb".chars().flat_map(|c| send(&mut app, ch(c))).collect();
    assert!(effects.is_empty() && app.state.quit.is_none());
    assert_eq!(app.state.stock_view.filter, "qb");
    send(&mut app, key(KeyCode::Backspace));
    send(&mut app, key(KeyCode::Backspace));
    typed(&mut app, "key");
    assert_eq!(
        selected(&app),
        "Mechanical Keyboard",
        "the first match is selected"
    );
    send(&mut app, key(KeyCode::Enter));
    assert!(!app.state.stock_view.typing);
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        insta::assert_snapshot!(format!("stock_filtered_{w}x{h}"), s);
    }
    // Kept: keys mean their actions again; down stays on the only match.
    send(&mut app, ch('j'));
    assert_eq!(selected(&app), "Mechanical Keyboard");
    send(&mut app, ch('/'));
    send(&mut app, key(KeyCode::Esc));
    assert_eq!(app.state.stock_view.filter, "");
    assert_eq!(app.state.shown_products().len(), 5);
    // A filter nothing matches says so, and the selection (the burst target) stays put.
    send(&mut app, ch('/'));
    typed(&mut app, "zzz");
    assert!(app.state.shown_products().is_empty());
    assert!(screen(&app, 80, 24).contains("no product matches"));
    assert_eq!(selected(&app), "Mechanical Keyboard");
}

#[test]
fn a_filter_longer_than_its_limit_is_refused_with_a_notice_not_cut_silently() {
    let mut app = fixture::app(Instant::now());
    send(&mut app, ch('/'));
    typed(&mut app, &"x".repeat(80));
    assert_eq!(app.state.stock_view.filter.chars().count(), 64);
    let notice = app.state.notice.as_ref().map(|n| n.text.clone());
    assert!(notice.is_some_and(|n| n.contains("at most 64")));
}

/// A notice longer than the status line is cut between words: the number at its end is shown
/// whole or not at all, never its first digits alone.
#[test]
fn a_long_notice_is_cut_between_words_never_inside_a_number() {
    let mut app = fixture::app(Instant::now());
    // No alerts: on a narrow screen they would take the status line.
    app.state.alerts.clear();
    let text = format!(
        "restocked {}from 1250 to 2500000",
        "Mechanical Keyboard ".repeat(3)
    );
    app.state.notice = Some(super::state::Notice {
        text: text.clone(),
        level: Level::Ok,
        until: Instant::now() + Duration::from_secs(60),
    });
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        let line = s
            .lines()
            .find(|l| l.contains("restocked Mechanical"))
            .unwrap_or_else(|| panic!("the notice is on screen at {w}x{h}:\n{s}"));
        if w >= 90 {
            assert!(line.contains(&text), "whole at {w}: {line:?}");
        } else {
            let shown = line
                .trim()
                .strip_suffix('…')
                .unwrap_or_else(|| panic!("{line:?}"));
            assert!(
                text.starts_with(shown) && text[shown.len()..].starts_with(' '),
                "cut after a whole word: {line:?}"
            );
            assert!(!line.contains("25"), "no part of the last number: {line:?}");
        }
    }
}

/// On a screen without an alert row, a notice (the answer to the operator's key) is not
/// hidden by warnings for its few seconds; their label stays in front of it. (A critical alert
/// keeps the line: `dashboard_truth`'s oversell test.)
#[test]
fn a_notice_shows_beside_the_alerts_label_on_a_narrow_screen() {
    let mut app = fixture::app(Instant::now());
    assert!(
        app.state.banner_alerts().next().is_some(),
        "the fixture has alerts"
    );
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("low stock: Mechanical Keyboard"),
        "alerts before: {s}"
    );
    app.state.notice = Some(super::state::Notice {
        text: "restocked Wireless Mouse from 0 to 500".into(),
        level: Level::Ok,
        until: Instant::now() + Duration::from_secs(60),
    });
    let s = screen(&app, 80, 24);
    let line = s
        .lines()
        .find(|l| l.contains("restocked Wireless Mouse from 0 to 500"))
        .unwrap_or_else(|| panic!("the notice is on screen:\n{s}"));
    assert!(line.contains("⚠ ALERTS (2)"), "{line:?}");
}

#[test]
fn o_sorts_by_each_column_in_turn_and_shift_o_reverses_the_selection_follows_its_product() {
    let mut app = fixture::app(Instant::now());
    send(&mut app, ch('o'));
    assert_eq!(app.state.stock_view.sort, SortBy::Name);
    send(&mut app, ch('o'));
    assert_eq!(app.state.stock_view.sort, SortBy::Price);
    send(&mut app, ch('O'));
    assert!(app.state.stock_view.descending);
    // Descending price: Laptop (selected), 4K Monitor, Keyboard, Hub, Mouse.
    send(&mut app, ch('j'));
    assert_eq!(selected(&app), "4K Monitor", "down follows the order shown");
    send(&mut app, ch('G'));
    assert_eq!(selected(&app), "Wireless Mouse");
    send(&mut app, ch('g'));
    assert_eq!(selected(&app), "Laptop Pro 15");
    send(&mut app, key(KeyCode::End));
    send(&mut app, key(KeyCode::PageUp));
    assert_eq!(
        selected(&app),
        "Laptop Pro 15",
        "a page is more than the table"
    );
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        assert!(s.contains("by price ▼"), "{s}");
        insta::assert_snapshot!(format!("stock_sorted_{w}x{h}"), s);
    }
    for _ in 0..8 {
        send(&mut app, ch('o'));
    }
    assert_eq!(
        app.state.stock_view.sort,
        SortBy::Price,
        "round the columns"
    );
}

#[test]
fn number_keys_focus_panes_and_z_zooms_the_focused_one_over_the_body() {
    let mut app = fixture::app(Instant::now());
    send(&mut app, ch('7'));
    assert_eq!(app.state.focus, Pane::Events);
    send(&mut app, ch('5'));
    assert_eq!(app.state.focus, Pane::Pool);
    send(&mut app, ch('1'));
    send(&mut app, ch('z'));
    assert!(app.state.zoom);
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        assert!(!s.contains("Connection pool"), "only the stock pane: {s}");
        insta::assert_snapshot!(format!("zoom_stock_{w}x{h}"), s);
    }
    // Tab moves the zoom to the next pane, as the focus goes.
    send(&mut app, key(KeyCode::Tab));
    assert!(screen(&app, 80, 24).contains("Burst"));
    assert!(!screen(&app, 80, 24).contains("1299.99"), "stock hidden");
    send(&mut app, ch('z'));
    assert!(!app.state.zoom);
    // Digits in a dialog are not pane jumps.
    app.state.overlay = Some(Overlay::Help);
    send(&mut app, ch('3'));
    assert_eq!(app.state.focus, Pane::Burst);
}

#[test]
fn shift_l_filters_events_by_level_and_the_title_says_so() {
    let mut app = fixture::app(Instant::now());
    let wall = fixture::wall();
    app.state.log.push(wall, Level::Error, "disk on fire");
    send(&mut app, ch('L'));
    let s = screen(&app, 80, 24);
    assert!(s.contains("warn+"), "{s}");
    assert!(!s.contains("live again"), "info hidden: {s}");
    send(&mut app, ch('L'));
    let s = screen(&app, 80, 24);
    assert!(s.contains("errors") && s.contains("disk on fire"), "{s}");
    assert!(!s.contains("ALERT 4K Monitor"), "warnings hidden: {s}");
    send(&mut app, ch('L'));
    assert!(
        screen(&app, 80, 24).contains("live again"),
        "every level again"
    );
}

#[test]
fn the_alerts_list_shows_since_and_count_and_a_silence_takes_an_alert_off_the_banner() {
    let mut app = fixture::app(Instant::now());
    assert_eq!(
        app.state.alerts.len(),
        2,
        "the fixture's low stock and sold out"
    );
    send(&mut app, ch('!'));
    assert!(matches!(app.state.overlay, Some(Overlay::Alerts { .. })));
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        assert!(s.contains("raised 1×") && s.contains("firing"), "{s}");
        insta::assert_snapshot!(format!("alerts_list_{w}x{h}"), s);
    }
    // The first is "low stock" (both warnings, in rule order); silence the second.
    send(&mut app, ch('j'));
    let second = app.state.alerts[1].clone();
    send(&mut app, ch('M'));
    assert!(app.state.alert_book.is_silenced(&second.key, app.state.now));
    let s = screen(&app, 80, 24);
    assert!(s.contains("silenced until"), "{s}");
    send(&mut app, key(KeyCode::Esc));
    assert_eq!(app.state.overlay, None);
    let banner = screen(&app, 200, 60);
    let banner_line = banner.lines().find(|l| l.contains("⚠")).unwrap_or("");
    assert!(!banner_line.contains(&second.message), "{banner_line}");
    assert!(banner_line.contains("⚠ ALERT "), "one left: {banner_line}");
    // M again steps the silence up; after the last step it is lifted.
    send(&mut app, ch('!'));
    send(&mut app, ch('j'));
    for _ in 0..3 {
        send(&mut app, ch('M'));
    }
    assert!(!app.state.alert_book.is_silenced(&second.key, app.state.now));
    // A silence runs out by the clock.
    send(&mut app, ch('M'));
    let later = app.state.now + Duration::from_secs(16 * 60);
    app.update(super::event::Event::Tick, later, app.state.wall);
    assert!(!app.state.alert_book.is_silenced(&second.key, later));
}

#[test]
fn an_oversell_is_acknowledged_from_the_list_not_silenced() {
    let mut app = fixture::app(Instant::now());
    fixture::finished(&mut app, true);
    send(&mut app, super::event::Event::Tick);
    send(&mut app, ch('!'));
    let first = app
        .state
        .alerts
        .first()
        .map(|a| a.key.clone())
        .unwrap_or_default();
    assert!(first.starts_with("oversold-"), "{first}");
    send(&mut app, ch('M'));
    assert!(!app.state.alert_book.is_silenced(&first, app.state.now));
    let notice = app
        .state
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default();
    assert!(notice.contains("acknowledge it (a)"), "{notice}");
    send(&mut app, ch('a'));
    assert!(
        !app.state.alerts.iter().any(|a| a.key == first),
        "acknowledged"
    );
    assert!(matches!(app.state.overlay, Some(Overlay::Alerts { .. })));
}

fn names(app: &App) -> Vec<String> {
    let products = app.state.stock.value.as_ref().expect("products");
    app.state
        .shown_products()
        .into_iter()
        .map(|i| products[i].name.clone())
        .collect()
}

#[test]
fn the_filter_matches_name_or_id_in_any_case_and_sorting_keeps_the_selection() {
    let mut app = fixture::app(Instant::now());
    app.state.stock_view.filter = "MOUSE".into();
    assert_eq!(names(&app), ["Wireless Mouse"]);
    app.state.stock_view.filter = "#4".into();
    assert_eq!(names(&app), ["4K Monitor"]);
    app.state.stock_view.filter.clear();
    app.state.selected = 2;
    app.state.stock_view.sort = SortBy::Price;
    assert_eq!(
        names(&app),
        [
            "Wireless Mouse",
            "USB-C Hub",
            "Mechanical Keyboard",
            "4K Monitor",
            "Laptop Pro 15"
        ]
    );
    app.state.stock_view.descending = true;
    assert_eq!(names(&app)[0], "Laptop Pro 15");
    let selected = app.state.selected_product().map(|p| p.name.clone());
    assert_eq!(selected.as_deref(), Some("Mechanical Keyboard"));
}

#[test]
fn out_puts_the_sold_out_first_and_unknown_figures_go_last_both_ways() {
    let mut app = fixture::app(Instant::now());
    app.state.stock_view.sort = SortBy::Out;
    assert_eq!(names(&app)[0], "4K Monitor", "stock 0 sells out now");
    // Sales known for one product only (over the API, the server's top list).
    let mut sales = fixture::sales();
    sales.products.retain(|p| p.product_id == 3);
    sales.coverage = flashsale_monitor::sales::SalesCoverage::TopProducts;
    app.state.sales.value = Some(sales);
    app.state.conn.api = Some(crate::state::ApiLink {
        url: "http://127.0.0.1:1".into(),
        database: None,
        replicas: Vec::new(),
    });
    app.state.stock_view.sort = SortBy::Sold;
    for descending in [false, true] {
        app.state.stock_view.descending = descending;
        assert_eq!(names(&app)[0], "Mechanical Keyboard", "desc {descending}");
        assert_eq!(names(&app)[1], "Laptop Pro 15", "the rest by id");
    }
}

#[test]
fn a_help_taller_than_the_screen_scrolls_and_says_so() {
    let mut app = fixture::app(Instant::now());
    send(&mut app, ch('?'));
    let top = screen(&app, 60, 16);
    assert!(
        top.contains("↑↓ more") && top.contains("quit (cancels"),
        "{top}"
    );
    assert!(
        !top.contains("quit at once"),
        "the last row is below: {top}"
    );
    send(&mut app, key(KeyCode::PageDown));
    let bottom = screen(&app, 60, 16);
    assert!(bottom.contains("quit at once"), "{bottom}");
    // Opened again, it starts at the top; where it fits, nothing scrolls.
    send(&mut app, ch('?'));
    send(&mut app, ch('?'));
    assert!(screen(&app, 60, 16).contains("quit (cancels"));
    assert!(!screen(&app, 200, 60).contains("↑↓ more"));
}
