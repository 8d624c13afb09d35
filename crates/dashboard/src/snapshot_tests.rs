//! Snapshots of what users see: the whole dashboard and each pane at 80x24 and 160x48, on the
//! embedded backend with fixed data, for each shipped theme (with styles), with a burst running
//! and finished (OK and OVERSOLD), with the database down, and the overlays. The data and the
//! clock come from the fixture, so no filter is needed; these files are the screen's spec.

use std::time::Instant;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use super::app::App;
use super::event::Event;
use super::fixture;
use super::layout;
use super::ui;
use flashsale_core::strategy::Strategy;
use flashsale_monitor::{RedisSnapshot, Update};

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

pub(crate) fn render(app: &App, w: u16, h: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    term.draw(|f| ui::draw(f, &app.state, app.theme(), &app.keymap))
        .expect("draw");
    term.backend().buffer().clone()
}

/// The text of `area` in `buf`, one line per row.
pub(crate) fn text(buf: &Buffer, area: Rect) -> String {
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        let mut skip = 0;
        for x in area.left()..area.right() {
            let cell = &buf[(x, y)];
            if skip > 0 {
                skip -= 1;
                continue;
            }
            line.push_str(cell.symbol());
            skip = unicode_width::UnicodeWidthStr::width(cell.symbol()).saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let buf = render(app, w, h);
    text(&buf, buf.area)
}

#[test]
fn whole_dashboard_in_each_theme_with_styles() {
    for theme in ["dark", "light", "ansi16", "mono"] {
        for (w, h) in SIZES {
            let app = fixture::app_with(fixture::embedded(), Instant::now(), theme);
            let buf = render(&app, w, h);
            insta::assert_snapshot!(format!("dashboard_{theme}_{w}x{h}"), format!("{buf:?}"));
        }
    }
}

#[test]
fn each_pane_at_both_sizes() {
    let app = fixture::app(Instant::now());
    for (w, h) in SIZES {
        let buf = render(&app, w, h);
        let a = layout::areas(buf.area, 5).expect("fits");
        for (name, area) in [
            (
                "header",
                Rect {
                    height: 2,
                    ..a.header
                },
            ),
            ("stock", a.stock),
            ("burst", a.burst),
            ("revenue", a.revenue),
            ("top", a.top),
            ("pool", a.pool),
            ("redis", a.redis),
            ("events", a.events),
            ("footer", a.footer),
        ] {
            insta::assert_snapshot!(format!("pane_{name}_{w}x{h}"), text(&buf, area));
        }
    }
}

#[test]
fn postgres_with_redis_panes() {
    let app = fixture::app_with(fixture::postgres(), Instant::now(), "dark");
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("postgres_redis_{w}x{h}"), screen(&app, w, h));
    }
}

#[test]
fn burst_running() {
    for (strategy, name) in [(Strategy::Atomic, "atomic"), (Strategy::Naive, "naive")] {
        let mut app = fixture::app(Instant::now());
        fixture::running(&mut app, strategy);
        for (w, h) in SIZES {
            insta::assert_snapshot!(format!("burst_running_{name}_{w}x{h}"), screen(&app, w, h));
        }
    }
}

#[test]
fn burst_finished_ok_and_oversold() {
    for (oversold, name) in [(false, "ok"), (true, "oversold")] {
        let mut app = fixture::app(Instant::now());
        fixture::finished(&mut app, oversold);
        for (w, h) in SIZES {
            let s = screen(&app, w, h);
            let expected = if oversold {
                "OVERSOLD by 38"
            } else {
                "AUDIT OK"
            };
            assert!(s.contains(expected), "{s}");
            insta::assert_snapshot!(format!("burst_finished_{name}_{w}x{h}"), s);
        }
    }
}

#[test]
fn database_down() {
    let t0 = Instant::now();
    let mut app = fixture::app(t0);
    fixture::database_down(&mut app, t0);
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("database_down_{w}x{h}"), screen(&app, w, h));
    }
}

#[test]
fn redis_down_and_slow() {
    let t0 = Instant::now();
    let mut app = fixture::app_with(fixture::postgres(), t0, "dark");
    let down = RedisSnapshot {
        url: "redis://:***@cache.internal:6379".into(),
        down_since: Some(fixture::wall() - chrono::Duration::seconds(75)),
        error: Some("connection refused".into()),
        ..RedisSnapshot::default()
    };
    app.update(Update::Redis(down).into(), t0, fixture::wall());
    insta::assert_snapshot!("redis_down_80x24", screen(&app, 80, 24));
    let mut slow = fixture::redis();
    if let Some(l) = slow.latency.as_mut() {
        l.max_ms = 73.0;
        l.p99_ms = 61.0;
    }
    app.update(Update::Redis(slow).into(), t0, fixture::wall());
    insta::assert_snapshot!("redis_slow_80x24", screen(&app, 80, 24));
}

#[test]
fn overlays_and_modes() {
    let key = |c: char| {
        Event::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char(c),
        ))
    };
    let t0 = Instant::now();
    let w = fixture::wall();

    let mut app = fixture::app(t0);
    app.update(key('?'), t0, w);
    insta::assert_snapshot!("help_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("help_160x48", screen(&app, 160, 48));

    let mut app = fixture::app(t0);
    app.update(key('e'), t0, w);
    app.update(key('x'), t0, w);
    insta::assert_snapshot!("editor_invalid_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("editor_invalid_160x48", screen(&app, 160, 48));

    let mut app = fixture::app_with(fixture::postgres(), t0, "dark");
    // batched -> atomic -> row-lock -> naive
    while app.state.burst.params.strategy != Strategy::Naive {
        app.update(key('s'), t0, w);
    }
    app.update(key('b'), t0, w);
    insta::assert_snapshot!(
        "confirm_naive_burst_on_postgres_80x24",
        screen(&app, 80, 24)
    );

    let mut app = fixture::app(t0);
    app.update(key('r'), t0, w);
    insta::assert_snapshot!("confirm_restock_80x24", screen(&app, 80, 24));

    let mut app = fixture::app(t0);
    app.state.read_only = true;
    app.update(key('b'), t0, w);
    insta::assert_snapshot!("read_only_80x24", screen(&app, 80, 24));

    let mut app = fixture::app(t0);
    app.update(key(' '), t0, w);
    insta::assert_snapshot!("paused_80x24", screen(&app, 80, 24));

    let app = fixture::app(t0);
    insta::assert_snapshot!("too_small_40x10", screen(&app, 40, 10));
}

/// Watching over the API (`--api`): the header names the URL and the server's strategy, the
/// status line its health, the pool and Redis panes say what needs direct access.
#[test]
fn api_mode_whole_screen() {
    let app = fixture::app_api(None, Instant::now(), "dark");
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        for expected in [
            "sale.internal:3000 │",
            "batched (server's)",
            "server's database up 0.42 ms",
            "needs direct database access:",
            "watching over the API",
            "direct Redis access",
        ] {
            assert!(s.contains(expected), "{expected} at {w}x{h}:\n{s}");
        }
        if w >= 120 {
            // The wide status line has room for the health report beside the alerts' row, and
            // the server's purchase errors.
            assert!(s.contains("server healthy · database up 0.42 ms"), "{s}");
            assert!(
                s.contains("purchase errors 0.2% of 1,204 in the last minute"),
                "{s}"
            );
        }
        assert!(!s.contains("✖"), "nothing failed:\n{s}");
        insta::assert_snapshot!(format!("api_{w}x{h}"), s);
    }
}

#[test]
fn api_mode_each_affected_pane_at_both_sizes() {
    let app = fixture::app_api(None, Instant::now(), "dark");
    for (w, h) in SIZES {
        let buf = render(&app, w, h);
        let a = layout::areas(buf.area, 5).expect("fits");
        for (name, area) in [
            (
                "header",
                Rect {
                    height: 2,
                    ..a.header
                },
            ),
            ("stock", a.stock),
            ("burst", a.burst),
            ("revenue", a.revenue),
            ("top", a.top),
            ("pool", a.pool),
            ("redis", a.redis),
        ] {
            insta::assert_snapshot!(format!("api_pane_{name}_{w}x{h}"), text(&buf, area));
        }
    }
}

#[test]
fn api_mode_without_the_admin_token_says_so_in_the_sales_panes_and_status_line() {
    let t0 = Instant::now();
    let mut app = fixture::app_api(None, t0, "dark");
    let withheld = Update::Withheld {
        source: flashsale_monitor::Source::Sales,
        reason: "admin token needed (ADMIN_TOKEN)".into(),
    };
    app.update(withheld.into(), t0, fixture::wall());
    // The purchase counters are guarded the same way.
    let withheld = Update::Withheld {
        source: flashsale_monitor::Source::Metrics,
        reason: "admin token needed (ADMIN_TOKEN)".into(),
    };
    app.update(withheld.into(), t0, fixture::wall());
    for (w, h) in SIZES {
        let buf = render(&app, w, h);
        let a = layout::areas(buf.area, 5).expect("fits");
        for area in [a.revenue, a.top] {
            let pane = text(&buf, area);
            assert!(pane.contains("admin token needed (ADMIN_TOKEN)"), "{pane}");
        }
        let s = text(&buf, buf.area);
        if w >= 120 {
            assert!(
                s.contains("purchase errors: admin token needed (ADMIN_TOKEN)"),
                "{s}"
            );
        }
        assert!(!s.contains("✖"), "not a failure:\n{s}");
        insta::assert_snapshot!(format!("api_admin_token_needed_{w}x{h}"), s);
    }
}

#[test]
fn api_mode_server_reporting_redis_down() {
    let t0 = Instant::now();
    let mut app = fixture::app_api(None, t0, "dark");
    let down_at = fixture::wall() - chrono::Duration::seconds(75);
    app.update(Update::Health(fixture::health("down")).into(), t0, down_at);
    app.state.wall = fixture::wall();
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        assert!(s.contains("DOWN since 12:33:41"), "{s}");
        insta::assert_snapshot!(format!("api_redis_down_{w}x{h}"), s);
    }
}

#[test]
fn api_mode_burst_confirm_and_unaudited_report() {
    let key = |c: char| {
        Event::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char(c),
        ))
    };
    let t0 = Instant::now();
    let mut app = fixture::app_api(None, t0, "dark");
    app.update(key('b'), t0, fixture::wall());
    let s = screen(&app, 80, 24);
    assert!(s.contains("Over HTTP; not audited"), "{s}");
    insta::assert_snapshot!("api_confirm_burst_80x24", s);

    let mut app = fixture::app_api(None, t0, "dark");
    fixture::finished_over_http(&mut app);
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        assert!(s.contains("AUDIT NOT RUN"), "{s}");
        assert!(s.contains("give --database-url to audit"), "{s}");
        insta::assert_snapshot!(format!("api_burst_not_audited_{w}x{h}"), s);
    }
}

#[test]
fn api_mode_server_without_redis() {
    let t0 = Instant::now();
    let mut app = fixture::app_api(None, t0, "dark");
    let health = fixture::health("not configured");
    app.update(Update::Health(health).into(), t0, fixture::wall());
    for (w, h) in SIZES {
        let buf = render(&app, w, h);
        let a = layout::areas(buf.area, 5).expect("fits");
        let pane = text(&buf, a.redis);
        assert!(pane.contains("not configured"), "{pane}");
        assert!(
            !pane.contains("PING history"),
            "nothing to watch directly: {pane}"
        );
        insta::assert_snapshot!(format!("api_pane_redis_not_configured_{w}x{h}"), pane);
    }
}
