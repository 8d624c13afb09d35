//! The Redis pane's detail (issue 17 item 3): condensed at 80x24, in full zoomed (`z`) and read
//! whole (`v`): counters, the 15 s latency rows and the slow log.

use std::time::Instant;

use super::app::App;
use super::drive_tests::{ch, send};
use super::fixture;
use super::snapshot_tests::{render, text};
use flashsale_monitor::Update;

fn screen(app: &App, w: u16, h: u16) -> String {
    let buf = render(app, w, h);
    text(&buf, buf.area)
}

fn detailed() -> App {
    let t0 = Instant::now();
    let mut app = fixture::app_with(fixture::postgres(), t0, "dark");
    app.update(
        Update::Redis(fixture::redis_detailed()).into(),
        t0,
        fixture::wall(),
    );
    app
}

#[test]
fn at_80x24_the_pane_condenses_memory_to_a_share_of_its_limit() {
    let app = detailed();
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("1250 ops/s mem 95%"),
        "used against maxmemory: {s}"
    );
    assert!(
        s.contains("fail-open when Redis is down"),
        "the policy stays: {s}"
    );
}

#[test]
fn zoomed_the_pane_shows_counters_latency_rows_and_the_slow_log() {
    let mut app = detailed();
    send(&mut app, ch('6'));
    send(&mut app, ch('z'));
    for (w, h) in [(80u16, 24u16), (200, 60)] {
        let s = screen(&app, w, h);
        assert!(s.contains("evicted 1204"), "{w}x{h}: {s}");
        assert!(s.contains("PING per 15 s"), "{w}x{h}: {s}");
        assert!(s.contains("SLOWLOG"), "{w}x{h}: {s}");
        insta::assert_snapshot!(format!("redis_zoomed_{w}x{h}"), s);
    }
    let tall = screen(&app, 200, 60);
    // The newest rows come first to go in: the spike 2 minutes ago is in both sizes' room.
    assert!(tall.contains("87.0"), "{tall}");
    assert!(tall.contains("KEYS rate_limit:*"), "{tall}");
    assert!(tall.contains("maxmemory-policy allkeys-lru"), "{tall}");
}

#[test]
fn read_whole_every_row_of_the_sixteen_minutes_is_there() {
    let mut app = detailed();
    send(&mut app, ch('6'));
    send(&mut app, ch('v'));
    let buf = super::panes::whole::pane_whole(
        super::panes::Ctx {
            state: &app.state,
            theme: app.theme(),
            keymap: &app.keymap,
            wide: true,
        },
        super::state::Pane::Redis,
        200,
    );
    let rows = buf
        .1
        .iter()
        .filter(|l| {
            let t: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            t.trim_end().ends_with(" 150")
        })
        .count();
    assert_eq!(
        rows,
        flashsale_monitor::redis::INTERVALS_KEPT,
        "{:?}",
        buf.1
    );
    let s = screen(&app, 80, 24);
    insta::assert_snapshot!("redis_whole_80x24", s);
}
