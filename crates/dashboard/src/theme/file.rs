//! One theme file, parsed but not resolved: its TOML shape (a palette, one style per role,
//! `inherits`), and errors that name the file, the line and the key.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use toml::Spanned;

/// A theme file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThemeError {
    /// The file (or `embedded:<name>.toml`).
    pub file: String,
    pub line: usize,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ThemeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(k) = &self.key {
            write!(f, "key '{k}': ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ThemeError {}

/// A theme file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ThemeFile {
    #[allow(dead_code)]
    description: Option<String>,
    pub(super) inherits: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) palette: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub(super) styles: BTreeMap<Spanned<String>, Spanned<StyleSpec>>,
}

/// One role's style as written: colours (or palette names) and modifiers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StyleSpec {
    pub(super) fg: Option<Spanned<String>>,
    pub(super) bg: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) bold: bool,
    #[serde(default)]
    pub(super) dim: bool,
    #[serde(default)]
    pub(super) italic: bool,
    #[serde(default)]
    pub(super) underlined: bool,
    #[serde(default)]
    pub(super) reversed: bool,
}

/// A parsed file, not yet resolved.
#[derive(Debug)]
pub(super) struct ParsedFile {
    file: String,
    text: String,
    pub(super) parsed: ThemeFile,
}

impl ParsedFile {
    pub(super) fn parse(file: String, text: String) -> Result<ParsedFile, ThemeError> {
        let parsed = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| line_of(&text, s.start)).unwrap_or(1);
            ThemeError {
                key: e.span().and_then(|s| key_on_line(&text, s.start)),
                file: file.clone(),
                line,
                message: e.message().lines().next().unwrap_or_default().to_string(),
            }
        })?;
        Ok(ParsedFile { file, text, parsed })
    }

    pub(super) fn error(&self, offset: usize, key: String, message: String) -> ThemeError {
        ThemeError {
            file: self.file.clone(),
            line: line_of(&self.text, offset),
            key: Some(key),
            message,
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (k, _) = line.split_once('=')?;
    Some(k.trim().to_string()).filter(|k| !k.is_empty())
}
