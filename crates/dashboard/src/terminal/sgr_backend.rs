//! The backend frames are drawn through: crossterm's for everything but the cells themselves.
//! crossterm writes the 16 ANSI colours as indices of the 256-colour palette (`38;5;1` for
//! red), which a terminal without that palette (the Linux console, old xterms, some serial
//! consoles) cannot show, so `--color 16` must mean SGR 30-37 and 90-97 (backgrounds 40-47 and
//! 100-107). Here each colour is written the way its kind asks: one of the 16 as its SGR code, a
//! palette index as `38;5;N`, an RGB value as `38;2;R;G;B`. A change of style is written whole
//! after a reset (`0`): a few bytes more than a diff of attributes, and nothing can be left on.

use std::fmt::Write as _;
use std::io::{self, Write};

use crossterm::cursor::MoveTo;
use crossterm::queue;
use ratatui::backend::{Backend, ClearType, CrosstermBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use ratatui::style::{Color, Modifier};

/// crossterm's backend with cells written as described in the module.
pub struct SgrBackend<W: Write> {
    inner: CrosstermBackend<W>,
}

impl<W: Write> SgrBackend<W> {
    pub fn new(writer: W) -> Self {
        Self {
            inner: CrosstermBackend::new(writer),
        }
    }

    /// Where escape sequences of our own go (synchronized updates): straight to the writer.
    pub fn writer_mut(&mut self) -> &mut impl Write {
        &mut self.inner
    }
}

/// The SGR code of one of the 16 colours as a foreground (a background is 10 more).
fn ansi16(color: Color) -> Option<u8> {
    Some(match color {
        Color::Black => 30,
        Color::Red => 31,
        Color::Green => 32,
        Color::Yellow => 33,
        Color::Blue => 34,
        Color::Magenta => 35,
        Color::Cyan => 36,
        Color::Gray => 37,
        Color::DarkGray => 90,
        Color::LightRed => 91,
        Color::LightGreen => 92,
        Color::LightYellow => 93,
        Color::LightBlue => 94,
        Color::LightMagenta => 95,
        Color::LightCyan => 96,
        Color::White => 97,
        _ => return None,
    })
}

fn push_color(out: &mut String, color: Color, background: bool) {
    let shift = if background { 10 } else { 0 };
    match color {
        Color::Reset => {}
        Color::Indexed(i) => {
            let _ = write!(out, ";{};5;{i}", 38 + shift);
        }
        Color::Rgb(r, g, b) => {
            let _ = write!(out, ";{};2;{r};{g};{b}", 38 + shift);
        }
        named => {
            if let Some(code) = ansi16(named) {
                let _ = write!(out, ";{}", code + shift);
            }
        }
    }
}

/// The escape sequence that sets exactly this style, from a reset.
pub fn sgr(fg: Color, bg: Color, modifier: Modifier) -> String {
    let mut out = String::from("\x1b[0");
    for (m, code) in [
        (Modifier::BOLD, 1),
        (Modifier::DIM, 2),
        (Modifier::ITALIC, 3),
        (Modifier::UNDERLINED, 4),
        (Modifier::SLOW_BLINK, 5),
        (Modifier::RAPID_BLINK, 6),
        (Modifier::REVERSED, 7),
        (Modifier::HIDDEN, 8),
        (Modifier::CROSSED_OUT, 9),
    ] {
        if modifier.contains(m) {
            let _ = write!(out, ";{code}");
        }
    }
    push_color(&mut out, fg, false);
    push_color(&mut out, bg, true);
    out.push('m');
    out
}

impl<W: Write> Backend for SgrBackend<W> {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        let w = &mut self.inner;
        let mut style: Option<(Color, Color, Modifier)> = None;
        let mut last: Option<Position> = None;
        for (x, y, cell) in content {
            if !matches!(last, Some(p) if x == p.x + 1 && y == p.y) {
                queue!(w, MoveTo(x, y))?;
            }
            last = Some(Position { x, y });
            let wanted = (cell.fg, cell.bg, cell.modifier);
            if style != Some(wanted) {
                w.write_all(sgr(cell.fg, cell.bg, cell.modifier).as_bytes())?;
                style = Some(wanted);
            }
            w.write_all(cell.symbol().as_bytes())?;
        }
        w.write_all(b"\x1b[0m")
    }

    fn append_lines(&mut self, n: u16) -> io::Result<()> {
        self.inner.append_lines(n)
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        self.inner.hide_cursor()
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        self.inner.show_cursor()
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        self.inner.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.inner.set_cursor_position(position)
    }

    fn clear(&mut self) -> io::Result<()> {
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner.clear_region(clear_type)
    }

    fn size(&self) -> io::Result<Size> {
        self.inner.size()
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.inner.window_size()
    }

    fn flush(&mut self) -> io::Result<()> {
        Backend::flush(&mut self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_16_colours_are_sgr_codes_not_palette_indices() {
        assert_eq!(
            sgr(Color::Red, Color::Reset, Modifier::empty()),
            "\x1b[0;31m"
        );
        assert_eq!(
            sgr(Color::Black, Color::LightCyan, Modifier::BOLD),
            "\x1b[0;1;30;106m"
        );
        assert_eq!(
            sgr(Color::White, Color::Gray, Modifier::empty()),
            "\x1b[0;97;47m"
        );
        assert_eq!(
            sgr(Color::Indexed(208), Color::Rgb(1, 2, 3), Modifier::REVERSED),
            "\x1b[0;7;38;5;208;48;2;1;2;3m"
        );
        assert_eq!(
            sgr(Color::Reset, Color::Reset, Modifier::empty()),
            "\x1b[0m"
        );
    }

    #[test]
    fn cells_are_written_with_one_style_change_per_run_and_a_reset_at_the_end() {
        let mut out = Vec::new();
        let red = Cell::new("a").set_fg(Color::Red).clone();
        let plain = Cell::new("c");
        let cells = [(0, 0, &red), (1, 0, &red), (2, 0, &plain), (0, 1, &plain)];
        SgrBackend::new(&mut out)
            .draw(cells.into_iter())
            .expect("draw into a Vec");
        let out = String::from_utf8(out).expect("utf-8");
        assert_eq!(out, "\x1b[1;1H\x1b[0;31maa\x1b[0mc\x1b[2;1Hc\x1b[0m");
    }
}
