//! The dashboard on a real terminal (tmux) telling the truth after the facts change (issue 16):
//! an oversell is the top alert and marks its Stock row, in the critical colours, until `a`
//! acknowledges it, and `--once --json` lists it meanwhile (item 3); the Burst pane shows the
//! burst `b` fires next, and `b` asks first on the embedded database too (item 5); growing the
//! terminal then quitting leaves the shell's screen as it was (item 12); `--color 16` sends the
//! 16 colours as SGR 30-37/90-97, keeps the theme's kinds and a readable selected row, and the
//! light theme brings its own background (item 14). Screens are read with
//! their escape codes (`capture-pane -e`, parsed by `support::sgr`).

use std::time::Duration;

use serde_json::Value;

use crate::support::bin::json_of;
use crate::support::flashsale;
use crate::support::sgr::{self, Row};
use crate::support::terminal::{START, Tmux, assert_restored};

/// The row of the Stock pane showing `price` (the product's own row, not a banner naming it).
fn stock_row<'a>(rows: &'a [Row], price: &str) -> &'a Row {
    rows.iter()
        .find(|r| sgr::text(r).contains(price))
        .unwrap_or_else(|| panic!("no row with {price}"))
}

fn banner(rows: &[Row]) -> Option<String> {
    rows.iter().map(sgr::text).find(|t| t.contains("⚠ ALERT"))
}

/// `e`: 40 buyers at concurrency 40, restock-to 5 (the fields: buyers, concurrency, quantity,
/// strategy, IP spread, restock to).
fn forty_buyers_restock_to_five(t: &Tmux) {
    t.keys(&["e", "C-u"]);
    t.literal("40");
    t.keys(&["Down", "C-u"]);
    t.literal("40");
    for _ in 0..4 {
        t.keys(&["Down"]);
    }
    t.keys(&["C-u"]);
    t.literal("5");
    t.keys(&["Enter"]);
    // The pane, not the notice: an alert may hold the status line.
    t.wait_for("40 buyers ×40", Duration::from_secs(5));
}

fn once_alerts(t: &Tmux) -> Vec<Value> {
    let v = json_of(flashsale(&t.path("")).args(["dashboard", "--once", "--json"]));
    v["alerts"].as_array().cloned().unwrap_or_default()
}

#[test]
fn an_oversell_stays_the_top_alert_and_marks_its_row_in_red_until_acknowledged() {
    let t = Tmux::start(
        &["dashboard", "--naive-delay-ms", "40", "--theme", "ansi16"],
        &[],
        100,
        30,
    );
    t.wait_for("Laptop Pro 15", START);
    forty_buyers_restock_to_five(&t);
    t.keys(&["r"]);
    t.wait_for("Restock", Duration::from_secs(5));
    t.keys(&["y"]);
    t.wait_for("restocked product 1 to 5", Duration::from_secs(10));
    // batched (the default) -> atomic -> row-lock -> naive
    t.keys(&["s", "s", "s"]);
    t.wait_for("naive UNSAFE", Duration::from_secs(5));
    t.keys(&["b"]);
    t.wait_for("Fire a burst?", Duration::from_secs(5));
    t.keys(&["y"]);
    t.wait_for("burst finished: OVERSOLD", Duration::from_secs(30));
    // Away from the Burst pane: the Stock pane focused, time passing.
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(2_500));
    let rows = t.styled();
    let b = banner(&rows).expect("an alert banner");
    // After the label: `⚠ ALERT`, or `⚠ ALERTS (N)` counting them.
    let after = b
        .split_once("⚠ ALERTS")
        .map(|x| x.1.trim_start().split_once(')').map_or(x.1, |y| y.1))
        .or_else(|| b.split_once("⚠ ALERT").map(|x| x.1));
    assert!(
        after.is_some_and(|a| a.trim_start().starts_with("Laptop Pro 15 OVERSOLD by")),
        "the oversell is the first alert: {b}"
    );
    let (y, cells) = sgr::find(&rows, "Laptop Pro 15 OVERSOLD").expect("in the banner");
    assert!(sgr::text(&rows[y]).contains("⚠ ALERT"));
    assert!(
        cells.iter().all(|(_, s)| s.shown_fg().is_red() && s.bold),
        "critical: bold red ({:?})",
        cells[0].1
    );
    let row = stock_row(&rows, "1299.99");
    let text = sgr::text(row);
    let at = text
        .find("OVERSOLD")
        .unwrap_or_else(|| panic!("marker on the row: {text}"));
    let x = text[..at].chars().count();
    let marker = &row[x..x + "OVERSOLD".len()];
    assert!(
        marker.iter().all(|(_, s)| s.shown_bg().is_red() && s.bold),
        "the marker is white on red: {:?}",
        marker[0].1
    );
    // The gauge's place is the marker's: no gauge cell left of the Burst pane on that row.
    let stock_part: String = text.chars().take(x + 8).collect();
    assert!(
        !stock_part.contains('█') && !stock_part.contains('░'),
        "{text}"
    );
    // Another process's snapshot says it too, from the oversells file.
    let alerts = once_alerts(&t);
    assert_eq!(alerts[0]["key"], "oversold-1", "{alerts:?}");
    assert_eq!(alerts[0]["severity"], "critical");
    assert!(
        alerts[0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Laptop Pro 15 OVERSOLD by")),
        "{alerts:?}"
    );

    // `a` acknowledges it: off the banner and the row, said in the events.
    t.keys(&["a"]);
    t.wait_for(
        "acknowledged: Laptop Pro 15 OVERSOLD",
        Duration::from_secs(5),
    );
    let rows = t.styled();
    assert!(
        banner(&rows).is_none_or(|b| !b.contains("OVERSOLD")),
        "{:?}",
        banner(&rows)
    );
    let text = sgr::text(stock_row(&rows, "1299.99"));
    assert!(!text.contains("OVERSOLD"), "{text}");
    assert!(
        once_alerts(&t).iter().all(|a| a["key"] != "oversold-1"),
        "acknowledged for the snapshot too"
    );
    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}

#[test]
fn the_burst_pane_shows_what_b_will_fire_and_b_asks_first_on_the_embedded_database() {
    let t = Tmux::start(&["dashboard", "--theme", "ansi16"], &[], 100, 30);
    t.wait_for("Laptop Pro 15", START);
    // A burst at the laptop, asked for and confirmed.
    t.keys(&["b"]);
    let s = t.wait_for("Fire a burst?", Duration::from_secs(5));
    assert!(
        s.contains("200 purchases of Laptop Pro 15 (#1)"),
        "the embedded database asks too:\n{s}"
    );
    t.keys(&["n"]);
    t.wait_for("cancelled", Duration::from_secs(5));
    assert!(!t.screen().contains("burst started"), "n fires nothing");
    t.keys(&["b"]);
    t.wait_for("Fire a burst?", Duration::from_secs(5));
    t.keys(&["y"]);
    t.wait_for("AUDIT OK", Duration::from_secs(30));
    // Then: 40 buyers, naive, the Wireless Mouse.
    forty_buyers_restock_to_five(&t);
    t.keys(&["s", "s", "s", "Escape", "j"]);
    let s = t.wait_for("▶ Wireless Mouse (#2)", Duration::from_secs(5));
    assert!(s.contains("40 buyers ×40"), "{s}");
    assert!(
        s.contains("last: 200 on #1 batched"),
        "the figures' burst named:\n{s}"
    );
    let rows = t.styled();
    let (y, cells) = sgr::find(&rows, "strategy  naive UNSAFE").expect("the next strategy");
    let unsafe_cells = &cells["strategy  ".len()..];
    assert!(
        unsafe_cells
            .iter()
            .all(|(_, s)| s.bold && s.shown_bg() == sgr::Color::Ansi(3)),
        "UNSAFE on yellow, row {y}: {:?}",
        unsafe_cells[0].1
    );
    // What the pane shows is what `b` fires.
    t.keys(&["b"]);
    let s = t.wait_for("Fire a burst?", Duration::from_secs(5));
    // The dialog wraps its first line after "strategy".
    assert!(
        s.contains("40 purchases of Wireless Mouse (#2) at concurrency 40, strategy")
            && s.contains("naive is UNSAFE: expect an oversell."),
        "{s}"
    );
    t.keys(&["n", "q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}

#[test]
fn growing_the_terminal_then_quitting_leaves_the_shell_screen_as_it_was() {
    for quit in ["q", "C-c"] {
        let prelude = "for i in $(seq 1 30); do echo \"earlier output $i\"; done; ";
        let t = Tmux::start_after(prelude, &["dashboard"], &[], 80, 24);
        t.wait_for("Laptop Pro", START);
        t.resize(120, 40);
        // The wide arrangement, drawn at the new size.
        t.wait_for("theme dark", Duration::from_secs(10));
        t.keys(&[quit]);
        let (exit, stty) = t.wait_exit();
        assert_eq!(exit, "EXIT=0");
        assert_restored(&t, &stty);
        let rows = t.styled();
        let lines: Vec<String> = rows.iter().map(sgr::text).collect();
        let shown: Vec<&str> = lines
            .iter()
            .map(|l| l.trim_end())
            .filter(|l| !l.is_empty())
            .collect();
        // The earlier output in order, nothing of the dashboard between or after it.
        let earlier: Vec<String> = (1..=30).map(|i| format!("earlier output {i}")).collect();
        let start = shown
            .iter()
            .position(|l| *l == earlier[30 - 24 + 1])
            .unwrap_or_else(|| panic!("{quit}: earlier output erased:\n{}", lines.join("\n")));
        let tail: Vec<&str> = shown[start..].to_vec();
        let want: Vec<&str> = earlier[30 - 24 + 1..].iter().map(String::as_str).collect();
        assert_eq!(
            tail,
            want,
            "{quit}: the shell screen after quitting:\n{}",
            lines.join("\n")
        );
        assert!(
            !lines
                .iter()
                .any(|l| l.contains('│') || l.contains("flashsale")),
            "{quit}: dashboard lines left behind:\n{}",
            lines.join("\n")
        );
        // No colour left behind either: every cell in the default style.
        assert!(
            rows.iter()
                .flatten()
                .all(|(_, s)| *s == sgr::Style::default()),
            "{quit}: attributes left on the shell screen"
        );
    }
}

/// Every colour code of an SGR sequence in `escaped`, as sent: `("38;5;", n)` or `("", 31)`.
fn colour_encodings(escaped: &str) -> (Vec<u16>, Vec<String>) {
    let mut plain = Vec::new();
    let mut extended = Vec::new();
    for seq in escaped.split('\u{1b}').skip(1) {
        let Some(body) = seq
            .strip_prefix('[')
            .and_then(|b| b.split_once('m'))
            .map(|b| b.0)
        else {
            continue;
        };
        let params: Vec<&str> = body.split(';').collect();
        let mut i = 0;
        while i < params.len() {
            match params[i] {
                "38" | "48" => {
                    extended.push(params[i..].join(";"));
                    break;
                }
                p => {
                    if let Ok(n) = p.parse::<u16>()
                        && matches!(n, 30..=37 | 40..=47 | 90..=97 | 100..=107)
                    {
                        plain.push(n);
                    }
                }
            }
            i += 1;
        }
    }
    (plain, extended)
}

#[test]
fn sixteen_colours_are_sgr_codes_with_the_themes_kinds_and_a_readable_selected_row() {
    let t = Tmux::start(&["dashboard", "--color", "16"], &[], 80, 24);
    t.wait_for("Laptop Pro", START);
    let escaped = t.escaped();
    let (plain, extended) = colour_encodings(&escaped);
    assert!(
        extended.is_empty(),
        "256-colour or RGB escapes with --color 16: {:?}",
        &extended[..extended.len().min(5)]
    );
    // The dark theme keeps more than black, greys and white: titles, keys, gauges, verdicts.
    let hues: std::collections::BTreeSet<u16> = plain
        .iter()
        .map(|n| n % 10)
        .filter(|n| !matches!(n, 0 | 7))
        .collect();
    assert!(hues.len() >= 3, "colours in use: {plain:?}");
    // The selected row: every character of it readable, none drawn in its background colour.
    let rows = sgr::parse(&escaped);
    let selected: Vec<&Row> = rows
        .iter()
        .filter(|r| r.iter().any(|(_, s)| s.shown_bg() == sgr::Color::Ansi(14)))
        .collect();
    assert!(!selected.is_empty(), "no selected row:\n{}", t.screen());
    for row in selected {
        for (c, s) in row.iter().filter(|(c, _)| !c.is_whitespace()) {
            if s.shown_bg() == sgr::Color::Ansi(14) {
                assert_eq!(
                    s.shown_fg(),
                    sgr::Color::Ansi(0),
                    "'{c}' of the selected row {:?}",
                    sgr::text(row)
                );
            }
        }
    }
    t.keys(&["q"]);
    t.wait_exit();

    // The light theme paints its own background: readable on a dark terminal too.
    let t = Tmux::start(
        &["dashboard", "--theme", "light", "--color", "16"],
        &[],
        80,
        24,
    );
    t.wait_for("Laptop Pro", START);
    let rows = t.styled();
    let unpainted = rows
        .iter()
        .flatten()
        .filter(|(_, s)| s.shown_bg() == sgr::Color::Default)
        .count();
    assert_eq!(
        unpainted,
        0,
        "cells on the terminal's own background:\n{}",
        t.screen()
    );
    t.keys(&["q"]);
    t.wait_exit();
}
