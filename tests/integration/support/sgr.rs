//! Reading `tmux capture-pane -e`: the pane's text with the SGR escape codes tmux emits for
//! each cell's attributes, parsed back into cells, so a test can ask what colour and
//! attributes a word on screen was drawn with (not only that it is there).

/// A colour as SGR names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Default,
    /// 0-15: the 16 ANSI colours (30-37, 90-97 / 40-47, 100-107).
    Ansi(u8),
    /// `38;5;N`, N from 16 (below, [`Color::Ansi`]).
    Indexed(u8),
    /// `38;2;R;G;B`
    Rgb(u8, u8, u8),
}

impl Color {
    /// Red or bright red as any encoding gives it.
    pub fn is_red(self) -> bool {
        match self {
            Color::Ansi(1 | 9) | Color::Indexed(160 | 196 | 167 | 203) => true,
            Color::Rgb(r, g, b) => r > 150 && g < 110 && b < 110,
            _ => false,
        }
    }
}

/// What one cell looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub fg: Color,
    pub bg: Color,
    pub bold: bool,
    pub reverse: bool,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            fg: Color::Default,
            bg: Color::Default,
            bold: false,
            reverse: false,
        }
    }
}

impl Style {
    /// The colour the cell's background shows (reverse video swaps them).
    pub fn shown_bg(&self) -> Color {
        if self.reverse { self.fg } else { self.bg }
    }

    /// The colour the cell's text shows.
    pub fn shown_fg(&self) -> Color {
        if self.reverse { self.bg } else { self.fg }
    }
}

/// One row of cells.
pub type Row = Vec<(char, Style)>;

fn apply(style: &mut Style, params: &[u16]) {
    let mut i = 0;
    if params.is_empty() {
        *style = Style::default();
    }
    while i < params.len() {
        let p = params[i];
        let extended = |i: &mut usize| -> Option<Color> {
            match params.get(*i + 1) {
                Some(5) => {
                    *i += 2;
                    // 0-15 of the 256 are the 16 ANSI colours (crossterm sends those so).
                    params.get(*i).map(|n| match *n as u8 {
                        n @ 0..=15 => Color::Ansi(n),
                        n => Color::Indexed(n),
                    })
                }
                Some(2) => {
                    *i += 4;
                    Some(Color::Rgb(
                        params[*i - 2] as u8,
                        params[*i - 1] as u8,
                        params[*i] as u8,
                    ))
                }
                _ => None,
            }
        };
        match p {
            0 => *style = Style::default(),
            1 => style.bold = true,
            22 => style.bold = false,
            7 => style.reverse = true,
            27 => style.reverse = false,
            30..=37 => style.fg = Color::Ansi((p - 30) as u8),
            90..=97 => style.fg = Color::Ansi((p - 90 + 8) as u8),
            39 => style.fg = Color::Default,
            40..=47 => style.bg = Color::Ansi((p - 40) as u8),
            100..=107 => style.bg = Color::Ansi((p - 100 + 8) as u8),
            49 => style.bg = Color::Default,
            38 => {
                if let Some(c) = extended(&mut i) {
                    style.fg = c;
                }
            }
            48 => {
                if let Some(c) = extended(&mut i) {
                    style.bg = c;
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// Parses `capture-pane -e -p` output into rows of styled cells. Attributes carry over from
/// one row to the next, as tmux emits them; other escape sequences are skipped.
pub fn parse(text: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut style = Style::default();
    for line in text.split('\n') {
        let mut row = Row::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\u{1b}' {
                row.push((c, style));
                continue;
            }
            if chars.peek() != Some(&'[') {
                chars.next();
                continue;
            }
            chars.next();
            let mut body = String::new();
            let mut end = None;
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    end = Some(c);
                    break;
                }
                body.push(c);
            }
            if end == Some('m') {
                let params: Vec<u16> = body
                    .split([';', ':'])
                    .filter(|p| !p.is_empty())
                    .filter_map(|p| p.parse().ok())
                    .collect();
                apply(&mut style, &params);
            }
        }
        rows.push(row);
    }
    rows
}

/// The text of a row.
pub fn text(row: &Row) -> String {
    row.iter().map(|(c, _)| *c).collect()
}

/// The first place `word` is on screen: its row's index and its cells' styles.
pub fn find<'a>(rows: &'a [Row], word: &str) -> Option<(usize, &'a [(char, Style)])> {
    let n = word.chars().count();
    rows.iter().enumerate().find_map(|(y, row)| {
        let chars: Vec<char> = row.iter().map(|(c, _)| *c).collect();
        let wanted: Vec<char> = word.chars().collect();
        (0..=chars.len().saturating_sub(n))
            .find(|&x| chars.len() >= n && chars[x..x + n] == wanted[..])
            .map(|x| (y, &row[x..x + n]))
    })
}

#[test]
fn sgr_codes_become_cell_styles() {
    let rows = parse(
        "a\u{1b}[1;37;41mOVER\u{1b}[0m b\n\u{1b}[38;5;196mx\u{1b}[39m\u{1b}[7my\u{1b}[48;5;3mz",
    );
    let (y, cells) = find(&rows, "OVER").expect("found");
    assert_eq!(y, 0);
    assert!(cells.iter().all(|(_, s)| s.bold && s.bg.is_red()));
    assert_eq!(rows[0][0].1, Style::default());
    assert_eq!(text(&rows[0]), "aOVER b");
    assert!(rows[1][0].1.fg.is_red());
    assert!(rows[1][1].1.reverse && rows[1][1].1.fg == Color::Default);
    assert_eq!(rows[1][2].1.bg, Color::Ansi(3), "48;5;3 is yellow");
}
