//! The burst list (`B`): the bursts finished in this session, newest first, with their
//! verdicts; Enter opens the selected one's full report, `w` saves it (an [`Effect`] the
//! runtime carries out), Esc steps back from the report to the list, then closes it.

use ratatui::layout::Rect;

use super::{App, Effect, WHOLE_SCROLL_MAX};
use crate::action::Action;
use crate::state::{Level, Overlay};

impl App {
    /// The list's keys, and `B` anywhere; returns whether it took `action`.
    pub(super) fn burst_list(&mut self, action: Action, effects: &mut Vec<Effect>) -> bool {
        let s = &mut self.state;
        let Some(Overlay::Bursts {
            selected,
            report,
            scroll,
        }) = &mut s.overlay
        else {
            if action != Action::Bursts {
                if action == Action::Export {
                    let keys = self.keymap.keys(Action::Bursts);
                    self.notice(
                        Level::Info,
                        format!("save a report from the burst list ({keys})"),
                    );
                    return true;
                }
                return false;
            }
            s.overlay = Some(Overlay::Bursts {
                selected: 0,
                report: false,
                scroll: 0,
            });
            return true;
        };
        let last = s.burst.history.len().saturating_sub(1);
        // Before the size is known, as far as a pane read whole goes (the drawing clamps).
        let bottom = match (s.screen, s.burst.listed(*selected)) {
            (Some((w, h)), Some(r)) => {
                crate::panes::burst_history::scroll_max(Rect::new(0, 0, w, h), r)
            }
            _ => WHOLE_SCROLL_MAX,
        };
        match action {
            Action::Up if *report => *scroll = scroll.saturating_sub(1),
            Action::Down if *report => *scroll = (*scroll + 1).min(bottom),
            Action::PageUp if *report => *scroll = scroll.saturating_sub(10),
            Action::PageDown if *report => *scroll = (*scroll + 10).min(bottom),
            Action::First if *report => *scroll = 0,
            Action::Last if *report => *scroll = bottom,
            Action::Up => *selected = selected.saturating_sub(1),
            Action::Down => *selected = (*selected + 1).min(last),
            Action::First | Action::PageUp => *selected = 0,
            Action::Last | Action::PageDown => *selected = last,
            Action::Activate if !*report && !s.burst.history.is_empty() => {
                (*report, *scroll) = (true, 0);
            }
            Action::Back if *report => *report = false,
            Action::Back | Action::Bursts => s.overlay = None,
            Action::Export => {
                let Some(record) = s.burst.listed(*selected).cloned() else {
                    self.notice(Level::Info, "no burst to save: none finished yet");
                    return true;
                };
                effects.push(Effect::ExportBurst(Box::new(record)));
            }
            // The rest (help, quit, ...) as anywhere; the panes' keys wait behind the list.
            Action::Quit | Action::ForceQuit | Action::Help => return false,
            _ => {}
        }
        true
    }

    /// A click on a row selects that burst, on the selected one opens its report; in the
    /// report a click steps back to the list; outside the frame (header, footer) it closes.
    pub(super) fn click_burst(&mut self, y: u16) {
        let Some((w, h)) = self.state.screen else {
            return;
        };
        let screen = Rect::new(0, 0, w, h);
        let len = self.state.burst.history.len();
        if !crate::panes::burst_history::inside(screen, y) {
            self.state.overlay = None;
            return;
        }
        let Some(Overlay::Bursts {
            selected,
            report,
            scroll,
        }) = &mut self.state.overlay
        else {
            return;
        };
        if *report {
            *report = false;
        } else if let Some(i) = crate::panes::burst_history::row_at(screen, *selected, len, y) {
            if i == *selected {
                (*report, *scroll) = (true, 0);
            }
            *selected = i;
        }
    }

    /// The report was saved, or not: the status line and the events say where, or why.
    pub(super) fn exported(&mut self, result: Result<(String, String), String>) {
        let (level, text) = match result {
            Ok((json, txt)) => (Level::Ok, format!("burst report saved: {json} and {txt}")),
            Err(e) => (Level::Error, format!("burst report not saved: {e}")),
        };
        self.state.log.push(self.state.wall, level, text.clone());
        self.notice(level, text);
    }
}
