//! The limits prompt's keys (`u`): while it is open every key is text for it (a user id, then
//! optionally an IP address); Enter looks the windows up, `ctrl+r` resets them after a dialog,
//! Esc closes. Bad input is told in the prompt and the text stays, to be corrected.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Effect};
use crate::action::Action;
use crate::state::limits_prompt::INPUT_MAX;
use crate::state::{Confirm, Found, Level, Overlay, Pending, Who};

impl App {
    /// Opens the prompt (over the API there is no limiter of ours to read).
    pub(super) fn open_limits(&mut self) -> bool {
        if self.state.over_api() {
            self.notice(
                Level::Info,
                "rate limits are the server's over the API: run flashsale limits where it runs",
            );
            return true;
        }
        self.state.limits.error = None;
        self.state.overlay = Some(Overlay::Limits);
        true
    }

    /// A key while the prompt is open; returns whether it took it (all but ctrl+c).
    pub(super) fn limits_key(&mut self, key: &KeyEvent, effects: &mut Vec<Effect>) -> bool {
        if self.state.overlay != Some(Overlay::Limits) {
            return false;
        }
        if self.keymap.action(key) == Some(Action::ResetLimits) {
            self.ask_reset();
            return true;
        }
        let p = &mut self.state.limits;
        match key.code {
            KeyCode::Esc => self.state.overlay = None,
            KeyCode::Enter => match p.parse() {
                Ok(who) => {
                    p.error = None;
                    p.pending = true;
                    effects.push(Effect::LookUpLimits(who));
                }
                Err(e) => p.error = Some(e),
            },
            KeyCode::Backspace => {
                p.input.pop();
                p.error = None;
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                p.input.clear();
                p.error = None;
            }
            KeyCode::Char(c)
                if !c.is_control() && !key.modifiers.contains(KeyModifiers::CONTROL) =>
            {
                if p.input.chars().count() >= INPUT_MAX {
                    p.error = Some(format!(
                        "at most {INPUT_MAX} characters: a user id and an IP address"
                    ));
                } else {
                    p.input.push(c);
                    p.error = None;
                }
            }
            _ => {}
        }
        true
    }

    /// The dialog before a reset: the windows of the last lookup, if any is open.
    fn ask_reset(&mut self) {
        if self.state.read_only {
            self.state.limits.error = Some(
                "read-only: resetting rate limits is disabled (started with --read-only)".into(),
            );
            return;
        }
        let p = &mut self.state.limits;
        let Some(found) = &p.found else {
            p.error = Some("look the user up first (Enter), then reset what it shows".into());
            return;
        };
        let keys = found
            .windows
            .as_ref()
            .map(|w| w.open_keys())
            .unwrap_or_default();
        if keys.is_empty() {
            p.error = Some("nothing to reset: no window is open for them".into());
            return;
        }
        let who = found.who.clone();
        let confirm = Confirm {
            title: "Reset rate limits".into(),
            lines: vec![
                format!("Delete {}?", keys.join(" and ")),
                format!(
                    "In {}. Their next purchase starts new windows.",
                    found.source
                ),
            ],
            on_yes: Pending::ResetLimits { who, keys },
            back: Some(Box::new(Overlay::Limits)),
        };
        self.state.overlay = Some(Overlay::Confirm(confirm));
    }

    /// A lookup's answer.
    pub(super) fn limits_found(&mut self, result: Result<Found, String>) {
        let p = &mut self.state.limits;
        p.pending = false;
        match result {
            Ok(found) => {
                p.error = None;
                p.found = Some(found);
                p.found_at = Some(self.state.wall);
            }
            Err(e) => p.error = Some(e),
        }
    }

    /// A reset's answer: logged, then the windows looked up again (they show it).
    pub(super) fn limits_reset(
        &mut self,
        who: Who,
        result: Result<u64, String>,
        effects: &mut Vec<Effect>,
    ) {
        let (level, text) = match result {
            Ok(n) => (
                Level::Ok,
                format!(
                    "rate limits of user {} reset: {n} window(s) deleted",
                    who.user
                ),
            ),
            Err(e) => (Level::Error, format!("rate limits not reset: {e}")),
        };
        self.state.log.push(self.state.wall, level, text.clone());
        self.notice(level, text);
        self.state.limits.pending = true;
        effects.push(Effect::LookUpLimits(who));
    }
}
