//! Moving around the dashboard on a real terminal (tmux), as k9s and lazygit users do
//! (issue 17 item 5): the mouse, sent as the terminal reports it (SGR encoding), and keys.

use std::time::Duration;

use crate::support::terminal::{START, Tmux, assert_restored, line_with};

#[test]
fn a_click_selects_a_product_the_wheel_scrolls_and_quitting_turns_mouse_reports_off() {
    let t = Tmux::start(&["dashboard"], &[], 100, 30);
    let screen = t.wait_for("Laptop Pro 15", START);
    assert_eq!(
        t.format("#{mouse_standard_flag}#{mouse_sgr_flag}"),
        "11",
        "the dashboard asks for clicks in the SGR encoding"
    );
    // The 4K Monitor's row, by its price (an alert may name the product too).
    t.click(10, line_with(&screen, "449.99"));
    t.wait_for("▶ 4K Monitor (#4)", Duration::from_secs(5));
    // The wheel over the Stock pane moves the selection: one step down, the USB-C Hub.
    t.wheel(10, line_with(&screen, "449.99"), false);
    t.wait_for("▶ USB-C Hub (#5)", Duration::from_secs(5));
    // A click on the Events pane focuses it (its title gets the marker).
    t.click(2, line_with(&screen, "Events") + 1);
    t.wait_for("▶ Events", Duration::from_secs(5));
    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}

#[test]
fn with_no_mouse_the_terminal_keeps_the_mouse_and_a_click_changes_nothing() {
    let t = Tmux::start(&["dashboard", "--no-mouse"], &[], 100, 30);
    let screen = t.wait_for("Laptop Pro 15", START);
    assert_eq!(t.format("#{mouse_standard_flag}#{mouse_sgr_flag}"), "00");
    t.click(10, line_with(&screen, "449.99"));
    // Give the click time to arrive; then the burst target is still the first product.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        t.screen().contains("▶ Laptop Pro 15 (#1)"),
        "{}",
        t.screen()
    );
    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}

#[test]
fn filter_sort_zoom_number_keys_and_the_alerts_list_with_a_silence_on_a_real_terminal() {
    let t = Tmux::start(&["dashboard"], &[], 80, 24);
    t.wait_for("Laptop Pro", START);
    // `/` then text: the table keeps the matches, the first is the burst target.
    t.keys(&["/"]);
    t.literal("hub");
    t.keys(&["Enter"]);
    t.wait_for("1/1 of 5", Duration::from_secs(5));
    t.wait_for("▶ USB-C Hub (#5)", Duration::from_secs(5));
    t.keys(&["/", "Escape"]);
    t.wait_for("5/5", Duration::from_secs(5));
    t.keys(&["o"]);
    t.wait_for("by product ▲", Duration::from_secs(5));
    // Sorted by name, the 4K Monitor is first: `g` selects it, then sell it out.
    t.keys(&["g"]);
    t.wait_for("▶ 4K Monitor (#4)", Duration::from_secs(5));
    t.keys(&["b", "y"]);
    t.wait_for("4K Monitor sold out", Duration::from_secs(30));
    t.keys(&["!"]);
    let list = t.wait_for("Alerts (1)", Duration::from_secs(5));
    assert!(
        list.contains("raised 1×") && list.contains("firing"),
        "{list}"
    );
    t.keys(&["M"]);
    t.wait_for("silenced until", Duration::from_secs(5));
    t.keys(&["Escape"]);
    // Off the banner: the status line has no alert left.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while t.screen().contains("⚠ ALERT") {
        assert!(std::time::Instant::now() < deadline, "{}", t.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
    // `7` focuses the events, `z` zooms them over the body: no other pane is drawn.
    t.keys(&["7", "z"]);
    t.wait_for("▶ Events", Duration::from_secs(5));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while t.screen().contains("Revenue") {
        assert!(std::time::Instant::now() < deadline, "{}", t.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}
