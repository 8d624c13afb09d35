//! A theme resolved from its files: the `inherits` chain merged (parents first, cycles and
//! unknown parents refused), palette names looked up, colours mapped to the terminal's mode.

use std::collections::BTreeMap;

use ratatui::style::{Color, Modifier, Style};
use toml::Spanned;

use super::file::{ParsedFile, StyleSpec, ThemeError};
use super::{ColorMode, ROLES, Theme, color, ensure_modifiers};

/// The palette and style specs of `name`, its parents' first.
type Merged = (
    BTreeMap<String, (String, usize, usize)>,
    BTreeMap<String, (StyleSpec, usize)>,
);

fn merged(
    name: &str,
    sources: &[(String, ParsedFile)],
    chain: &mut Vec<String>,
) -> Result<Merged, ThemeError> {
    let idx = sources
        .iter()
        .position(|(n, _)| n == name)
        .ok_or_else(|| ThemeError {
            file: name.to_string(),
            line: 1,
            key: None,
            message: "no such theme".into(),
        })?;
    let src = &sources[idx].1;
    chain.push(name.to_string());
    let (mut palette, mut styles) = match &src.parsed.inherits {
        Some(parent) => {
            let p = parent.get_ref();
            if chain.iter().any(|c| c == p) {
                return Err(src.error(
                    parent.span().start,
                    "inherits".into(),
                    format!("inheritance cycle: {} -> {p}", chain.join(" -> ")),
                ));
            }
            if !sources.iter().any(|(n, _)| n == p) {
                return Err(src.error(
                    parent.span().start,
                    "inherits".into(),
                    format!(
                        "no theme named '{p}' (themes: {})",
                        sources
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            merged(p, sources, chain)?
        }
        None => Default::default(),
    };
    for (k, v) in &src.parsed.palette {
        palette.insert(
            k.get_ref().clone(),
            (v.get_ref().clone(), idx, v.span().start),
        );
    }
    for (k, v) in &src.parsed.styles {
        if !ROLES.contains(&k.get_ref().as_str()) {
            return Err(src.error(
                k.span().start,
                format!("styles.{}", k.get_ref()),
                format!("unknown role (roles: {})", ROLES.join(", ")),
            ));
        }
        styles.insert(k.get_ref().clone(), (v.get_ref().clone(), idx));
    }
    Ok((palette, styles))
}

pub(super) fn resolve(
    name: &str,
    sources: &[(String, ParsedFile)],
    mode: ColorMode,
    chain: &mut Vec<String>,
) -> Result<Theme, ThemeError> {
    let (palette, styles) = merged(name, sources, chain)?;
    let colour =
        |value: &Spanned<String>, src: &ParsedFile, key: String| -> Result<Color, ThemeError> {
            let v = value.get_ref();
            let raw = match palette.get(v) {
                Some((p, pidx, poff)) => {
                    let psrc = &sources[*pidx].1;
                    return color::parse(p)
                        .map_err(|m| psrc.error(*poff, format!("palette.{v}"), m));
                }
                None => v,
            };
            color::parse(raw).map_err(|m| src.error(value.span().start, key, m))
        };
    let mut theme = Theme {
        name: name.to_string(),
        ..Theme::default()
    };
    for (role, (spec, sidx)) in &styles {
        let src = &sources[*sidx].1;
        let mut style = Style::default();
        if let Some(fg) = &spec.fg {
            let c = colour(fg, src, format!("styles.{role}.fg"))?;
            if let Some(c) = mode.map(c) {
                style = style.fg(c);
            }
        }
        if let Some(bg) = &spec.bg {
            let c = colour(bg, src, format!("styles.{role}.bg"))?;
            if let Some(c) = mode.map(c) {
                style = style.bg(c);
            }
        }
        for (on, m) in [
            (spec.bold, Modifier::BOLD),
            (spec.dim, Modifier::DIM),
            (spec.italic, Modifier::ITALIC),
            (spec.underlined, Modifier::UNDERLINED),
            (spec.reversed, Modifier::REVERSED),
        ] {
            if on {
                style = style.add_modifier(m);
            }
        }
        if let Some(slot) = theme.role_mut(role) {
            *slot = style;
        }
    }
    let theme = ensure_modifiers(theme);
    Ok(if mode == ColorMode::None {
        theme.strip_colors()
    } else {
        theme
    })
}
