//! The operator's views (issue 17 items 1 and 2), driven through `App::update` with keys, the
//! mouse and the samplers' updates, checked on the effects asked of the runtime and on screen
//! at 80x24 and 200x60: the activity view (select, read a query whole, cancel or terminate
//! after a dialog, refused with --read-only, SQLite and the API saying what they cannot show),
//! the limits prompt (bad input told and kept, a lookup, a reset after a dialog) and the Redis
//! pane's count of live rate-limit windows.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::app::{App, Effect};
use super::drive_tests::{ch, key, send};
use super::event::Event;
use super::fixture;
use super::snapshot_tests::{render, text};
use super::state::{Overlay, Who};
use flashsale_core::store::activity::{Signal, Signalled};
use flashsale_monitor::{KeyCount, Source, Update};

const SIZES: [(u16, u16); 2] = [(80, 24), (200, 60)];

fn screen(app: &App, w: u16, h: u16) -> String {
    let buf = render(app, w, h);
    text(&buf, buf.area)
}

fn on_postgres() -> App {
    fixture::app_with(fixture::postgres(), Instant::now(), "dark")
}

/// The view open, its first sample in.
fn viewing() -> App {
    let mut app = on_postgres();
    let effects = send(&mut app, ch('d'));
    assert_eq!(effects, [Effect::WatchActivity(true)]);
    send(&mut app, Update::Activity(Some(fixture::activity())).into());
    app
}

fn ctrl(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn notice(app: &App) -> String {
    app.state
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default()
}

#[test]
fn d_opens_the_activity_view_whose_sampler_runs_only_while_it_is_open() {
    let mut app = viewing();
    assert_eq!(app.state.overlay, Some(Overlay::Activity));
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        insta::assert_snapshot!(format!("activity_{w}x{h}"), s);
    }
    let s = screen(&app, 80, 24);
    for fact in [
        "182.4 commits/s",
        "3.0 rollbacks/s",
        "longest transaction: 4312 (psql) 3m15s",
        "4420 ExclusiveLock (waiting)",
        "pg_sleeper",
        "12.3 s",
        "idle in transaction 3m11s",
    ] {
        assert!(s.contains(fact), "{fact} missing:\n{s}");
    }
    // Esc closes it and stops the sampler; its sample goes (it would pass for current).
    assert_eq!(
        send(&mut app, key(KeyCode::Esc)),
        [Effect::WatchActivity(false)]
    );
    assert!(app.state.activity.sample.value.is_none());
    // `d` again opens it, `d` closes it.
    assert_eq!(send(&mut app, ch('d')), [Effect::WatchActivity(true)]);
    assert_eq!(send(&mut app, ch('d')), [Effect::WatchActivity(false)]);
}

#[test]
fn the_arrows_ends_and_a_click_select_a_backend_and_v_reads_its_query_whole() {
    let mut app = viewing();
    assert_eq!(
        app.state.activity.selected_backend().map(|b| b.pid),
        Some(4312)
    );
    send(&mut app, ch('j'));
    send(&mut app, key(KeyCode::Down));
    assert_eq!(
        app.state.activity.selected_backend().map(|b| b.pid),
        Some(4420)
    );
    send(&mut app, ch('G'));
    assert_eq!(
        app.state.activity.selected_backend().map(|b| b.pid),
        Some(77)
    );
    send(&mut app, ch('g'));
    assert_eq!(
        app.state.activity.selected_backend().map(|b| b.pid),
        Some(4312)
    );
    send(&mut app, key(KeyCode::PageDown));
    assert_eq!(
        app.state.activity.selected_backend().map(|b| b.pid),
        Some(77)
    );
    // The selection is a pid: a sample in another order keeps it.
    let mut reordered = fixture::activity();
    reordered.backends.reverse();
    send(&mut app, Update::Activity(Some(reordered)).into());
    assert_eq!(
        app.state.activity.selected_backend().map(|b| b.pid),
        Some(77)
    );
    send(&mut app, Update::Activity(Some(fixture::activity())).into());

    // A click on the blocked purchase's row selects it, at both sizes.
    for (w, h) in SIZES {
        send(&mut app, Event::Resize(w, h));
        send(&mut app, ch('g'));
        let s = screen(&app, w, h);
        let row = s
            .lines()
            .position(|l| l.contains("4420 flashsale"))
            .expect("row drawn") as u16;
        send(
            &mut app,
            Event::Mouse(MouseEvent {
                kind: MouseEventKind::Down(MouseButton::Left),
                column: 10,
                row,
                modifiers: KeyModifiers::NONE,
            }),
        );
        assert_eq!(
            app.state.activity.selected_backend().map(|b| b.pid),
            Some(4420),
            "{w}x{h}"
        );
        // The wheel moves the selection too.
        send(
            &mut app,
            Event::Mouse(MouseEvent {
                kind: MouseEventKind::ScrollDown,
                column: 10,
                row,
                modifiers: KeyModifiers::NONE,
            }),
        );
        assert_eq!(
            app.state.activity.selected_backend().map(|b| b.pid),
            Some(4501)
        );
        send(&mut app, ch('k'));
    }
    // Its query, whole: every line of it, nothing cut.
    send(&mut app, ch('v'));
    assert!(app.state.activity.whole);
    let s = screen(&app, 80, 24);
    insta::assert_snapshot!("activity_whole_query_80x24", s);
    assert!(s.contains("AS sold"), "the end of the query is shown:\n{s}");
    send(&mut app, key(KeyCode::Enter));
    assert!(!app.state.activity.whole);
}

#[test]
fn x_cancels_and_shift_x_terminates_the_selected_backend_after_a_dialog_and_the_outcome_is_told() {
    let mut app = viewing();
    send(&mut app, ch('j'));
    assert!(
        send(&mut app, ch('x')).is_empty(),
        "nothing before the answer"
    );
    let Some(Overlay::Confirm(c)) = &app.state.overlay else {
        panic!("a dialog: {:?}", app.state.overlay);
    };
    assert!(c.lines[0].contains("backend 4400 (pg_sleeper)"), "{c:?}");
    let s = screen(&app, 80, 24);
    insta::assert_snapshot!("activity_confirm_cancel_80x24", s);
    // The sampler goes on under the dialog; the answer goes back to the view.
    assert_eq!(
        send(&mut app, ch('y')),
        [Effect::Signal {
            pid: 4400,
            signal: Signal::Cancel
        }]
    );
    assert_eq!(app.state.overlay, Some(Overlay::Activity));
    send(
        &mut app,
        Event::Signalled {
            pid: 4400,
            signal: Signal::Cancel,
            result: Ok(Signalled::Sent),
        },
    );
    assert_eq!(
        notice(&app),
        "pg_cancel_backend(4400): sent; its query is being cancelled"
    );
    assert!(
        screen(&app, 80, 24).contains("pg_cancel_backend(4400): sent"),
        "the outcome shows over the view"
    );
    assert_eq!(
        fixture::events_starting(&app, "pg_cancel_backend(4400)").len(),
        1
    );
    // `X`, answered no: nothing sent, back to the view.
    send(&mut app, ch('X'));
    assert!(send(&mut app, ch('n')).is_empty());
    assert_eq!(app.state.overlay, Some(Overlay::Activity));
    send(&mut app, ch('X'));
    assert_eq!(
        send(&mut app, ch('y')),
        [Effect::Signal {
            pid: 4400,
            signal: Signal::Terminate
        }]
    );
    // A role that may not: told in its words, as the CLI does.
    send(
        &mut app,
        Event::Signalled {
            pid: 4400,
            signal: Signal::Terminate,
            result: Ok(Signalled::NotPermitted {
                role: "sale_ro".into(),
                message: "permission denied to terminate process".into(),
            }),
        },
    );
    assert_eq!(
        notice(&app),
        "the role sale_ro may not signal backend 4400: permission denied to terminate process"
    );
    // Outside the view `x` says where it works.
    send(&mut app, key(KeyCode::Esc));
    assert!(send(&mut app, ch('x')).is_empty());
    assert!(
        notice(&app).contains("activity view (d)"),
        "{}",
        notice(&app)
    );
}

#[test]
fn read_only_refuses_signals_saying_why_and_the_help_leaves_them_out() {
    let mut app = on_postgres();
    app.state.read_only = true;
    send(&mut app, ch('d'));
    send(&mut app, Update::Activity(Some(fixture::activity())).into());
    for k in ['x', 'X'] {
        assert!(send(&mut app, ch(k)).is_empty());
        assert_eq!(app.state.overlay, Some(Overlay::Activity), "no dialog");
        assert_eq!(
            notice(&app),
            "read-only: cancelling and ending backends is disabled (started with --read-only)"
        );
    }
    assert!(screen(&app, 80, 24).contains("read-only: no cancel"));
    let help = app.keymap.help(|a| app.state.offers(a));
    assert!(help.iter().any(|(_, h)| h.starts_with("database activity")));
    assert!(!help.iter().any(|(_, h)| h.contains("activity: cancel")));
}

#[test]
fn on_sqlite_and_over_the_api_without_a_database_the_view_says_what_it_cannot_show() {
    let mut app = fixture::app(Instant::now());
    send(&mut app, ch('d'));
    assert!(screen(&app, 80, 24).contains("sampling pg_stat_activity"));
    send(&mut app, Update::Activity(None).into());
    let s = screen(&app, 80, 24);
    insta::assert_snapshot!("activity_sqlite_80x24", s);
    assert!(s.contains("an SQLite file has no"), "{s}");
    assert!(send(&mut app, ch('x')).is_empty(), "nothing to signal");

    let mut api = fixture::app_api(None, Instant::now(), "dark");
    send(&mut api, ch('d'));
    let reason = "over the API without --database-url there is no database to ask".to_string();
    send(
        &mut api,
        Update::Withheld {
            source: Source::Activity,
            reason: reason.clone(),
        }
        .into(),
    );
    assert!(screen(&api, 80, 24).contains(&reason));
    // A failing sampler says why, in the view.
    send(
        &mut app,
        Update::Failed {
            source: Source::Activity,
            error: "connection refused".into(),
            retry_in: flashsale_monitor::RETRY,
        }
        .into(),
    );
    send(&mut app, ch('d'));
    send(&mut app, ch('d'));
    send(
        &mut app,
        Update::Failed {
            source: Source::Activity,
            error: "connection refused".into(),
            retry_in: flashsale_monitor::RETRY,
        }
        .into(),
    );
    assert!(screen(&app, 80, 24).contains("cannot read the activity: connection refused"));
}

#[test]
fn the_limits_prompt_tells_bad_input_keeps_it_and_looks_up_what_is_typed() {
    let mut app = on_postgres();
    send(&mut app, ch('u'));
    assert_eq!(app.state.overlay, Some(Overlay::Limits));
    // Every key is text: `q` quits nothing.
    for c in "42 10.0.0.300".chars() {
        assert!(send(&mut app, ch(c)).is_empty());
    }
    assert!(app.state.quit.is_none());
    assert!(send(&mut app, key(KeyCode::Enter)).is_empty());
    assert_eq!(app.state.limits.input, "42 10.0.0.300", "nothing lost");
    let error = app.state.limits.error.clone().unwrap_or_default();
    assert!(
        error.contains("'10.0.0.300' is not an IP address"),
        "{error}"
    );
    assert!(screen(&app, 80, 24).contains("is not an IP address"));
    for _ in 0..3 {
        send(&mut app, key(KeyCode::Backspace));
    }
    send(&mut app, ch('1'));
    let who = Who {
        user: "42".into(),
        ip: Some([10, 0, 0, 1].into()),
    };
    assert_eq!(
        send(&mut app, key(KeyCode::Enter)),
        [Effect::LookUpLimits(who.clone())]
    );
    send(&mut app, Event::LimitsFound(Ok(fixture::limits())));
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        insta::assert_snapshot!(format!("limits_{w}x{h}"), s);
    }
    let s = screen(&app, 200, 60);
    assert!(
        s.contains("user 42: 5 of 5 used, 0 left, resets in 54.2 s (rate_limit:user:42)"),
        "{s}"
    );
    assert!(s.contains("ip 10.0.0.1: 7 of 10 used, 3 left"), "{s}");

    // ctrl+r asks, then deletes what the lookup showed open, then looks again.
    assert!(send(&mut app, ctrl('r')).is_empty());
    let Some(Overlay::Confirm(c)) = &app.state.overlay else {
        panic!("a dialog: {:?}", app.state.overlay);
    };
    assert!(
        c.lines[0].contains("rate_limit:user:42 and rate_limit:ip:10.0.0.1"),
        "{c:?}"
    );
    let keys = vec![
        "rate_limit:user:42".to_string(),
        "rate_limit:ip:10.0.0.1".to_string(),
    ];
    assert_eq!(
        send(&mut app, ch('y')),
        [Effect::ResetLimits {
            who: who.clone(),
            keys
        }]
    );
    assert_eq!(app.state.overlay, Some(Overlay::Limits));
    assert_eq!(
        send(&mut app, Event::LimitsReset(who.clone(), Ok(2))),
        [Effect::LookUpLimits(who)]
    );
    assert!(
        notice(&app).contains("2 window(s) deleted"),
        "{}",
        notice(&app)
    );
    send(&mut app, key(KeyCode::Esc));
    assert_eq!(app.state.overlay, None);
}

#[test]
fn the_limits_prompt_under_read_only_and_with_the_in_process_limiter_says_so() {
    let mut app = on_postgres();
    app.state.read_only = true;
    send(&mut app, ch('u'));
    for c in "42".chars() {
        send(&mut app, ch(c));
    }
    send(&mut app, key(KeyCode::Enter));
    let mut found = fixture::limits();
    found.per_process = true;
    found.source = "this process's in-process limiter".into();
    send(&mut app, Event::LimitsFound(Ok(found)));
    assert!(send(&mut app, ctrl('r')).is_empty());
    assert_eq!(app.state.overlay, Some(Overlay::Limits), "no dialog");
    let s = screen(&app, 80, 24);
    assert!(s.contains("read-only: resetting rate"), "{s}");
    assert!(s.contains("per process"), "{s}");
    // Over the API the limiter is the server's.
    let mut api = fixture::app_api(None, Instant::now(), "dark");
    send(&mut api, ch('u'));
    assert_eq!(api.state.overlay, None);
    assert!(notice(&api).contains("the server's"), "{}", notice(&api));
}

#[test]
fn the_redis_pane_counts_live_rate_limit_windows_and_says_at_least_when_the_scan_stopped() {
    let mut app = on_postgres();
    let mut r = fixture::redis();
    r.rate_limit_keys = Some(KeyCount {
        count: 1_234,
        complete: true,
    });
    send(&mut app, Update::Redis(r.clone()).into());
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        assert!(s.contains("rate-limit windows 1,234"), "{w}x{h}:\n{s}");
    }
    r.rate_limit_keys = Some(KeyCount {
        count: 4_012,
        complete: false,
    });
    send(&mut app, Update::Redis(r).into());
    assert!(screen(&app, 200, 60).contains("rate-limit windows ≥4,012"));
}
