//! What a key means. Key handlers (through the keymap) emit actions; only `App::update` turns
//! them into changes of state.

use serde::Serialize;

/// A user intent, independent of which key asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Action {
    /// Leave the dashboard. A running burst is cancelled, and its audit awaited for a few
    /// seconds (the verdict goes to the log file; nothing more is drawn).
    Quit,
    /// Ctrl-C: always quits, whatever has focus; not remappable.
    ForceQuit,
    /// Close an overlay, leave the editor, or cancel a running burst.
    Back,
    Help,
    FocusNext,
    FocusPrev,
    Up,
    Down,
    Left,
    Right,
    /// Fire a burst at the selected product.
    Fire,
    /// Enter: fire on the burst pane, drill down into the product on the stock pane, confirm in
    /// a dialog.
    Activate,
    CycleStrategy,
    Edit,
    Restock,
    Pause,
    Faster,
    Slower,
    CycleTheme,
    /// Read the focused pane whole (nothing cut, as wide as its text needs, wrapped) with every
    /// active alert; again, or Esc, closes it.
    Whole,
    /// Acknowledge the oversell alerts: the operator has seen them (they stay in the log).
    Acknowledge,
    /// Type a filter for the Stock table (`/`, as in less, k9s and lazygit).
    Filter,
    /// Sort the Stock table by the next column.
    Sort,
    /// Reverse the Stock table's order.
    SortReverse,
    /// A page up or down: the selection, the events, a pane read whole.
    PageUp,
    PageDown,
    /// The first or last row: product, event, line.
    First,
    Last,
    /// The focused pane alone, over the whole body of the screen; again to leave.
    Zoom,
    /// The Events pane's next level filter: all, warnings and errors, errors.
    EventLevel,
    /// The list of alerts: each with its count and since when; silence or acknowledge.
    Alerts,
    /// In the alerts list: silence the selected alert for 15 min, 1 h, 4 h, then lift it.
    Silence,
    /// The backends of our database (pg_activity's view), sampled while it is open.
    Activity,
    /// In the activity view: cancel the selected backend's query (after asking).
    CancelBackend,
    /// In the activity view: end the selected backend's session (after asking).
    TerminateBackend,
    /// A prompt to look up a customer's rate-limit windows (user id, optional IP).
    Limits,
    /// In the limits prompt: delete the windows shown (after asking).
    ResetLimits,
    /// The history graphs' next range: 1, 5, 15 minutes.
    HistoryRange,
    /// The bursts fired in this session with their verdicts; Enter opens one's full report.
    Bursts,
    /// In the burst list: save the selected report as JSON (the `burst --json` shape) and text.
    Export,
    /// `y` in a confirm dialog.
    Confirm,
    /// `n` in a confirm dialog.
    Deny,
}

impl Action {
    /// Actions that write to the database, hidden and refused with `--read-only`.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Action::Fire
                | Action::Restock
                | Action::Edit
                | Action::CycleStrategy
                | Action::CancelBackend
                | Action::TerminateBackend
                | Action::ResetLimits
        )
    }
}
