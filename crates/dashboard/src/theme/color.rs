//! Colour values as theme files write them, and their mapping down to what the terminal can
//! show: truecolour, the 256-colour palette, the 16 ANSI colours, or none (`NO_COLOR`).

use std::str::FromStr;

use ratatui::style::Color;

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    TrueColor,
    Ansi256,
    Ansi16,
    /// No colour at all: styles keep their modifiers (bold, reversed, underlined) only.
    None,
}

impl FromStr for ColorMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "truecolor" | "24bit" => Ok(ColorMode::TrueColor),
            "256" => Ok(ColorMode::Ansi256),
            "16" => Ok(ColorMode::Ansi16),
            "never" | "none" => Ok(ColorMode::None),
            _ => Err(format!("'{s}': expected auto, truecolor, 256, 16 or never")),
        }
    }
}

impl ColorMode {
    /// `auto`: `NO_COLOR` wins, then `COLORTERM`, then `TERM`.
    pub fn detect(env: impl Fn(&str) -> Option<String>) -> ColorMode {
        if env("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return ColorMode::None;
        }
        let colorterm = env("COLORTERM").unwrap_or_default().to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" {
            return ColorMode::TrueColor;
        }
        let term = env("TERM").unwrap_or_default();
        if term == "dumb" {
            ColorMode::None
        } else if term.contains("256color") || term.contains("direct") {
            ColorMode::Ansi256
        } else {
            ColorMode::Ansi16
        }
    }

    /// `color` as this terminal can show it (`None`: no colour).
    pub fn map(self, color: Color) -> Option<Color> {
        match self {
            ColorMode::None => None,
            ColorMode::TrueColor => Some(color),
            ColorMode::Ansi256 => Some(match color {
                Color::Rgb(r, g, b) => Color::Indexed(to_256(r, g, b)),
                c => c,
            }),
            ColorMode::Ansi16 => Some(match color {
                Color::Rgb(r, g, b) => to_16(r, g, b),
                Color::Indexed(i) => {
                    let (r, g, b) = rgb_of_index(i);
                    to_16(r, g, b)
                }
                c => c,
            }),
        }
    }
}

const ANSI: [(&str, Color); 17] = [
    ("reset", Color::Reset),
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("gray", Color::Gray),
    ("dark-gray", Color::DarkGray),
    ("light-red", Color::LightRed),
    ("light-green", Color::LightGreen),
    ("light-yellow", Color::LightYellow),
    ("light-blue", Color::LightBlue),
    ("light-magenta", Color::LightMagenta),
    ("light-cyan", Color::LightCyan),
    ("white", Color::White),
];

/// Parses `#rrggbb`, `#rgb`, an ANSI name (`red`, `light-blue`, `reset`, ...) or a 256-palette
/// index (`"238"`).
pub fn parse(value: &str) -> Result<Color, String> {
    let v = value.trim();
    if let Some(hex) = v.strip_prefix('#') {
        let digits: Vec<u8> = hex
            .chars()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("'{value}' is not a hex colour"))?;
        return match digits[..] {
            [r, g, b] => Ok(Color::Rgb(r * 17, g * 17, b * 17)),
            [r1, r2, g1, g2, b1, b2] => Ok(Color::Rgb(r1 * 16 + r2, g1 * 16 + g2, b1 * 16 + b2)),
            _ => Err(format!("'{value}': expected #rgb or #rrggbb")),
        };
    }
    if let Ok(i) = v.parse::<u8>() {
        return Ok(Color::Indexed(i));
    }
    let name = v.to_ascii_lowercase().replace('_', "-");
    ANSI.iter()
        .find(|(n, _)| *n == name || n.replace('-', "") == name)
        .map(|(_, c)| *c)
        .ok_or_else(|| {
            format!(
                "unknown colour '{value}' (a palette name, #rrggbb, 0-255, or one of {})",
                ANSI.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )
        })
}

const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];

fn dist(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).unsigned_abs();
    d(a.0, b.0).pow(2) + d(a.1, b.1).pow(2) + d(a.2, b.2).pow(2)
}

fn rgb_of_index(i: u8) -> (u8, u8, u8) {
    match i {
        0..=15 => XTERM16[i as usize].1,
        16..=231 => {
            let n = i - 16;
            (
                LEVELS[(n / 36) as usize],
                LEVELS[(n / 6 % 6) as usize],
                LEVELS[(n % 6) as usize],
            )
        }
        _ => {
            let v = 8 + (i - 232) * 10;
            (v, v, v)
        }
    }
}

/// The nearest colour of the 6x6x6 cube or the grey ramp.
fn to_256(r: u8, g: u8, b: u8) -> u8 {
    (16..=255u8)
        .min_by_key(|i| dist((r, g, b), rgb_of_index(*i)))
        .unwrap_or(16)
}

/// What `color` looks like, as xterm's default palette shows the 16 (`None`: the terminal's own
/// default, unknown here).
pub fn rgb(color: Color) -> Option<(u8, u8, u8)> {
    match color {
        Color::Reset => None,
        Color::Rgb(r, g, b) => Some((r, g, b)),
        Color::Indexed(i) => Some(rgb_of_index(i)),
        named => XTERM16
            .iter()
            .find(|(c, _)| *c == named)
            .map(|(_, rgb)| *rgb),
    }
}

const XTERM16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

/// The ANSI colour a terminal would show closest in kind, not in distance: the nearest of the
/// 16 by RGB distance turns every soft theme colour into a grey (a pastel cyan is nearer to
/// xterm's grey 229 than to its cyan 0,205,205), so alerts lost their red and the selected row
/// its contrast. Instead a colour with little chroma becomes one of the four greys by its
/// lightness, and any other takes the hue of its sector (red, yellow, green, cyan, blue,
/// magenta), bright when it is light.
fn to_16(r: u8, g: u8, b: u8) -> Color {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let chroma = max - min;
    let lightness = (u16::from(max) + u16::from(min)) / 2;
    if chroma < 40 {
        return match lightness {
            0..64 => Color::Black,
            64..140 => Color::DarkGray,
            140..210 => Color::Gray,
            _ => Color::White,
        };
    }
    let (r, g, b, c) = (f32::from(r), f32::from(g), f32::from(b), f32::from(chroma));
    let max = f32::from(max);
    let sector = if max == r {
        ((g - b) / c).rem_euclid(6.0)
    } else if max == g {
        (b - r) / c + 2.0
    } else {
        (r - g) / c + 4.0
    };
    // Sectors of 60 degrees centred on each hue; a hue exactly between two takes the later.
    let light = lightness > 150 || max >= 230.0;
    match ((sector + 0.5).floor() as i32).rem_euclid(6) {
        0 if light => Color::LightRed,
        0 => Color::Red,
        1 if light => Color::LightYellow,
        1 => Color::Yellow,
        2 if light => Color::LightGreen,
        2 => Color::Green,
        3 if light => Color::LightCyan,
        3 => Color::Cyan,
        4 if light => Color::LightBlue,
        4 => Color::Blue,
        _ if light => Color::LightMagenta,
        _ => Color::Magenta,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse() {
        assert_eq!(parse("#ff8000"), Ok(Color::Rgb(255, 128, 0)));
        assert_eq!(parse("#f80"), Ok(Color::Rgb(255, 136, 0)));
        assert_eq!(parse("light-blue"), Ok(Color::LightBlue));
        assert_eq!(parse("DarkGray"), Ok(Color::DarkGray));
        assert_eq!(parse("238"), Ok(Color::Indexed(238)));
        assert!(parse("#12345").is_err());
        assert!(
            parse("mauve")
                .expect_err("unknown")
                .contains("unknown colour 'mauve'")
        );
    }

    #[test]
    fn rgb_maps_down_to_the_nearest_colour() {
        assert_eq!(
            ColorMode::Ansi256.map(Color::Rgb(255, 0, 0)),
            Some(Color::Indexed(196))
        );
        assert_eq!(
            ColorMode::Ansi256.map(Color::Rgb(128, 128, 128)),
            Some(Color::Indexed(244))
        );
        assert_eq!(
            ColorMode::Ansi16.map(Color::Rgb(250, 10, 10)),
            Some(Color::LightRed)
        );
        assert_eq!(
            ColorMode::Ansi16.map(Color::Indexed(34)),
            Some(Color::Green)
        );
        // Soft theme colours keep their kind: a pastel cyan, a muted red, a pale grey.
        assert_eq!(
            ColorMode::Ansi16.map(Color::Rgb(0x88, 0xc0, 0xd0)),
            Some(Color::LightCyan)
        );
        assert_eq!(
            ColorMode::Ansi16.map(Color::Rgb(0xbf, 0x61, 0x6a)),
            Some(Color::Red)
        );
        assert_eq!(
            ColorMode::Ansi16.map(Color::Rgb(0xd8, 0xde, 0xe9)),
            Some(Color::White)
        );
        assert_eq!(
            ColorMode::Ansi16.map(Color::Rgb(0x2e, 0x34, 0x40)),
            Some(Color::Black)
        );
        assert_eq!(ColorMode::None.map(Color::Red), None);
        assert_eq!(
            ColorMode::TrueColor.map(Color::Rgb(1, 2, 3)),
            Some(Color::Rgb(1, 2, 3))
        );
    }

    #[test]
    fn no_color_wins_over_everything() {
        let env = |k: &str| match k {
            "NO_COLOR" => Some("1".to_string()),
            "COLORTERM" => Some("truecolor".to_string()),
            _ => None,
        };
        assert_eq!(ColorMode::detect(env), ColorMode::None);
        let env = |k: &str| (k == "TERM").then(|| "xterm-256color".to_string());
        assert_eq!(ColorMode::detect(env), ColorMode::Ansi256);
        assert_eq!(ColorMode::detect(|_| None), ColorMode::Ansi16);
    }
}
