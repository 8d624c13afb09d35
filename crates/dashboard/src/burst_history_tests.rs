//! The burst list (issue 17 item 7), driven through `App::update`: `B` lists the bursts
//! finished in this session newest first with their verdicts, a click or the arrows select one,
//! Enter opens its full report, `w` asks the runtime to save the selected one, Esc steps back.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use flashsale_burst::report::Bucket;

use super::app::{App, Effect};
use super::drive_tests::{ch, key, send};
use super::event::Event;
use super::fixture;
use super::snapshot_tests::{render, text};
use super::state::Overlay;

fn screen(app: &App, w: u16, h: u16) -> String {
    let buf = render(app, w, h);
    text(&buf, buf.area)
}

/// Two bursts finished: an honest one (with its latency histogram, as a real burst has), then
/// an oversold one (the newest).
fn two_bursts() -> App {
    let mut app = fixture::app(Instant::now());
    fixture::finished(&mut app, false);
    fixture::finished(&mut app, true);
    app.state.burst.history[0].report.latency_histogram = [(1.0, 61), (2.0, 97), (5.0, 30)]
        .into_iter()
        .map(|(up_to_ms, count)| Bucket { up_to_ms, count })
        .chain([Bucket {
            up_to_ms: f64::INFINITY,
            count: 12,
        }])
        .collect();
    app
}

fn selected(app: &App) -> usize {
    match app.state.overlay {
        Some(Overlay::Bursts { selected, .. }) => selected,
        _ => panic!("the burst list is not open: {:?}", app.state.overlay),
    }
}

#[test]
fn b_lists_the_bursts_newest_first_with_their_verdicts() {
    let mut app = two_bursts();
    send(&mut app, ch('B'));
    for (w, h) in [(80u16, 24u16), (200, 60)] {
        let s = screen(&app, w, h);
        assert!(s.contains("Bursts fired here (2)"), "{s}");
        let oversold = s.find("OVERSOLD by 38").expect("the naive burst's verdict");
        let ok = s.find("· OK").expect("the honest burst's verdict");
        assert!(oversold < ok, "newest first: {s}");
        assert!(s.contains(" 8.4 "), "p99: {s}");
        insta::assert_snapshot!(format!("burst_list_{w}x{h}"), s);
    }
}

#[test]
fn enter_opens_the_full_report_and_esc_steps_back_then_closes() {
    let mut app = two_bursts();
    send(&mut app, ch('B'));
    send(&mut app, ch('j'));
    assert_eq!(selected(&app), 1);
    send(&mut app, key(KeyCode::Enter));
    for (w, h) in [(80u16, 24u16), (200, 60)] {
        let s = screen(&app, w, h);
        assert!(s.contains("p99 8.4"), "percentiles: {s}");
        assert!(s.contains("<= 2 ms        97"), "the histogram: {s}");
        // The audit's line is wider than 80 columns: wrapped, its last figure whole.
        assert!(s.contains("audit: OK") && s.contains("phantom 0)"), "{s}");
        insta::assert_snapshot!(format!("burst_report_{w}x{h}"), s);
    }
    send(&mut app, key(KeyCode::Esc));
    assert!(matches!(
        app.state.overlay,
        Some(Overlay::Bursts { report: false, .. })
    ));
    send(&mut app, key(KeyCode::Esc));
    assert_eq!(app.state.overlay, None);
}

#[test]
fn w_saves_the_selected_burst_and_the_result_is_a_notice() {
    let mut app = two_bursts();
    send(&mut app, ch('B'));
    send(&mut app, ch('j'));
    let effects = send(&mut app, ch('w'));
    let [Effect::ExportBurst(record)] = effects.as_slice() else {
        panic!("one export: {effects:?}");
    };
    assert_eq!(
        record.report.audit.map(|a| a.ok),
        Some(true),
        "the older, honest one"
    );
    send(
        &mut app,
        Event::Exported(Ok(("/s/bursts/a.json".into(), "/s/bursts/a.txt".into()))),
    );
    let notice = app.state.notice.clone().expect("a notice").text;
    assert!(notice.contains("/s/bursts/a.json") && notice.contains("/s/bursts/a.txt"));
    // The status line is under the list: the list says it at its foot, and the events keep it.
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("burst report saved: /s/bursts/a.json and /s/bursts/a.txt"),
        "{s}"
    );
    assert_eq!(
        fixture::events_starting(&app, "burst report saved:").len(),
        1,
        "in the events pane"
    );
    send(
        &mut app,
        Event::Exported(Err("cannot write /x: denied".into())),
    );
    assert!(
        app.state
            .notice
            .expect("notice")
            .text
            .contains("cannot write /x")
    );
}

#[test]
fn with_no_burst_the_list_says_so_and_w_saves_nothing() {
    let mut app = fixture::app(Instant::now());
    send(&mut app, ch('B'));
    assert!(screen(&app, 80, 24).contains("no burst finished yet"));
    assert!(send(&mut app, ch('w')).is_empty());
    send(&mut app, key(KeyCode::Enter));
    assert!(matches!(
        app.state.overlay,
        Some(Overlay::Bursts { report: false, .. })
    ));
}

#[test]
fn a_click_selects_the_burst_under_it_and_the_wheel_moves_the_selection() {
    let mut app = two_bursts();
    let (w, h) = (80, 24);
    send(&mut app, Event::Resize(w, h));
    send(&mut app, ch('B'));
    let s = screen(&app, w, h);
    let row = s
        .lines()
        .position(|l| l.contains("· OK"))
        .expect("the honest burst's row");
    let click = |row: usize, kind| {
        Event::Mouse(MouseEvent {
            kind,
            column: 10,
            row: u16::try_from(row).expect("row"),
            modifiers: KeyModifiers::NONE,
        })
    };
    send(
        &mut app,
        click(row, MouseEventKind::Down(MouseButton::Left)),
    );
    assert_eq!(selected(&app), 1);
    send(&mut app, click(row, MouseEventKind::ScrollUp));
    assert_eq!(selected(&app), 0);
    // A click below the rows changes nothing.
    send(
        &mut app,
        click(row + 5, MouseEventKind::Down(MouseButton::Left)),
    );
    assert_eq!(selected(&app), 0);
    // A click on the selected row opens its report; a click in the report steps back.
    send(
        &mut app,
        click(row, MouseEventKind::Down(MouseButton::Left)),
    );
    send(
        &mut app,
        click(row, MouseEventKind::Down(MouseButton::Left)),
    );
    assert!(matches!(
        app.state.overlay,
        Some(Overlay::Bursts {
            selected: 1,
            report: true,
            ..
        })
    ));
    send(
        &mut app,
        click(row, MouseEventKind::Down(MouseButton::Left)),
    );
    assert!(matches!(
        app.state.overlay,
        Some(Overlay::Bursts { report: false, .. })
    ));
    // A click outside the frame (the footer) closes the list.
    send(
        &mut app,
        click(usize::from(h - 1), MouseEventKind::Down(MouseButton::Left)),
    );
    assert_eq!(app.state.overlay, None);
}

#[test]
fn the_report_scrolls_to_its_last_line_and_no_further() {
    let mut app = two_bursts();
    send(&mut app, Event::Resize(80, 16));
    for c in ['B', 'j'] {
        send(&mut app, ch(c));
    }
    send(&mut app, key(KeyCode::Enter));
    assert!(
        !screen(&app, 80, 16).contains("phantom 0)"),
        "below the fold at first"
    );
    send(&mut app, key(KeyCode::End));
    let bottom = screen(&app, 80, 16);
    assert!(bottom.contains("phantom 0)"), "{bottom}");
    let Some(Overlay::Bursts { scroll, .. }) = app.state.overlay else {
        panic!("the report is open");
    };
    assert!(
        scroll > 0 && scroll < 30,
        "scrolled to the end, not beyond: {scroll}"
    );
    // One line up from the end shows more above: the end was the end, not blank space.
    send(&mut app, key(KeyCode::Up));
    assert_ne!(screen(&app, 80, 16), bottom);
}
