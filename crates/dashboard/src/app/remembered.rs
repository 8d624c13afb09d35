//! The preferences as the app keeps them: applied at start (what the command line gave wins),
//! and after every key or click compared with what is on screen, so that a change (the
//! editor, `s`, `t`, `+`/`-`) becomes an [`Effect::SavePrefs`] of the file with that
//! preference replaced. A file that could not be read is only said to be wrong, and not
//! written over until then.

use super::{App, Effect};
use crate::prefs::{Prefs, SavedBurst, refresh_step};
use crate::state::{Level, State};

/// What the command line (flags, environment, config file) set: it wins over the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Given {
    pub theme: bool,
    pub refresh: bool,
    pub strategy: bool,
}

/// The preferences file's content as we would write it, and the preferences last on screen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Remembered {
    file: Prefs,
    shown: Prefs,
}

impl Remembered {
    pub(super) fn new(state: &State) -> Remembered {
        Remembered {
            file: Prefs::default(),
            shown: on_screen(state),
        }
    }
}

/// The preferences as the screen has them now.
fn on_screen(s: &State) -> Prefs {
    Prefs {
        theme: Some(s.theme_name.clone()),
        refresh_ms: u64::try_from(s.refresh.as_millis()).ok(),
        burst: Some(SavedBurst::of(&s.burst.params)),
    }
}

impl App {
    /// Applies what `read` found in `file` (see [`crate::prefs::read`]), each preference unless
    /// `given` on the command line; every problem goes to the events pane, naming the file.
    pub fn load_prefs(&mut self, read: Result<Option<Prefs>, String>, file: &str, given: Given) {
        let wall = self.state.wall;
        let found = match read {
            Ok(Some(p)) => p,
            Ok(None) => Prefs::default(),
            Err(e) => {
                let text = format!(
                    "preferences not used: {e}; started with the defaults (the file is left \
                     as it is until a preference changes)"
                );
                self.state.log.push(wall, Level::Error, text);
                Prefs::default()
            }
        };
        let mut kept = found.clone();
        let mut problems = Vec::new();
        if let Some(name) = found.theme.as_deref()
            && !given.theme
        {
            match self.themes.index_of(name) {
                Some(i) => {
                    self.state.theme = i;
                    self.state.theme_name = self.themes.get(i).name.clone();
                }
                None => {
                    problems.push(format!(
                        "theme '{name}': no such theme (themes: {})",
                        self.themes.names().join(", ")
                    ));
                    kept.theme = None;
                }
            }
        }
        if let Some(ms) = found.refresh_ms
            && !given.refresh
        {
            match refresh_step(ms) {
                Some(d) => self.state.refresh = d,
                None => {
                    problems.push(format!(
                        "refreshMs {ms}: not a refresh step (250, 500, 1000, 2000, 5000, 10000)"
                    ));
                    kept.refresh_ms = None;
                }
            }
        }
        if let Some(saved) = &found.burst {
            match saved.params(self.state.conn.max_quantity) {
                Ok(mut p) => {
                    if given.strategy {
                        p.strategy = self.state.burst.params.strategy;
                    }
                    self.state.burst.params = p;
                }
                Err(e) => {
                    problems.push(format!("burst {e}"));
                    kept.burst = None;
                }
            }
        }
        for p in problems {
            let text = format!("{file}: {p}; the default is used");
            self.state.log.push(wall, Level::Warn, text);
        }
        self.prefs = Remembered {
            file: kept,
            shown: on_screen(&self.state),
        };
    }

    /// Takes the preferences on screen as saved: for fixtures that set the state directly,
    /// as no operator can.
    #[cfg(any(test, feature = "fixture"))]
    pub fn settle_prefs(&mut self) {
        self.prefs.shown = on_screen(&self.state);
    }

    /// After a key or a click: a preference that changed on screen is saved (the file with it
    /// replaced, the others as they were there).
    pub(super) fn remember_prefs(&mut self, effects: &mut Vec<Effect>) {
        let now = on_screen(&self.state);
        let r = &mut self.prefs;
        if now == r.shown {
            return;
        }
        if now.theme != r.shown.theme {
            r.file.theme.clone_from(&now.theme);
        }
        if now.refresh_ms != r.shown.refresh_ms {
            r.file.refresh_ms = now.refresh_ms;
        }
        if now.burst != r.shown.burst {
            r.file.burst.clone_from(&now.burst);
        }
        r.shown = now;
        effects.push(Effect::SavePrefs(r.file.clone()));
    }
}
