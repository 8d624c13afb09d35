//! Text that cannot be read is a defect whatever the theme says. A pane styles a span with a
//! role (a green stock figure) and the selected row lays its background under it: a theme
//! cannot foresee every pair, and mapped down to 16 colours two different roles can become the
//! same colour (the selected row's stock was colour 7 on colour 7). So after every frame is
//! drawn, each cell with text whose colours are both known and read worse than
//! [`MIN_CONTRAST`] gets black or white text (in the background's encoding), whichever reads better on it.
//! A cell on the terminal's own default background is left alone: that colour is unknown.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use super::color;

/// WCAG's minimum for large text and interface parts, the least a number on screen must have.
pub const MIN_CONTRAST: f64 = 3.0;

fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let channel = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
}

/// The WCAG contrast ratio of two colours, 1 to 21 (`None` when either is the terminal's
/// default).
pub fn ratio(a: Color, b: Color) -> Option<f64> {
    let (la, lb) = (luminance(color::rgb(a)?), luminance(color::rgb(b)?));
    Some((la.max(lb) + 0.05) / (la.min(lb) + 0.05))
}

/// Gives every unreadable cell of `buf` readable text (see the module).
pub fn guard(buf: &mut Buffer) {
    for cell in &mut buf.content {
        if cell.symbol().trim().is_empty() {
            continue;
        }
        let reversed = cell.modifier.contains(Modifier::REVERSED);
        let (fg, bg) = if reversed {
            (cell.bg, cell.fg)
        } else {
            (cell.fg, cell.bg)
        };
        let Some(r) = ratio(fg, bg) else {
            continue;
        };
        if r >= MIN_CONTRAST {
            continue;
        }
        // Black and white in the background's own encoding, so a 16-colour screen stays one.
        let (black, white) = match bg {
            Color::Rgb(..) => (Color::Rgb(0, 0, 0), Color::Rgb(255, 255, 255)),
            Color::Indexed(_) => (Color::Indexed(16), Color::Indexed(231)),
            _ => (Color::Black, Color::White),
        };
        let on_black = ratio(black, bg).unwrap_or(1.0);
        let readable = if on_black >= ratio(white, bg).unwrap_or(1.0) {
            black
        } else {
            white
        };
        if reversed {
            cell.bg = readable;
        } else {
            cell.fg = readable;
        }
    }
}

#[cfg(test)]
mod tests {
    use ratatui::layout::Rect;

    use super::*;

    #[test]
    fn ratios_are_wcag_ones() {
        let r = ratio(Color::Rgb(0, 0, 0), Color::Rgb(255, 255, 255)).expect("known");
        assert!((r - 21.0).abs() < 0.01, "{r}");
        assert_eq!(ratio(Color::Red, Color::Red), Some(1.0));
        assert_eq!(ratio(Color::Reset, Color::Red), None);
    }

    #[test]
    fn an_unreadable_cell_gets_black_or_white_text_and_the_rest_is_left() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 4, 1));
        buf[(0, 0)]
            .set_symbol("7")
            .set_fg(Color::Gray)
            .set_bg(Color::Gray);
        buf[(1, 0)]
            .set_symbol("7")
            .set_fg(Color::Rgb(0xa3, 0xbe, 0x8c))
            .set_bg(Color::Rgb(0x88, 0xc0, 0xd0));
        buf[(2, 0)]
            .set_symbol("7")
            .set_fg(Color::Black)
            .set_bg(Color::Cyan);
        buf[(3, 0)].set_symbol("7").set_fg(Color::Gray);
        guard(&mut buf);
        assert_eq!(buf[(0, 0)].fg, Color::Black);
        assert_eq!(buf[(1, 0)].fg, Color::Rgb(0, 0, 0));
        assert_eq!(buf[(2, 0)].fg, Color::Black);
        assert_eq!(buf[(3, 0)].fg, Color::Gray, "default background: unknown");
        for x in 0..4 {
            let c = &buf[(x, 0)];
            if let Some(r) = ratio(c.fg, c.bg) {
                assert!(r >= MIN_CONTRAST, "cell {x}: {r}");
            }
        }
    }

    /// The themes themselves are right: the guard is a net, not the design.
    #[test]
    fn every_embedded_theme_reads_well_in_every_colour_mode() {
        use crate::theme::{ColorMode, ROLES, ThemeSet};
        let mut poor = Vec::new();
        for mode in [ColorMode::TrueColor, ColorMode::Ansi256, ColorMode::Ansi16] {
            let set = ThemeSet::embedded(mode);
            for i in 0..set.len() {
                let mut theme = set.get(i).clone();
                let name = theme.name.clone();
                for role in ROLES {
                    let style = *theme.role_mut(role).expect("a role");
                    if let (Some(fg), Some(bg)) = (style.fg, style.bg)
                        && let Some(r) = ratio(fg, bg)
                        && r < MIN_CONTRAST
                    {
                        poor.push(format!("{name} {mode:?} {role}: {r:.2}"));
                    }
                }
            }
        }
        assert!(poor.is_empty(), "contrast below {MIN_CONTRAST}: {poor:#?}");
    }

    /// Mapped down to 16 colours the default theme keeps its kinds: alerts red, warnings
    /// yellow, good news green, and the selected row is not the colour of plain text.
    #[test]
    fn the_default_theme_in_16_colours_keeps_alerts_coloured() {
        use crate::theme::{ColorMode, ThemeSet};
        let set = ThemeSet::embedded(ColorMode::Ansi16);
        let t = set.get(set.index_of("dark").expect("dark is embedded"));
        assert!(
            matches!(t.critical.fg, Some(Color::Red | Color::LightRed)),
            "{t:?}"
        );
        assert!(matches!(
            t.warn.fg,
            Some(Color::Yellow | Color::LightYellow)
        ));
        assert!(matches!(t.ok.fg, Some(Color::Green | Color::LightGreen)));
        assert_ne!(t.selected.bg, t.text.fg);
        assert_ne!(t.selected.bg, t.base.bg);
    }

    #[test]
    fn a_reversed_cell_is_judged_as_it_shows() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 1, 1));
        buf[(0, 0)]
            .set_symbol("x")
            .set_fg(Color::Blue)
            .set_bg(Color::Blue)
            .modifier = Modifier::REVERSED;
        guard(&mut buf);
        // Reversed: the background colour is the text's.
        assert_eq!(buf[(0, 0)].bg, Color::White);
    }
}
