//! The burst list and the preferences on a real terminal (issue 17 items 7 and 8): bursts
//! fired on the embedded SQLite database, listed with `B`, chosen with a key and with the
//! mouse, a report opened and saved with `w` into the state directory; then the dashboard
//! started again in the same home comes back with the burst parameters and theme it was left
//! with, read from `prefs.json`.

use std::path::Path;
use std::time::Duration;

use crate::support::terminal::{START, Tmux, assert_restored, line_with};

const STEP: Duration = Duration::from_secs(5);
const BURST: Duration = Duration::from_secs(30);

/// The files in `dir` whose names end with `ext`.
fn files(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    found.sort();
    found
}

#[test]
fn bursts_listed_chosen_by_key_and_click_saved_with_w_and_prefs_back_after_a_restart() {
    let mut t = Tmux::start(&["dashboard"], &[], 100, 30);
    t.wait_for("Laptop Pro 15", START);
    // Preferences changed: 40 buyers in the editor, the next theme.
    t.keys(&["e", "C-u"]);
    t.literal("40");
    t.keys(&["Enter"]);
    t.wait_for("burst parameters set", STEP);
    t.keys(&["t"]);
    t.wait_for("theme light", STEP);

    // Two bursts: on the Laptop, then on the Wireless Mouse.
    t.keys(&["b"]);
    t.wait_for("Fire a burst?", STEP);
    t.keys(&["y"]);
    t.wait_for("AUDIT OK", BURST);
    t.keys(&["1", "j"]);
    t.wait_for("▶ Wireless Mouse (#2)", STEP);
    t.keys(&["b"]);
    t.wait_for("Fire a burst?", STEP);
    t.keys(&["y"]);
    t.keys(&["B"]);
    let list = t.wait_for("Bursts fired here (2)", BURST);
    assert!(list.contains("Wireless Mouse (#2) · OK"), "{list}");
    assert!(
        line_with(&list, "Wireless Mouse (#2) ·") < line_with(&list, "Laptop Pro 15 (#1) ·"),
        "newest first:\n{list}"
    );

    // By key: the second row, the older burst; its report.
    t.keys(&["j", "Enter"]);
    let report = t.wait_for("on Laptop Pro 15 (#1)", STEP);
    assert!(
        report.contains("latency ms") && report.contains("audit: OK"),
        "{report}"
    );
    t.keys(&["Escape"]);
    let list = t.wait_for("Bursts fired here (2)", STEP);

    // By the mouse: a click selects the newest, a second click on it opens its report.
    let row = line_with(&list, "Wireless Mouse (#2) ·");
    t.click(10, row);
    t.click(10, row);
    t.wait_for("on Wireless Mouse (#2)", STEP);
    t.keys(&["w"]);
    t.wait_for("burst report saved", STEP);

    let bursts = t.path("state/bursts");
    let (json, text) = (files(&bursts, "json"), files(&bursts, "txt"));
    assert_eq!((json.len(), text.len()), (1, 1), "{json:?} {text:?}");
    let raw = std::fs::read_to_string(&json[0]).expect("the JSON report");
    let v: serde_json::Value = serde_json::from_str(&raw).expect("JSON");
    // The `burst --json` shape, for the burst chosen: the Wireless Mouse, 40 buyers.
    assert_eq!(v["productId"], 2, "{v}");
    assert_eq!(
        (v["buyers"].as_u64(), v["attempts"].as_u64()),
        (Some(40), Some(40))
    );
    assert_eq!(v["audit"]["ok"], true, "{v}");
    for field in [
        "purchased",
        "soldOut",
        "latencyMs",
        "latencyHistogram",
        "durationMs",
    ] {
        assert!(v.get(field).is_some(), "no {field}: {v}");
    }
    assert!(v["latencyMs"]["p99"].is_number(), "{v}");
    let text = std::fs::read_to_string(&text[0]).expect("the text report");
    assert!(
        text.contains("latency ms") && text.contains("audit: OK"),
        "{text}"
    );

    t.keys(&["Escape", "Escape", "q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
    let prefs = std::fs::read_to_string(t.path("state/prefs.json")).expect("prefs.json");
    let p: serde_json::Value = serde_json::from_str(&prefs).expect("prefs JSON");
    assert_eq!(
        (&p["theme"], &p["burst"]["buyers"]),
        (&"light".into(), &40.into())
    );

    // Started again: the parameters and the theme come back; the help names the log file.
    t.relaunch(&["dashboard"], &[], 100, 30);
    let screen = t.wait_for("Laptop Pro 15", START);
    assert!(screen.contains("40 buyers"), "{screen}");
    t.keys(&["?"]);
    let help = t.wait_for("theme light", STEP);
    let log = t.path("state/flashsale.log").display().to_string();
    assert!(
        help.contains(&log),
        "the log file {log} in the help:\n{help}"
    );
    t.keys(&["Escape", "q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}
