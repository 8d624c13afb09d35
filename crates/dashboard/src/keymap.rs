//! The key bindings: one table of action, default keys and description, from which the help
//! overlay and the footer are generated, so they cannot drift from what the keys do. The
//! `[keys]` table of `config.toml` replaces an action's keys (`fire = ["b", "f"]`); unknown
//! actions, unknown key names and clashes are errors naming `file:line`. The table is in
//! `bindings`, key names in `key_spec`; this module owns the map in force and its lookups.

mod bindings;
mod key_spec;

use std::path::Path;

use crossterm::event::KeyEvent;

use super::action::Action;
pub use bindings::{BINDINGS, Binding};
use flashsale_core::config::ConfigError;
use flashsale_core::config::source::Section;
pub use key_spec::KeySpec;

/// The bindings in force: the defaults with the `[keys]` table applied.
#[derive(Debug, Clone)]
pub struct Keymap {
    rows: Vec<(Binding, Vec<KeySpec>)>,
}

impl Default for Keymap {
    fn default() -> Self {
        Self {
            rows: BINDINGS
                .iter()
                .map(|b| {
                    let keys = b
                        .keys
                        .iter()
                        .filter_map(|k| KeySpec::parse(k).ok())
                        .collect();
                    (*b, keys)
                })
                .collect(),
        }
    }
}

impl Keymap {
    /// The defaults with `section` (the `[keys]` table) applied.
    pub fn from_section(section: Option<&Section>) -> Result<Keymap, ConfigError> {
        let mut map = Keymap::default();
        let Some(section) = section else {
            return Ok(map);
        };
        let mut lines = std::collections::HashMap::new();
        for entry in &section.entries {
            let err = |message: String| file_error(&section.path, entry.line, &entry.name, message);
            let Some(row) = map.rows.iter_mut().find(|(b, _)| b.name == entry.name) else {
                return Err(err(format!(
                    "unknown action (known actions: {})",
                    BINDINGS
                        .iter()
                        .map(|b| b.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let names: Vec<&str> = match &entry.value {
                toml::Value::String(s) => vec![s.as_str()],
                toml::Value::Array(a) => a
                    .iter()
                    .map(|v| v.as_str().ok_or(()))
                    .collect::<Result<_, _>>()
                    .map_err(|_| err("expected a key name or a list of key names".into()))?,
                _ => return Err(err("expected a key name or a list of key names".into())),
            };
            if names.is_empty() {
                return Err(err("give at least one key".into()));
            }
            row.1 = names
                .iter()
                .map(|n| KeySpec::parse(n))
                .collect::<Result<_, _>>()
                .map_err(err)?;
            lines.insert(entry.name.clone(), entry.line);
        }
        // A key may mean one thing only.
        for (i, (a, keys)) in map.rows.iter().enumerate() {
            for (other, other_keys) in &map.rows[i + 1..] {
                if let Some(k) = keys.iter().find(|k| other_keys.contains(k)) {
                    let (name, line) = [a.name, other.name]
                        .into_iter()
                        .find_map(|n| lines.get(n).map(|l| (n, *l)))
                        .unwrap_or((a.name, 1));
                    return Err(file_error(
                        &section.path,
                        line,
                        name,
                        format!("key '{k}' is bound to both {} and {}", a.name, other.name),
                    ));
                }
            }
        }
        Ok(map)
    }

    /// The action of a key press (Ctrl-C is handled before the map and always quits).
    pub fn action(&self, ev: &KeyEvent) -> Option<Action> {
        let spec = KeySpec::of(ev);
        self.rows
            .iter()
            .find(|(_, keys)| keys.contains(&spec))
            .map(|(b, _)| b.action)
    }

    /// The keys of an action, joined for display (`j/down`).
    pub fn keys(&self, action: Action) -> String {
        self.rows
            .iter()
            .find(|(b, _)| b.action == action)
            .map(|(_, keys)| {
                keys.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default()
    }

    /// Every binding with its keys, for the help overlay; actions the mode does not `offer`
    /// (writes with `--read-only`, the strategy over the API, ...) left out.
    pub fn help(&self, offers: impl Fn(Action) -> bool) -> Vec<(String, &'static str)> {
        let mut out: Vec<(String, &'static str)> = self
            .rows
            .iter()
            .filter(|(b, _)| offers(b.action))
            .map(|(b, _)| (self.keys(b.action), b.help))
            .collect();
        out.push(("1-7".into(), "focus pane by number"));
        out.push(("ctrl+c".into(), "quit at once"));
        out
    }

    /// The footer hints (key, label), actions the mode does not `offer` left out.
    pub fn footer(&self, offers: impl Fn(Action) -> bool) -> Vec<(String, &'static str)> {
        self.rows
            .iter()
            .filter(|(b, _)| offers(b.action))
            .filter_map(|(b, keys)| {
                let label = b.footer?;
                Some((keys.first()?.to_string(), label))
            })
            .collect()
    }
}

fn file_error(path: &Path, line: usize, name: &str, message: String) -> ConfigError {
    ConfigError::File {
        path: path.to_path_buf(),
        line,
        column: 1,
        key: Some(format!("keys.{name}")),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEventKind, KeyModifiers};
    use flashsale_core::config::source::Layer;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new_with_kind(code, mods, KeyEventKind::Press)
    }

    fn section(text: &str) -> Result<Keymap, ConfigError> {
        let layer = Layer::from_toml(Path::new("/cfg/config.toml"), text)?;
        Keymap::from_section(layer.section("keys"))
    }

    #[test]
    fn defaults_map_the_documented_keys() {
        let k = Keymap::default();
        assert_eq!(
            k.action(&key(KeyCode::Char('q'), KeyModifiers::NONE)),
            Some(Action::Quit)
        );
        assert_eq!(
            k.action(&key(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            Some(Action::Help)
        );
        assert_eq!(
            k.action(&key(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::FocusPrev)
        );
        assert_eq!(
            k.action(&key(KeyCode::Char(' '), KeyModifiers::NONE)),
            Some(Action::Pause)
        );
        assert_eq!(
            k.action(&key(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(
            k.action(&key(KeyCode::Char('w'), KeyModifiers::NONE)),
            Some(Action::Export)
        );
        assert_eq!(k.action(&key(KeyCode::Char('p'), KeyModifiers::NONE)), None);
        assert_eq!(
            k.action(&key(KeyCode::Char('r'), KeyModifiers::CONTROL)),
            Some(Action::ResetLimits)
        );
    }

    #[test]
    fn every_default_key_parses_and_none_clashes() {
        for b in BINDINGS {
            for k in b.keys {
                KeySpec::parse(k).unwrap_or_else(|e| panic!("{}: {e}", b.name));
            }
        }
        assert!(section("[keys]\n").is_ok());
    }

    #[test]
    fn remapping_replaces_an_actions_keys() {
        let k = section("[keys]\nfire = [\"f\", \"ctrl+b\"]\n").expect("valid");
        assert_eq!(
            k.action(&key(KeyCode::Char('f'), KeyModifiers::NONE)),
            Some(Action::Fire)
        );
        assert_eq!(
            k.action(&key(KeyCode::Char('b'), KeyModifiers::CONTROL)),
            Some(Action::Fire)
        );
        assert_eq!(k.action(&key(KeyCode::Char('b'), KeyModifiers::NONE)), None);
        assert_eq!(k.keys(Action::Fire), "f/ctrl+b");
    }

    #[test]
    fn unknown_action_names_file_line_and_action() {
        let err = section("\n[keys]\nquit = \"q\"\nfyre = \"f\"\n").expect_err("unknown");
        let msg = err.to_string();
        assert!(msg.starts_with("/cfg/config.toml:4:"), "{msg}");
        assert!(
            msg.contains("keys.fyre") && msg.contains("unknown action"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_key_name_names_file_line_and_key() {
        let err = section("[keys]\nquit = \"ctrl+escape\"\n").expect_err("bad key");
        let msg = err.to_string();
        assert!(msg.starts_with("/cfg/config.toml:2:"), "{msg}");
        assert!(msg.contains("unknown key 'ctrl+escape'"), "{msg}");
    }

    #[test]
    fn a_key_bound_twice_is_an_error_naming_both_actions() {
        let err = section("[keys]\nquit = \"b\"\n").expect_err("clash");
        let msg = err.to_string();
        assert!(
            msg.contains(":2:") && msg.contains("bound to both quit and fire"),
            "{msg}"
        );
    }

    #[test]
    fn ctrl_c_cannot_be_taken() {
        let err = section("[keys]\nhelp = \"ctrl+c\"\n").expect_err("ctrl+c");
        assert!(err.to_string().contains("always quits"), "{err}");
    }

    #[test]
    fn read_only_hides_write_bindings_from_help_and_footer() {
        let k = Keymap::default();
        let read_only = |a: Action| !a.writes();
        assert!(
            k.help(|_| true)
                .iter()
                .any(|(_, h)| h.contains("fire a burst"))
        );
        assert!(
            !k.help(read_only)
                .iter()
                .any(|(_, h)| h.contains("fire a burst"))
        );
        assert!(!k.footer(read_only).iter().any(|(_, l)| *l == "burst"));
    }
}
