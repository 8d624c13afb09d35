//! Nothing on screen is cut for good (issue 16 item 15): at 80x24 the pane read whole (`v`,
//! Enter on Events) holds every message of the Events pane, whole; the banner counts the alerts
//! it could not show; a cancelled burst says so at every width; the latency line drops a
//! percentile rather than cut `ms`. Each checked against the data it came from.

use std::time::Instant;

use ratatui::layout::Rect;

use super::action::Action;
use super::fixture;
use super::snapshot_tests::{render, text};
use super::state::{Level, Pane};
use flashsale_monitor::{Alert, Severity};

const SIZES: [(u16, u16); 3] = [(60, 16), (80, 24), (160, 48)];

/// The overlay's text with its frame and the row breaks taken out: what a reader reads.
fn read(screen: &str) -> String {
    screen
        .lines()
        .map(|l| l.trim_matches(|c: char| c == '│' || c == ' '))
        .collect::<Vec<_>>()
        .join("")
}

#[test]
fn every_event_reads_whole_at_every_size() {
    let mut app = fixture::app(Instant::now());
    fixture::finished(&mut app, true);
    let long = "a message longer than any pane: ".to_string() + &"word ".repeat(30) + "END";
    app.state
        .log
        .push(fixture::wall(), Level::Warn, long.clone());
    app.state.focus = Pane::Events;
    let mut effects = Vec::new();
    app.action(Action::Activate, &mut effects);
    for (w, h) in SIZES {
        let buf = render(&app, w, h);
        insta::assert_snapshot!(format!("events_whole_{w}x{h}"), text(&buf, buf.area));
        // Scrolled through, one line at a time, every entry is read whole on some screen.
        let squeeze = |s: &str| s.split_whitespace().collect::<String>();
        let mut unread: Vec<String> = app
            .state
            .log
            .entries
            .iter()
            .map(|e| squeeze(&e.text))
            .collect();
        let mut screens = 0;
        while !unread.is_empty() && screens < 200 {
            let buf = render(&app, w, h);
            let shown = squeeze(&read(&text(&buf, buf.area)));
            unread.retain(|e| !shown.contains(e.as_str()));
            app.action(Action::Down, &mut effects);
            screens += 1;
        }
        assert!(unread.is_empty(), "{w}x{h}: never read whole: {unread:?}");
        for _ in 0..screens {
            app.action(Action::Up, &mut effects);
        }
    }
    app.action(Action::Whole, &mut effects);
    assert!(app.state.overlay.is_none(), "v closes it");
}

#[test]
fn the_banner_counts_the_alerts_it_cannot_show_and_v_lists_them_all() {
    let mut app = fixture::app(Instant::now());
    app.state.alerts = (1..=5)
        .map(|i| Alert {
            key: format!("test:{i}"),
            severity: if i == 1 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            message: format!("alert number {i} with a long explanation of what fired"),
            cleared: String::new(),
        })
        .collect();
    let buf = render(&app, 80, 24);
    let banner = text(&buf, Rect::new(0, 1, 80, 1));
    assert!(banner.contains("ALERTS (5)"), "{banner}");
    let more = banner
        .split("+")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no +N more in {banner:?}"));
    let whole_shown = (1..=5)
        .filter(|i| {
            banner.contains(&format!(
                "alert number {i} with a long explanation of what fired"
            ))
        })
        .count();
    assert_eq!(whole_shown + more, 5, "{banner}");
    let mut effects = Vec::new();
    app.action(Action::Whole, &mut effects);
    let buf = render(&app, 80, 24);
    let screen = read(&text(&buf, buf.area));
    for a in &app.state.alerts {
        assert!(screen.contains(&a.message), "{} missing", a.message);
    }
}

#[test]
fn a_cancelled_burst_says_so_and_its_latency_keeps_its_unit_at_every_size() {
    let mut app = fixture::app(Instant::now());
    app.state.selected = 2;
    fixture::running(&mut app, flashsale_core::strategy::Strategy::Atomic);
    let mut report = fixture::report(false);
    report.cancelled = 150;
    report.latency_ms.max = 16_042.5;
    report.latency_ms.p99 = 15_000.25;
    app.update(
        super::event::Event::BurstFinished(Ok(Box::new(report))),
        app.state.now,
        fixture::wall(),
    );
    for (w, h) in SIZES {
        let buf = render(&app, w, h);
        let a = super::layout::areas(buf.area, 5).expect("fits");
        let pane = text(&buf, a.burst);
        assert!(pane.contains("cancelled"), "{w}x{h}:\n{pane}");
        let latency = pane
            .lines()
            .find(|l| l.contains("max "))
            .unwrap_or_else(|| panic!("{w}x{h}: no latency line:\n{pane}"));
        let latency = latency.trim_matches(|c: char| c == '│' || c == ' ');
        assert!(latency.ends_with(" ms"), "{w}x{h}: {latency:?}");
        assert!(
            latency.contains(&super::format::ms(16_042.5)),
            "{w}x{h}: {latency:?}"
        );
    }
}
