//! Raw values from one configuration source (flags, environment, file), each remembering where
//! it came from so that an error can say which key, in which place, is wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::ConfigError;
use super::keys::{self, Key};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    Env(&'static str),
    File {
        path: PathBuf,
        line: usize,
        key: &'static str,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "--{flag}"),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::File { path, line, key } => {
                write!(f, "{}:{line}: key '{key}'", path.display())
            }
        }
    }
}

/// A value as written, not yet parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    pub value: String,
    pub origin: Origin,
}

/// Tables of `config.toml` that belong to one face and are handed to it as written (the
/// dashboard's `[keys]` and `[alerts]`); that face validates them.
pub const SECTIONS: &[&str] = &["keys", "alerts"];

/// One `[section]` of a config file, each entry with its line, so that the face reading it can
/// name `file:line` in its errors.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub path: PathBuf,
    pub entries: Vec<SectionEntry>,
}

/// `name = value` inside a [`Section`].
#[derive(Debug, Clone, PartialEq)]
pub struct SectionEntry {
    pub name: String,
    pub value: toml::Value,
    pub line: usize,
}

/// The values one source gave, by key.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    values: BTreeMap<&'static str, Raw>,
    sections: BTreeMap<&'static str, Section>,
}

impl Layer {
    pub fn get(&self, key: Key) -> Option<&Raw> {
        self.values.get(key.file)
    }

    /// A table from [`SECTIONS`], when the config file has it.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.get(name)
    }

    pub fn set(&mut self, key: Key, value: impl Into<String>, origin: Origin) {
        self.values.insert(
            key.file,
            Raw {
                value: value.into(),
                origin,
            },
        );
    }

    /// Values from command-line flags; `None` means the flag was not given.
    pub fn from_flags<'a>(flags: impl IntoIterator<Item = (Key, Option<&'a str>)>) -> Self {
        let mut layer = Layer::default();
        for (key, value) in flags {
            if let Some(v) = value {
                layer.set(key, v, Origin::Flag(key.flag));
            }
        }
        layer
    }

    /// Values from the environment, read through `lookup` so tests need not touch the process.
    /// Empty variables count as unset, as shells and `.env` files commonly leave them.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut layer = Layer::default();
        for key in keys::ALL {
            if let Some(v) = lookup(key.env).filter(|v| !v.trim().is_empty()) {
                layer.set(*key, v, Origin::Env(key.env));
            }
        }
        layer
    }

    /// Values from a TOML config file's text. Unknown keys and non-scalar values are errors
    /// naming the file, line and key.
    pub fn from_toml(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let table: BTreeMap<String, toml::Spanned<toml::Value>> =
            toml::from_str(text).map_err(|e| {
                let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
                ConfigError::File {
                    path: path.to_path_buf(),
                    line,
                    column,
                    key: e.span().and_then(|s| key_on_line(text, s.start)),
                    message: first_line(e.message()),
                }
            })?;
        let mut layer = Layer::default();
        for (name, spanned) in table {
            let (line, column) = line_col(text, spanned.span().start);
            if let Some(section) = SECTIONS.iter().find(|s| **s == name) {
                if !spanned.get_ref().is_table() {
                    return Err(ConfigError::File {
                        path: path.to_path_buf(),
                        line,
                        column,
                        key: Some(name),
                        message: "expected a table, e.g. [keys]".into(),
                    });
                }
                layer
                    .sections
                    .insert(section, section_of(path, text, section)?);
                continue;
            }
            let file_error = |message: String| ConfigError::File {
                path: path.to_path_buf(),
                line,
                column,
                key: Some(name.clone()),
                message,
            };
            let Some(key) = keys::by_file_name(&name) else {
                let known: Vec<&str> = keys::ALL.iter().map(|k| k.file).collect();
                return Err(file_error(format!(
                    "unknown key (known keys: {})",
                    known.join(", ")
                )));
            };
            let value = match spanned.into_inner() {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(x) => x.to_string(),
                other => {
                    return Err(file_error(format!(
                        "expected a single value, found a {}",
                        other.type_str()
                    )));
                }
            };
            layer.set(
                key,
                value,
                Origin::File {
                    path: path.to_path_buf(),
                    line,
                    key: key.file,
                },
            );
        }
        Ok(layer)
    }

    /// Reads a config file; a missing file is an empty layer unless `required`.
    pub fn from_file(path: &Path, required: bool) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Layer::default()),
            Err(e) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        }
    }

    /// This layer over `lower`: where both have a key (or a section), this one wins.
    pub fn over(mut self, lower: Layer) -> Layer {
        for (k, v) in lower.values {
            self.values.entry(k).or_insert(v);
        }
        for (k, v) in lower.sections {
            self.sections.entry(k).or_insert(v);
        }
        self
    }
}

/// Reads one section's entries with the line of each (a second, typed parse: the first one
/// keeps the spans of top-level keys only).
fn section_of(path: &Path, text: &str, name: &str) -> Result<Section, ConfigError> {
    type Entries = BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>>;
    #[derive(serde::Deserialize)]
    struct Sections {
        keys: Option<Entries>,
        alerts: Option<Entries>,
    }
    let parsed: Sections = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::File {
            path: path.to_path_buf(),
            line,
            column,
            key: Some(name.to_string()),
            message: first_line(e.message()),
        }
    })?;
    let entries = match name {
        "keys" => parsed.keys,
        _ => parsed.alerts,
    };
    Ok(Section {
        path: path.to_path_buf(),
        entries: entries
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| SectionEntry {
                line: line_col(text, k.span().start).0,
                name: k.into_inner(),
                value: v.into_inner(),
            })
            .collect(),
    })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, column)
}

/// The `key` of a `key = value` line holding `offset`, when the line has that shape.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let end = text[offset..]
        .find('\n')
        .map(|i| offset + i)
        .unwrap_or(text.len());
    let line = &text[start..end];
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.starts_with('#')).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> PathBuf {
        PathBuf::from("/etc/flashsale/config.toml")
    }

    #[test]
    fn file_values_remember_their_line() {
        let layer = Layer::from_toml(
            &path(),
            "# comment\ndb_pool_max = 7\nredis_url = \"redis://h\"\n",
        )
        .expect("valid file");
        let raw = layer.get(keys::DB_POOL_MAX).expect("set");
        assert_eq!(raw.value, "7");
        assert_eq!(
            raw.origin,
            Origin::File {
                path: path(),
                line: 2,
                key: "db_pool_max"
            }
        );
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = Layer::from_toml(&path(), "db_pool_max = 7\ndb_pool_mx = 3\n")
            .expect_err("unknown key");
        let msg = err.to_string();
        assert!(msg.contains("config.toml:2"), "{msg}");
        assert!(msg.contains("db_pool_mx"), "{msg}");
        assert!(msg.contains("unknown key"), "{msg}");
    }

    #[test]
    fn syntax_error_names_file_line_and_key() {
        let err = Layer::from_toml(&path(), "max_quantity = 3\nredis_url = redis://x\n")
            .expect_err("bad syntax");
        let msg = err.to_string();
        assert!(msg.contains("config.toml:2"), "{msg}");
        assert!(msg.contains("redis_url"), "{msg}");
    }

    #[test]
    fn table_where_a_value_belongs_is_refused() {
        let err = Layer::from_toml(&path(), "[max_quantity]\nx = 1\n").expect_err("table");
        assert!(err.to_string().contains("max_quantity"), "{err}");
    }

    #[test]
    fn sections_are_handed_over_with_their_lines() {
        let layer = Layer::from_toml(
            &path(),
            "max_quantity = 3\n\n[keys]\nquit = \"x\"\nfire = [\"b\", \"f\"]\n\n[alerts]\nlow_stock = 9\n",
        )
        .expect("valid file");
        let keys = layer.section("keys").expect("keys");
        let lines: Vec<(&str, usize)> = keys
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.line))
            .collect();
        assert_eq!(lines, [("fire", 5), ("quit", 4)]);
        let alerts = layer.section("alerts").expect("alerts");
        assert_eq!(alerts.entries[0].line, 8);
        assert_eq!(
            layer.get(keys::MAX_QUANTITY).map(|r| r.value.as_str()),
            Some("3")
        );
    }

    #[test]
    fn a_section_that_is_not_a_table_is_refused() {
        let err = Layer::from_toml(&path(), "keys = 3\n").expect_err("scalar");
        assert!(err.to_string().contains("config.toml:1"), "{err}");
        assert!(err.to_string().contains("expected a table"), "{err}");
    }

    #[test]
    fn env_ignores_empty_values() {
        let layer = Layer::from_env(|k| match k {
            "REDIS_URL" => Some(String::new()),
            "DB_POOL_MAX" => Some("9".into()),
            _ => None,
        });
        assert!(layer.get(keys::REDIS_URL).is_none());
        assert_eq!(
            layer.get(keys::DB_POOL_MAX).map(|r| r.value.as_str()),
            Some("9")
        );
    }

    #[test]
    fn higher_layer_wins() {
        let mut high = Layer::default();
        high.set(keys::DB_POOL_MAX, "3", Origin::Flag("db-pool-max"));
        let mut low = Layer::default();
        low.set(keys::DB_POOL_MAX, "9", Origin::Env("DB_POOL_MAX"));
        low.set(keys::MAX_QUANTITY, "4", Origin::Env("MAX_QUANTITY"));
        let merged = high.over(low);
        assert_eq!(
            merged.get(keys::DB_POOL_MAX).map(|r| r.value.as_str()),
            Some("3")
        );
        assert_eq!(
            merged.get(keys::MAX_QUANTITY).map(|r| r.value.as_str()),
            Some("4")
        );
    }
}
