//! The activity view's keys (`d`): select a backend, read its query whole, cancel (`x`) or end
//! (`X`) it after a dialog; and what comes back: each sample, and the signal's outcome. The
//! sampler runs only while the view (or its dialog) is open: [`App::watch_activity`] asks the
//! runtime to start or stop it whenever that changes, whatever closed the view.

use super::{App, Effect};
use crate::action::Action;
use crate::state::{Confirm, Level, Overlay, Pending};
use flashsale_core::store::activity::{Signal, Signalled, signal_outcome};

/// Rows a page of the view moves when the screen size is not known.
const PAGE: usize = 10;

impl App {
    /// The view's and the limits prompt's global keys, and every key while the view is open.
    /// Returns whether it took `action`.
    pub(super) fn operator(&mut self, action: Action) -> bool {
        let in_view = self.state.overlay == Some(Overlay::Activity);
        match action {
            Action::Activity => {
                let s = &mut self.state;
                s.overlay = if in_view {
                    None
                } else {
                    s.activity.whole = false;
                    Some(Overlay::Activity)
                };
                true
            }
            Action::Limits => self.open_limits(),
            _ if in_view => self.activity_view(action),
            Action::CancelBackend | Action::TerminateBackend => {
                let d = self.keymap.keys(Action::Activity);
                self.notice(
                    Level::Info,
                    format!("cancel and terminate act on a backend of the activity view ({d})"),
                );
                true
            }
            Action::ResetLimits => {
                let u = self.keymap.keys(Action::Limits);
                self.notice(
                    Level::Info,
                    format!("reset works in the limits prompt ({u})"),
                );
                true
            }
            _ => false,
        }
    }

    fn activity_view(&mut self, action: Action) -> bool {
        let v = &mut self.state.activity;
        let at = v.selected();
        let last = v.backends().len().saturating_sub(1);
        match action {
            Action::Up => v.select(at.saturating_sub(1)),
            Action::Down => v.select(at + 1),
            Action::PageUp => v.select(at.saturating_sub(PAGE)),
            Action::PageDown => v.select(at + PAGE),
            Action::First => v.select(0),
            Action::Last => v.select(last),
            Action::Whole | Action::Activate => v.whole = !v.whole,
            Action::Back => self.state.overlay = None,
            Action::CancelBackend => self.ask_signal(Signal::Cancel),
            Action::TerminateBackend => self.ask_signal(Signal::Terminate),
            // As anywhere: help, quit.
            Action::Quit | Action::ForceQuit | Action::Help => return false,
            // The panes' keys wait behind the view.
            _ => {}
        }
        true
    }

    /// The dialog before a signal; refused with `--read-only`, and without a backend.
    fn ask_signal(&mut self, signal: Signal) {
        if self.state.read_only {
            return self.notice(
                Level::Warn,
                "read-only: cancelling and ending backends is disabled (started with --read-only)",
            );
        }
        let Some(b) = self.state.activity.selected_backend() else {
            return self.notice(Level::Info, "no backend selected");
        };
        let query = crate::format::fit(&crate::format::one_line(&b.query), 60);
        let (title, question) = match signal {
            Signal::Cancel => (
                "Cancel query",
                format!(
                    "Cancel the running query of backend {} ({})?",
                    b.pid,
                    b.name()
                ),
            ),
            Signal::Terminate => (
                "Terminate backend",
                format!("End the session of backend {} ({})?", b.pid, b.name()),
            ),
        };
        let confirm = Confirm {
            title: title.into(),
            lines: vec![
                question,
                format!("{}: {query}", signal.function()),
                format!("Database: {}", self.state.conn.short),
            ],
            on_yes: Pending::Signal { pid: b.pid, signal },
            back: Some(Box::new(Overlay::Activity)),
        };
        self.state.overlay = Some(Overlay::Confirm(confirm));
    }

    /// What came of a signal: an event, and a notice the operator sees over the view.
    pub(super) fn signalled(
        &mut self,
        pid: i32,
        signal: Signal,
        result: Result<Signalled, String>,
    ) {
        let (level, text) = match result {
            Ok(outcome) => {
                let level = match outcome {
                    Signalled::Sent => Level::Ok,
                    Signalled::NoSuchBackend | Signalled::Refused => Level::Warn,
                    Signalled::NotPermitted { .. } => Level::Error,
                };
                let database = self.state.conn.database.clone();
                (level, signal_outcome(signal, pid, &outcome, &database))
            }
            Err(e) => (
                Level::Error,
                format!("{}({pid}) failed: {e}", signal.function()),
            ),
        };
        self.state.log.push(self.state.wall, level, text.clone());
        self.notice(level, text);
    }

    /// Asks the runtime to start or stop the activity sampler when the view (or the dialog it
    /// opened) came or went.
    pub(super) fn watch_activity(&mut self, effects: &mut Vec<Effect>) {
        let s = &mut self.state;
        let open = match &s.overlay {
            Some(Overlay::Activity) => true,
            Some(Overlay::Confirm(c)) => c.back.as_deref() == Some(&Overlay::Activity),
            _ => false,
        };
        if open != s.activity.watching && s.quit.is_none() {
            s.activity.watching = open;
            if !open {
                // A sample kept would pass for current when the view opens again.
                s.activity.sample = Default::default();
            }
            effects.push(Effect::WatchActivity(open));
        }
    }
}
