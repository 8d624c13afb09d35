//! Semantic themes: panes ask for roles (`title(focused)`, `ok`, `warn`, `critical`, `muted`),
//! never raw colours. Themes are TOML files (a palette plus one style per role, `inherits` for
//! partial themes); four are embedded, user themes in `<config dir>/themes/` override them by
//! name. Colours are mapped down to what the terminal shows; with `NO_COLOR` only modifiers
//! remain, so nothing depends on colour alone.

pub mod color;
pub mod contrast;
mod file;
mod load;
mod resolve;

use ratatui::style::{Modifier, Style};

pub use color::ColorMode;
pub use file::ThemeError;
pub use load::ThemeSet;

macro_rules! roles {
    ($($(#[$doc:meta])* $role:ident),* $(,)?) => {
        /// Every style a pane can ask for.
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct Theme {
            pub name: String,
            $($(#[$doc])* pub $role: Style,)*
        }

        /// The role names a theme file may style.
        pub const ROLES: &[&str] = &[$(stringify!($role)),*];

        impl Theme {
            pub(crate) fn role_mut(&mut self, name: &str) -> Option<&mut Style> {
                match name {
                    $(stringify!($role) => Some(&mut self.$role),)*
                    _ => None,
                }
            }
        }
    };
}

roles! {
    /// The whole screen's background and default text.
    base,
    text,
    /// Secondary text: labels, units, ages.
    muted,
    title,
    title_focused,
    border,
    border_focused,
    /// The header bar.
    header,
    /// The selected row.
    selected,
    ok,
    warn,
    critical,
    info,
    /// A key name in hints and help.
    key,
    gauge,
    bar,
    sparkline,
    /// A strategy that oversells (`naive`): warning colours plus the word UNSAFE.
    unsafe_strategy,
    verdict_ok,
    verdict_bad,
    /// A pane whose data is old.
    stale,
    /// Overlays (help, dialogs).
    popup,
    input,
    input_error,
}

impl Theme {
    pub fn title(&self, focused: bool) -> Style {
        if focused {
            self.title_focused
        } else {
            self.title
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.border_focused
        } else {
            self.border
        }
    }

    /// Drops every colour, keeping modifiers (for `NO_COLOR` and `--color never`).
    fn strip_colors(mut self) -> Theme {
        for name in ROLES {
            if let Some(s) = self.role_mut(name) {
                *s = Style::default().add_modifier(s.add_modifier - s.sub_modifier);
            }
        }
        self
    }
}

/// Adds the modifiers a role must have whatever the theme says, so that no state is told by
/// colour alone (focus, verdicts and alerts stay visible without colour; the selected row also has a marker).
fn ensure_modifiers(mut t: Theme) -> Theme {
    t.title_focused = t.title_focused.add_modifier(Modifier::BOLD);
    t.verdict_ok = t.verdict_ok.add_modifier(Modifier::BOLD);
    t.verdict_bad = t.verdict_bad.add_modifier(Modifier::BOLD);
    t.critical = t.critical.add_modifier(Modifier::BOLD);
    t
}
