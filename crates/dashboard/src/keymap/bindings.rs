//! The table of bindings: every action with its `[keys]` name, default keys, help text and
//! footer label, in help order. The help overlay and the footer are generated from it.

use crate::action::Action;

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub action: Action,
    /// The name in `[keys]`.
    pub name: &'static str,
    pub keys: &'static [&'static str],
    pub help: &'static str,
    /// The footer's short label, for bindings worth a hint.
    pub footer: Option<&'static str>,
}

/// Every binding, in help order.
pub const BINDINGS: &[Binding] = &[
    b(
        Action::Quit,
        "quit",
        &["q"],
        "quit (cancels a burst)",
        Some("quit"),
    ),
    b(Action::Help, "help", &["?"], "this help", Some("help")),
    // Early in the footer: offered there only while an oversell waits to be acknowledged.
    b(
        Action::Acknowledge,
        "acknowledge",
        &["a"],
        "acknowledge oversell alerts",
        Some("ack oversell"),
    ),
    b(
        Action::Back,
        "back",
        &["esc"],
        "back out; cancel a burst",
        None,
    ),
    b(
        Action::FocusNext,
        "focus_next",
        &["tab"],
        "next pane",
        Some("focus"),
    ),
    b(
        Action::FocusPrev,
        "focus_prev",
        &["shift+tab"],
        "previous pane",
        None,
    ),
    b(
        Action::Up,
        "up",
        &["up", "k"],
        "up: product, field, scroll",
        None,
    ),
    b(
        Action::Down,
        "down",
        &["down", "j"],
        "down: product/field/scroll",
        None,
    ),
    b(
        Action::Left,
        "left",
        &["left", "h"],
        "previous pane or choice",
        None,
    ),
    b(
        Action::Right,
        "right",
        &["right", "l"],
        "next pane or choice",
        None,
    ),
    b(
        Action::Fire,
        "fire",
        &["b"],
        "fire a burst at the target",
        Some("burst"),
    ),
    // Burst pane: fire; Stock pane: drill down; Events: read whole (26 columns at 80x24).
    b(
        Action::Activate,
        "activate",
        &["enter"],
        "fire, drill down, read all",
        None,
    ),
    b(
        Action::CycleStrategy,
        "strategy",
        &["s"],
        "strategy (naive: UNSAFE)",
        Some("strategy"),
    ),
    b(
        Action::Edit,
        "edit",
        &["e"],
        "edit burst parameters",
        Some("edit"),
    ),
    b(
        Action::Restock,
        "restock",
        &["r"],
        "restock the target (asks)",
        Some("restock"),
    ),
    b(
        Action::Pause,
        "pause",
        &["space"],
        "pause / resume updates",
        Some("pause"),
    ),
    b(
        Action::Faster,
        "faster",
        &["+", "="],
        "refresh faster",
        Some("faster"),
    ),
    b(
        Action::Slower,
        "slower",
        &["-"],
        "refresh slower",
        Some("slower"),
    ),
    b(
        Action::CycleTheme,
        "theme",
        &["t"],
        "next colour theme",
        Some("theme"),
    ),
    b(
        Action::Whole,
        "whole",
        &["v"],
        "read pane whole; all alerts",
        Some("whole"),
    ),
    b(
        Action::Filter,
        "filter",
        &["/"],
        "filter stock (name, #id)",
        None,
    ),
    b(
        Action::Sort,
        "sort",
        &["o"],
        "sort stock: next column",
        None,
    ),
    b(
        Action::SortReverse,
        "sort_reverse",
        &["O"],
        "reverse the stock order",
        None,
    ),
    b(Action::PageUp, "page_up", &["pageup"], "a page up", None),
    b(
        Action::PageDown,
        "page_down",
        &["pagedown"],
        "a page down",
        None,
    ),
    b(Action::First, "first", &["home", "g"], "first row", None),
    b(Action::Last, "last", &["end", "G"], "last row", None),
    b(
        Action::Zoom,
        "zoom",
        &["z"],
        "zoom the pane (again: off)",
        None,
    ),
    b(
        Action::EventLevel,
        "event_level",
        &["L"],
        "events: all, warn+, errors",
        None,
    ),
    b(
        Action::Alerts,
        "alerts",
        &["!"],
        "alerts: since when, count",
        Some("alerts"),
    ),
    b(
        Action::Silence,
        "silence",
        &["M"],
        "alerts: silence 15m/1h/4h",
        None,
    ),
    b(
        Action::Activity,
        "activity",
        &["d"],
        "database activity, locks",
        None,
    ),
    b(
        Action::CancelBackend,
        "cancel_backend",
        &["x"],
        "activity: cancel (asks)",
        None,
    ),
    b(
        Action::TerminateBackend,
        "terminate_backend",
        &["X"],
        "activity: terminate (asks)",
        None,
    ),
    b(
        Action::Limits,
        "limits",
        &["u"],
        "rate limits: user [IP]",
        None,
    ),
    b(
        Action::ResetLimits,
        "reset_limits",
        &["ctrl+r"],
        "limits: reset (asks)",
        None,
    ),
    b(
        Action::HistoryRange,
        "history_range",
        &["m"],
        "history graphs: 1/5/15 min",
        None,
    ),
    b(
        Action::Bursts,
        "bursts",
        &["B"],
        "bursts fired here, reports",
        None,
    ),
    b(
        Action::Export,
        "export",
        &["w"],
        "bursts: save JSON and text",
        None,
    ),
    b(Action::Confirm, "confirm", &["y"], "yes, in a dialog", None),
    b(Action::Deny, "deny", &["n"], "no, in a dialog", None),
];

const fn b(
    action: Action,
    name: &'static str,
    keys: &'static [&'static str],
    help: &'static str,
    footer: Option<&'static str>,
) -> Binding {
    Binding {
        action,
        name,
        keys,
        help,
        footer,
    }
}

#[cfg(test)]
mod tests {
    use super::BINDINGS;

    /// At 80 columns the help has two columns of 39 characters: the widest default key and
    /// two spaces take 11, which leaves 28 for the text, one of them before the border.
    const HELP_TEXT_AT_80: usize = 27;

    #[test]
    fn every_help_text_fits_the_help_at_80_columns() {
        for b in BINDINGS {
            let n = b.help.chars().count();
            assert!(
                n <= HELP_TEXT_AT_80,
                "the help of {:?} is {n} characters: cut with … at 80 columns",
                b.name
            );
        }
    }
}
