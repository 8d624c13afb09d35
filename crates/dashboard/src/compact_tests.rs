//! 80x24 must read whole: what the header is connected to, verdicts, hints and errors never cut
//! mid-phrase, and only the keys that work in the current mode offered. (The snapshots show
//! the screens; these say what in them must hold.)

use std::time::Instant;

use super::drive_tests::{ch, draw, send};
use super::fixture;
use super::state::{BurstPhase, Connection};
use flashsale_core::config::BackendKind;
use flashsale_core::strategy::Strategy;
use flashsale_monitor::{Source, Update};

/// The reviewer's database: a password, a host and a database name.
fn audit_q4() -> Connection {
    Connection {
        backend: BackendKind::Postgres,
        database: "postgres://auditor:***@127.0.0.1:5432/audit_q4".into(),
        short: "127.0.0.1:5432/audit_q4".into(),
        embedded: false,
        ..fixture::postgres()
    }
}

fn header(app: &super::app::App) -> String {
    draw(app, 80, 24)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_header_keeps_the_host_with_an_unsafe_strategy_at_80x24() {
    let mut app = fixture::app_with(audit_q4(), Instant::now(), "dark");
    app.state.burst.params.strategy = Strategy::Naive;
    let h = header(&app);
    assert!(h.contains("postgres 127.0.0.1:5432/audit_q4"), "{h}");
    assert!(h.contains("naive UNSAFE") && h.contains("12:34:56"), "{h}");
}

#[test]
fn when_nothing_else_gives_way_the_host_is_cut_with_an_ellipsis_not_dropped() {
    let mut app = fixture::app_with(audit_q4(), Instant::now(), "dark");
    app.state.burst.params.strategy = Strategy::Naive;
    app.state.read_only = true;
    app.state.paused = true;
    let h = header(&app);
    assert!(h.contains("postgres 127.0.0.1"), "{h}");
    assert!(h.contains('…') && h.contains("READ-ONLY"), "{h}");
    assert!(!h.contains("auditor"), "no credentials: {h}");
    // Even on the narrowest screen drawn, some of the host stays.
    let narrow = draw(&app, 60, 24);
    assert!(narrow.contains("postgres 12"), "{narrow}");
}

#[test]
fn the_oversold_verdict_breaks_between_its_phrases() {
    let mut app = fixture::app(Instant::now());
    fixture::finished(&mut app, true);
    let s = draw(&app, 80, 24);
    assert!(
        s.contains("OVERSOLD by 38") && s.contains("LOST 38 updates"),
        "{s}"
    );
}

#[test]
fn editor_hints_read_whole_in_the_narrow_burst_pane() {
    let mut app = fixture::app(Instant::now());
    send(&mut app, ch('e'));
    let s = draw(&app, 80, 24);
    for hint in ["enter apply", "esc cancel", "↑↓ field"] {
        assert!(s.contains(hint), "{hint}:\n{s}");
    }
}

#[test]
fn read_only_and_a_running_burst_say_so_in_whole_words() {
    let mut app = fixture::app(Instant::now());
    app.state.read_only = true;
    assert!(draw(&app, 80, 24).contains("bursts disabled (read-only)"));
    let mut app = fixture::app(Instant::now());
    fixture::running(&mut app, Strategy::Atomic);
    assert!(draw(&app, 80, 24).contains("running 1.6s · then audit"));
    if let BurstPhase::Running { cancelling, .. } = &mut app.state.burst.phase {
        *cancelling = true;
    }
    assert!(draw(&app, 80, 24).contains("cancelling, then the audit"));
}

#[test]
fn a_database_error_wraps_at_word_boundaries_in_the_panes() {
    let t0 = Instant::now();
    let mut app = fixture::app(t0);
    app.state.stock = Default::default();
    let error = "database unreachable: cannot connect (is it running?)";
    let failed = Update::Failed {
        source: Source::Stock,
        error: error.into(),
        retry_in: flashsale_monitor::RETRY,
    };
    app.update(failed.into(), t0, fixture::wall());
    let s = draw(&app, 80, 24);
    assert!(
        s.contains("no data: database unreachable: cannot connect (is"),
        "{s}"
    );
    assert!(s.contains("it running?)"), "the rest on the next row:\n{s}");
}

#[test]
fn the_redis_pane_names_the_down_policy_and_spells_clients() {
    let app = fixture::app_with(fixture::postgres(), Instant::now(), "dark");
    let s = draw(&app, 80, 24);
    assert!(s.contains("fail-open when Redis is down"), "{s}");
    assert!(s.contains("4 clients"), "{s}");
    assert!(s.contains("5/user, 10/IP per 1 min"), "{s}");
}

#[test]
fn over_the_api_the_footer_offers_only_keys_that_work() {
    let app = fixture::app_api(None, Instant::now(), "dark");
    let footer = draw(&app, 160, 48);
    assert!(!footer.contains("s strategy"), "{footer}");
    assert!(!footer.contains("r restock"), "{footer}");
    assert!(
        footer.contains("b burst") && footer.contains("e edit"),
        "{footer}"
    );
    let app = fixture::app_api(
        Some("postgres://sale:***@db:5432/sale"),
        Instant::now(),
        "dark",
    );
    let s = draw(&app, 160, 48);
    assert!(s.contains("r restock") && !s.contains("s strategy"), "{s}");
    let mut app = fixture::app(Instant::now());
    app.state.read_only = true;
    let s = draw(&app, 160, 48);
    for hidden in ["b burst", "s strategy", "e edit", "r restock"] {
        assert!(!s.contains(hidden), "{hidden} with --read-only:\n{s}");
    }
}

#[test]
fn over_the_api_the_burst_dialog_says_the_ip_spread_needs_trust() {
    let mut app = fixture::app_api(None, Instant::now(), "dark");
    send(&mut app, ch('b'));
    let s = draw(&app, 80, 24);
    assert!(
        s.contains("IP spread (200): only if the server's TRUSTED_PROXIES lists us."),
        "{s}"
    );
    assert!(
        s.contains("y/enter yes"),
        "the answer keys stay in the box:\n{s}"
    );
}
