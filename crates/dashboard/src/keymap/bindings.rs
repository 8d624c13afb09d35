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
    b(
        Action::Activate,
        "activate",
        &["enter"],
        "burst: fire; stock: target; events: read whole",
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
        "read the focused pane whole, and every alert",
        Some("whole"),
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
