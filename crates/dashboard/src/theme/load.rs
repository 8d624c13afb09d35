//! The set of themes: the embedded ones and every file in the user's theme folder (a user theme
//! replaces an embedded one of the same name), each resolved (`resolve.rs`) from its parsed file
//! (`file.rs`) for one colour mode.

use std::path::Path;

use super::file::{ParsedFile, ThemeError};
use super::resolve::resolve;
use super::{ColorMode, Theme};

/// The themes shipped in the binary, in cycling order.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("ansi16", include_str!("../../themes/ansi16.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
];

/// Every usable theme, by name, resolved for one colour mode.
#[derive(Debug, Clone)]
pub struct ThemeSet {
    themes: Vec<Theme>,
}

impl ThemeSet {
    /// The embedded themes, then every `*.toml` in `user_dir` (a user theme replaces an
    /// embedded one of the same name). Any broken file is an error.
    pub fn load(user_dir: Option<&Path>, mode: ColorMode) -> Result<ThemeSet, ThemeError> {
        let mut sources: Vec<(String, ParsedFile)> = EMBEDDED
            .iter()
            .map(|(name, text)| {
                ParsedFile::parse(format!("embedded:{name}.toml"), (*text).to_string())
                    .map(|s| ((*name).to_string(), s))
            })
            .collect::<Result<_, _>>()?;
        if let Some(dir) = user_dir
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            let mut files: Vec<_> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            for path in files {
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let text = std::fs::read_to_string(&path).map_err(|e| ThemeError {
                    file: path.display().to_string(),
                    line: 1,
                    key: None,
                    message: format!("cannot read: {e}"),
                })?;
                let source = ParsedFile::parse(path.display().to_string(), text)?;
                match sources.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = source,
                    None => sources.push((name, source)),
                }
            }
        }
        let themes = sources
            .iter()
            .map(|(name, _)| resolve(name, &sources, mode, &mut Vec::new()))
            .collect::<Result<_, _>>()?;
        Ok(ThemeSet { themes })
    }

    /// The embedded themes only (tests, benchmarks).
    pub fn embedded(mode: ColorMode) -> ThemeSet {
        // The embedded files are checked by a unit test; a broken one is a build bug.
        ThemeSet::load(None, mode).unwrap_or_else(|e| panic!("embedded theme broken: {e}"))
    }

    pub fn names(&self) -> Vec<&str> {
        self.themes.iter().map(|t| t.name.as_str()).collect()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.themes.iter().position(|t| t.name == name)
    }

    /// The theme at `i` (wrapping).
    pub fn get(&self, i: usize) -> &Theme {
        &self.themes[i % self.themes.len()]
    }

    pub fn len(&self) -> usize {
        self.themes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.themes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use ratatui::style::{Color, Modifier};

    use super::*;
    use crate::theme::ROLES;
    use crate::theme::file::ThemeFile;

    fn set_with(files: &[(&str, &str)]) -> Result<ThemeSet, ThemeError> {
        let dir = tempfile::tempdir().expect("tmp");
        for (name, text) in files {
            std::fs::write(dir.path().join(format!("{name}.toml")), text).expect("write");
        }
        ThemeSet::load(Some(dir.path()), ColorMode::TrueColor).map_err(|mut e| {
            e.file = e.file.rsplit('/').next().unwrap_or_default().to_string();
            e
        })
    }

    #[test]
    fn embedded_themes_load_and_style_every_role() {
        for mode in [
            ColorMode::TrueColor,
            ColorMode::Ansi256,
            ColorMode::Ansi16,
            ColorMode::None,
        ] {
            let set = ThemeSet::embedded(mode);
            assert_eq!(set.names(), ["dark", "light", "ansi16", "mono"]);
        }
        let set = ThemeSet::embedded(ColorMode::TrueColor);
        for (name, text) in EMBEDDED {
            let parsed: ThemeFile = toml::from_str(text).expect("parses");
            let mut roles: Vec<String> =
                parsed.styles.keys().map(|k| k.get_ref().clone()).collect();
            if parsed.inherits.is_none() {
                roles.sort();
                let mut all: Vec<String> = ROLES.iter().map(|r| r.to_string()).collect();
                all.sort();
                assert_eq!(roles, all, "{name} styles every role");
            }
        }
        assert!(set.get(0).critical.add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn the_ansi16_theme_uses_only_the_16_colours() {
        let set = ThemeSet::embedded(ColorMode::TrueColor);
        let t = set.get(set.index_of("ansi16").expect("ansi16"));
        for role in ROLES {
            let mut t = t.clone();
            let s = *t.role_mut(role).expect("role");
            for c in [s.fg, s.bg].into_iter().flatten() {
                assert!(
                    !matches!(c, Color::Rgb(..) | Color::Indexed(_)),
                    "{role}: {c:?}"
                );
            }
        }
    }

    #[test]
    fn no_color_leaves_modifiers_only() {
        let set = ThemeSet::embedded(ColorMode::None);
        let t = set.get(0);
        assert_eq!(t.ok.fg, None);
        assert!(t.verdict_bad.add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn a_partial_user_theme_inherits_and_overrides() {
        let set = set_with(&[(
            "mine",
            "inherits = \"dark\"\n[palette]\nhot = \"#ff0000\"\n[styles]\nok = { fg = \"hot\", bold = true }\n",
        )])
        .expect("valid");
        let t = set.get(set.index_of("mine").expect("mine"));
        assert_eq!(t.ok.fg, Some(Color::Rgb(255, 0, 0)));
        let dark = set.get(0);
        assert_eq!(t.critical, dark.critical);
    }

    #[test]
    fn a_user_theme_replaces_an_embedded_one_of_the_same_name() {
        let set = set_with(&[("dark", "inherits = \"light\"\n")]).expect("valid");
        assert_eq!(set.names(), ["dark", "light", "ansi16", "mono"]);
        assert_eq!(set.get(0).text, set.get(1).text);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = set_with(&[("bad", "[styles]\nok = { fg = \"mauve\" }\n")]).expect_err("colour");
        assert_eq!(
            e.to_string().split(": unknown").next(),
            Some("bad.toml:2: key 'styles.ok.fg'")
        );
        let e = set_with(&[("bad", "\n[styles]\nokay = { fg = \"red\" }\n")]).expect_err("role");
        assert!(
            e.to_string()
                .starts_with("bad.toml:3: key 'styles.okay': unknown role"),
            "{e}"
        );
        let e = set_with(&[("bad", "[styles]\nok = { fg = \"red\", blink = true }\n")])
            .expect_err("field");
        assert!(e.to_string().starts_with("bad.toml:2:"), "{e}");
        assert!(e.to_string().contains("blink"), "{e}");
        let e = set_with(&[("bad", "# x\ninherits = \"nope\"\n")]).expect_err("parent");
        assert!(
            e.to_string()
                .starts_with("bad.toml:2: key 'inherits': no theme named 'nope'"),
            "{e}"
        );
        let e = set_with(&[("a", "inherits = \"b\"\n"), ("b", "inherits = \"a\"\n")])
            .expect_err("cycle");
        assert!(e.to_string().contains("inheritance cycle"), "{e}");
        let e = set_with(&[(
            "bad",
            "[palette]\nhot = \"#zz0000\"\n[styles]\nok = { fg = \"hot\" }\n",
        )])
        .expect_err("palette");
        assert!(
            e.to_string().starts_with("bad.toml:2: key 'palette.hot'"),
            "{e}"
        );
    }

    /// Every error names `<file>.toml:<line>:` with a line inside the file (or one past it,
    /// for an error at its end).
    fn assert_names_file_and_line(e: &ThemeError, files: &[(String, String)]) {
        let text = files
            .iter()
            .find(|(name, _)| e.file == format!("{name}.toml"))
            .map(|(_, t)| t)
            .unwrap_or_else(|| panic!("the error names one of the files: {e}"));
        let lines = text.lines().count().max(1);
        assert!(
            e.line >= 1 && e.line <= lines + 1,
            "line {} of {lines}: {e}",
            e.line
        );
        assert!(
            e.to_string()
                .starts_with(&format!("{}:{}: ", e.file, e.line)),
            "{e}"
        );
    }

    fn load_all(files: &[(String, String)]) -> Result<ThemeSet, ThemeError> {
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        set_with(&borrowed)
    }

    use proptest::prelude::*;

    /// A line a theme file might hold, mostly well-formed, some of it wrong.
    fn theme_line() -> impl Strategy<Value = String> {
        let role = prop_oneof![
            proptest::sample::select(super::super::ROLES.to_vec()).prop_map(str::to_string),
            "[a-z_]{1,10}",
        ];
        let colour = prop_oneof![
            Just("red".to_string()),
            Just("fg".to_string()),
            Just("reset".to_string()),
            "#[0-9a-fA-F]{6}",
            "#[0-9a-z]{0,8}",
            "[a-zé_]{0,8}",
            (0u16..300).prop_map(|n| n.to_string()),
        ];
        let field = prop_oneof![
            Just("fg"),
            Just("bg"),
            Just("bold"),
            Just("dim"),
            Just("blink"),
            Just("italic"),
        ];
        prop_oneof![
            Just("[palette]".to_string()),
            Just("[styles]".to_string()),
            Just("[other]".to_string()),
            proptest::sample::select(vec!["dark", "light", "a", "b", "nope", ""])
                .prop_map(|p| format!("inherits = \"{p}\"")),
            ("[a-z]{1,6}", colour.clone()).prop_map(|(k, c)| format!("{k} = \"{c}\"")),
            (role.clone(), field.clone(), colour.clone())
                .prop_map(|(r, f, c)| format!("{r} = {{ {f} = \"{c}\" }}")),
            (role, field, any::<bool>()).prop_map(|(r, f, b)| format!("{r} = {{ {f} = {b} }}")),
            "\\PC{0,30}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// Random text as a theme file: loaded or refused by file and line, never a panic.
        #[test]
        fn random_text_as_a_theme_file_is_loaded_or_refused_by_file_and_line(
            text in "\\PC{0,200}",
        ) {
            let files = vec![("user".to_string(), text)];
            if let Err(e) = load_all(&files) {
                assert_names_file_and_line(&e, &files);
            }
        }

        /// Themes built from plausible lines, inheriting from each other (cycles included):
        /// each set loads, or its error names a file, a line in it and, past parsing, the key.
        #[test]
        fn random_theme_lines_are_loaded_or_refused_by_file_line_and_key(
            a in proptest::collection::vec(theme_line(), 0..12),
            b in proptest::collection::vec(theme_line(), 0..12),
        ) {
            let files = vec![
                ("a".to_string(), a.join("\n")),
                ("b".to_string(), b.join("\n")),
            ];
            match load_all(&files) {
                Ok(set) => {
                    prop_assert!(set.index_of("a").is_some() && set.index_of("b").is_some());
                }
                Err(e) => assert_names_file_and_line(&e, &files),
            }
        }
    }
}
