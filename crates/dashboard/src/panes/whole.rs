//! A pane read whole (`v`; Enter on Events). Every pane fits its text to its room, and at
//! 80x24 that cuts messages (`burst finished: OVERSOLD by 100, L…`), the pool's states and the
//! banner's list of alerts. Rather than a reading view written per pane, the pane is drawn again
//! off screen at the narrowest width at which it cuts nothing (tried up to 250 columns) and as
//! tall as it can use, and that drawing is shown here wrapped to the screen and scrollable, the
//! active alerts listed whole above it. What the pane shows and what it shows whole can
//! therefore never disagree.

use ratatui::Frame;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::{Ctx, draw_pane};
use crate::state::Pane;
use flashsale_monitor::Severity;

/// The widths a pane is tried at, after the screen's own; the widest dashboard is 250 columns.
const WIDTHS: [u16; 4] = [120, 160, 200, 250];
/// The height a pane is drawn at: room for a long log or 60 products and more.
const HEIGHT: u16 = 200;

pub struct WholeOverlay<'a> {
    pub ctx: Ctx<'a>,
    pub pane: Pane,
    pub scroll: u16,
}

impl WholeOverlay<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let t = self.ctx.theme;
        let (title, body) = pane_whole(self.ctx, self.pane, area.width.saturating_sub(2));
        let mut lines = alert_lines(self.ctx);
        if !lines.is_empty() {
            lines.push(Line::default());
        }
        lines.extend(body);
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .title(Line::styled(format!(" {title} (whole) "), t.title_focused))
            .title_bottom(Line::styled(
                format!(
                    " ↑↓ scroll · {} or {} closes ",
                    self.ctx.keymap.keys(crate::action::Action::Whole),
                    self.ctx.keymap.keys(crate::action::Action::Back)
                ),
                t.muted,
            ))
            .border_style(t.border_focused)
            .style(t.popup);
        let inner = block.inner(area);
        let lines = wrap(lines, inner.width as usize);
        let total = u16::try_from(lines.len()).unwrap_or(u16::MAX);
        let scroll = self.scroll.min(total.saturating_sub(inner.height));
        frame.render_widget(Clear, area);
        frame.render_widget(block, area);
        frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
    }
}

/// `lines` broken into rows of at most `width` columns, at any character (a table row wraps
/// where it must; a word wrap would also move the columns), so the rows can be counted.
fn wrap(lines: Vec<Line<'static>>, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut out = Vec::new();
    for line in lines {
        let mut row: Vec<Span<'static>> = Vec::new();
        let mut used = 0;
        for span in line.spans {
            let mut piece = String::new();
            for c in span.content.chars() {
                let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                if used + w > width {
                    row.push(Span::styled(std::mem::take(&mut piece), span.style));
                    out.push(Line::from(std::mem::take(&mut row)));
                    used = 0;
                }
                piece.push(c);
                used += w;
            }
            row.push(Span::styled(piece, span.style));
        }
        out.push(Line::from(row));
    }
    out
}

/// Every active alert, whole, worst first as the banner orders them.
fn alert_lines(ctx: Ctx<'_>) -> Vec<Line<'static>> {
    let t = ctx.theme;
    ctx.state
        .alerts
        .iter()
        .map(|a| {
            let style = if a.severity == Severity::Critical {
                t.critical
            } else {
                t.warn
            };
            let mut spans = vec![Span::styled(format!("⚠ {}", a.message), style)];
            if ctx.state.alert_clearing.contains_key(&a.key) {
                spans.push(Span::styled(" (clearing)", t.muted));
            }
            if ctx.state.alert_book.is_silenced(&a.key, ctx.state.now) {
                spans.push(Span::styled(" (silenced)", t.muted));
            }
            Line::from(spans)
        })
        .collect()
}

/// The pane drawn off screen, boxed (the wide arrangement: the most detail), `width` wide.
fn render(ctx: Ctx<'_>, pane: Pane, width: u16) -> Buffer {
    let ctx = Ctx { wide: true, ..ctx };
    let Ok(mut terminal) = Terminal::new(TestBackend::new(width, HEIGHT));
    let Ok(_) = terminal.draw(|f| draw_pane(ctx, pane, f, f.area()));
    terminal.backend().buffer().clone()
}

/// The pane's title (its top border's text) and its rows, styles kept, trailing blanks gone.
fn rows(buf: &Buffer) -> (String, Vec<Line<'static>>) {
    let area = buf.area;
    let row = |y: u16, from: u16, to: u16| -> Vec<(String, Style)> {
        let mut cells: Vec<(String, Style)> = Vec::new();
        let mut skip = 0;
        for x in from..to {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let cell = &buf[(x, y)];
            skip = cell.symbol().width().saturating_sub(1);
            match cells.last_mut() {
                Some((text, style)) if *style == cell.style() => text.push_str(cell.symbol()),
                _ => cells.push((cell.symbol().to_string(), cell.style())),
            }
        }
        cells
    };
    let title: String = row(0, 0, area.width)
        .into_iter()
        .map(|(text, _)| text)
        .collect::<String>()
        .replace(['─', '╭', '╮', '│'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut lines: Vec<Line<'static>> = (1..area.height.saturating_sub(1))
        .map(|y| {
            let mut spans = row(y, 1, area.width.saturating_sub(1));
            while let Some((text, _)) = spans.last_mut() {
                let trimmed = text.trim_end().len();
                if trimmed > 0 {
                    text.truncate(trimmed);
                    break;
                }
                spans.pop();
            }
            Line::from(
                spans
                    .into_iter()
                    .map(|(text, style)| Span::styled(text, style))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    while lines.last().is_some_and(|l| l.width() == 0) {
        lines.pop();
    }
    (title, lines)
}

/// The pane at the narrowest width, from `screen` on, at which nothing in it is cut (`…`).
pub fn pane_whole(ctx: Ctx<'_>, pane: Pane, screen: u16) -> (String, Vec<Line<'static>>) {
    let widths = std::iter::once(screen.max(20)).chain(WIDTHS.into_iter().filter(|w| *w > screen));
    let mut last = None;
    for width in widths {
        let (title, lines) = rows(&render(ctx, pane, width));
        let cut = lines
            .iter()
            .any(|l| l.spans.iter().any(|s| s.content.contains('…')));
        if !cut {
            return (title, lines);
        }
        last = Some((title, lines));
    }
    last.unwrap_or_default()
}
