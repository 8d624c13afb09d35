//! Preferences kept across restarts (issue 17 item 8), driven through the app as the runtime
//! drives it: `load_prefs` with what `prefs::read` found, then keys; what would be written is
//! the [`Effect::SavePrefs`] they give.

use std::time::{Duration, Instant};

use crossterm::event::KeyCode;

use super::app::{App, Effect, Given};
use super::drive_tests::{ch, key, send};
use super::fixture;
use super::prefs::{Prefs, SavedBurst};
use super::state::BurstParams;
use flashsale_burst::Quantity;
use flashsale_core::strategy::Strategy;

const FILE: &str = "/s/prefs.json";

fn saved() -> Prefs {
    Prefs {
        theme: Some("light".into()),
        refresh_ms: Some(5_000),
        burst: Some(SavedBurst::of(&BurstParams {
            buyers: 750,
            concurrency: 12,
            quantity: Quantity::Fixed(2),
            strategy: Strategy::RowLock,
            ips: Some(3),
            restock_to: 60,
        })),
    }
}

fn loaded(read: Result<Option<Prefs>, String>, given: Given) -> App {
    let mut app = fixture::app(Instant::now());
    app.load_prefs(read, FILE, given);
    app
}

/// What the next key writes, if anything.
fn written(effects: &[Effect]) -> Option<&Prefs> {
    effects.iter().find_map(|e| match e {
        Effect::SavePrefs(p) => Some(p),
        _ => None,
    })
}

#[test]
fn saved_preferences_are_what_the_dashboard_starts_with() {
    let app = loaded(Ok(Some(saved())), Given::default());
    let s = &app.state;
    assert_eq!(s.theme_name, "light");
    assert_eq!(s.refresh, Duration::from_secs(5));
    let p = &s.burst.params;
    assert_eq!(
        (
            p.buyers,
            p.concurrency,
            p.quantity,
            p.strategy,
            p.ips,
            p.restock_to
        ),
        (750, 12, Quantity::Fixed(2), Strategy::RowLock, Some(3), 60)
    );
    assert!(
        fixture::events_starting(&app, FILE).is_empty(),
        "no complaint"
    );
}

#[test]
fn the_command_line_wins_over_the_file() {
    let mut app = fixture::app(Instant::now());
    // As the runtime sets them from --theme mono, --refresh 250ms, --strategy atomic.
    app.state.theme = app.themes.index_of("mono").expect("mono");
    app.state.theme_name = "mono".into();
    app.state.refresh = Duration::from_millis(250);
    app.state.burst.params.strategy = Strategy::Atomic;
    let given = Given {
        theme: true,
        refresh: true,
        strategy: true,
    };
    app.load_prefs(Ok(Some(saved())), FILE, given);
    let s = &app.state;
    assert_eq!(
        (s.theme_name.as_str(), s.refresh),
        ("mono", Duration::from_millis(250))
    );
    assert_eq!(s.burst.params.strategy, Strategy::Atomic);
    // The rest of the burst parameters were not on the command line: the file's.
    assert_eq!(s.burst.params.buyers, 750);
}

#[test]
fn a_corrupt_file_starts_with_defaults_says_so_and_is_not_written_until_a_change() {
    let defaults = fixture::app(Instant::now()).state;
    let why = format!("{FILE} is not valid preferences: EOF while parsing at line 1 column 9");
    let mut app = loaded(Err(why.clone()), Given::default());
    assert_eq!(app.state.theme_name, defaults.theme_name);
    assert_eq!(app.state.refresh, defaults.refresh);
    assert_eq!(app.state.burst.params, defaults.burst.params);
    let said = fixture::events_starting(&app, "preferences not used:");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains(&why) && said[0].contains("defaults"),
        "{said:?}"
    );
    // Keys that change no preference write nothing: the file stays for the operator to read.
    for k in [
        ch('j'),
        ch('?'),
        key(KeyCode::Esc),
        ch('B'),
        key(KeyCode::Esc),
    ] {
        assert_eq!(written(&send(&mut app, k)), None);
    }
    // A change writes the file, with that preference alone (the rest were defaults anyway).
    let effects = send(&mut app, ch('t'));
    let p = written(&effects).expect("the theme is saved");
    assert_eq!(p.theme.as_deref(), Some(app.state.theme_name.as_str()));
    assert_eq!((p.refresh_ms, &p.burst), (None, &None));
}

#[test]
fn each_change_saves_the_file_with_that_preference_replaced() {
    let mut app = loaded(Ok(Some(saved())), Given::default());
    let p = written(&send(&mut app, ch('-')))
        .expect("slower is saved")
        .clone();
    assert_eq!(p.refresh_ms, Some(10_000));
    assert_eq!(p.theme.as_deref(), Some("light"), "the others as they were");
    assert_eq!(p.burst, saved().burst);
    assert_eq!(
        written(&send(&mut app, ch('-'))),
        None,
        "already the slowest"
    );
    let p = written(&send(&mut app, ch('s')))
        .expect("the strategy is saved")
        .clone();
    let burst = p.burst.expect("burst");
    assert_eq!((burst.strategy.as_str(), burst.buyers), ("naive", 750));
    // The editor: the buyers field cleared and retyped, Enter applies.
    send(&mut app, ch('e'));
    for _ in 0..3 {
        send(&mut app, key(KeyCode::Backspace));
    }
    for c in "42".chars() {
        send(&mut app, ch(c));
    }
    let p = written(&send(&mut app, key(KeyCode::Enter)))
        .expect("applied: saved")
        .clone();
    assert_eq!(p.burst.map(|b| b.buyers), Some(42));
    assert_eq!(p.refresh_ms, Some(10_000), "earlier changes kept");
}

#[test]
fn a_preference_the_dashboard_cannot_use_is_named_and_left_at_its_default() {
    let mut bad = saved();
    bad.theme = Some("solarized".into());
    bad.refresh_ms = Some(3_000);
    if let Some(b) = bad.burst.as_mut() {
        b.quantity = "50".into();
    }
    let defaults = fixture::app(Instant::now()).state;
    let app = loaded(Ok(Some(bad)), Given::default());
    assert_eq!(app.state.theme_name, defaults.theme_name);
    assert_eq!(app.state.refresh, defaults.refresh);
    assert_eq!(app.state.burst.params, defaults.burst.params);
    let said = fixture::events_starting(&app, FILE);
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(said[0].contains("theme 'solarized': no such theme (themes: dark"));
    assert!(said[1].contains("refreshMs 3000"));
    assert!(said[2].contains("burst quantity: at most 10 (max_quantity)"));
}
