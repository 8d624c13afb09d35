//! The burst list (`B`): the bursts fired in this session, newest first, one row each (when,
//! target, strategy, purchases, units sold, p99, audit verdict), and the selected one's full
//! report (`enter`): the text `flashsale burst` prints, with its percentiles, histogram and
//! audit. Numbers are never cut: the product name gives way first. The status line is under
//! the frame, so its notice (where `w` saved, or why not) is shown at the frame's foot.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::Ctx;
use crate::action::Action;
use crate::format;
use crate::state::{BurstRecord, Level};

pub struct BurstHistoryOverlay<'a> {
    pub ctx: Ctx<'a>,
    pub selected: usize,
    pub report: bool,
    pub scroll: u16,
}

/// Over every pane, between the header row and the footer, which stay.
fn popup(screen: Rect) -> Rect {
    Rect {
        y: screen.y + 1,
        height: screen.height.saturating_sub(2),
        ..screen
    }
}

/// The list's rows inside the frame, below its column heading.
fn rows_area(screen: Rect) -> Rect {
    let inner = Block::bordered().inner(popup(screen));
    Rect {
        y: inner.y + 1,
        height: inner.height.saturating_sub(1),
        ..inner
    }
}

/// The first row shown: just enough scrolled to show the selected one.
fn first_shown(rows: u16, selected: usize) -> usize {
    (selected + 1).saturating_sub(usize::from(rows.max(1)))
}

/// Whether screen line `y` is inside the list's frame (a click elsewhere closes it).
pub fn inside(screen: Rect, y: u16) -> bool {
    let p = popup(screen);
    y >= p.y && y < p.y + p.height
}

/// The burst (index in the list) whose row is at screen line `y`, if any.
pub fn row_at(screen: Rect, selected: usize, len: usize, y: u16) -> Option<usize> {
    let area = rows_area(screen);
    if y < area.y || y >= area.y + area.height {
        return None;
    }
    let i = first_shown(area.height, selected) + usize::from(y - area.y);
    (i < len).then_some(i)
}

/// How far the report of `r` scrolls on `screen`: to its last line at the bottom.
pub fn scroll_max(screen: Rect, r: &BurstRecord) -> u16 {
    let inner = Block::bordered().inner(popup(screen));
    let total = wrapped(&r.report.text(), usize::from(inner.width)).len();
    u16::try_from(total)
        .unwrap_or(u16::MAX)
        .saturating_sub(inner.height)
}

/// The report's lines as `flashsale burst` prints them; one wider than `width` (the audit's,
/// at 80 columns) goes on over more lines, indented, never cut.
fn wrapped(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.width() <= width {
            out.push(line.to_string());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let pad = " ".repeat(indent);
        let more = " ".repeat(indent + 2);
        for (i, part) in format::wrap(line, width.saturating_sub(indent + 2))
            .into_iter()
            .enumerate()
        {
            out.push(format!("{}{part}", if i == 0 { &pad } else { &more }));
        }
    }
    out
}

/// The audit in a word or a few: `OK`, `OVERSOLD by 38`, `not audited`.
fn verdict(r: &BurstRecord) -> (String, bool) {
    match &r.report.audit {
        Some(a) => (a.verdict(), a.ok),
        None => ("not audited".into(), false),
    }
}

impl BurstHistoryOverlay<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let k = |a| self.ctx.keymap.keys(a);
        let popup = popup(area);
        frame.render_widget(Clear, popup);
        let record = s.burst.listed(self.selected);
        let (title, hints) = match (self.report, record) {
            (true, Some(r)) => (
                format!(
                    " Burst of {} on {} (#{}) ",
                    s.local(r.at).format("%H:%M:%S"),
                    r.request.product_name,
                    r.request.product_id,
                ),
                format!(
                    " ↑↓ scroll  {} save  {} back to the list ",
                    k(Action::Export),
                    k(Action::Back)
                ),
            ),
            _ => (
                format!(" Bursts fired here ({}) ", s.burst.history.len()),
                format!(
                    " {} report  {} save  {} closes ",
                    k(Action::Activate),
                    k(Action::Export),
                    k(Action::Back)
                ),
            ),
        };
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .title(Line::styled(
                format::fit(&title, usize::from(popup.width.saturating_sub(4))),
                t.title_focused,
            ))
            .title_bottom(Line::styled(hints, t.muted))
            .border_style(t.border_focused)
            .style(t.popup);
        let mut inner = block.inner(popup);
        frame.render_widget(block, popup);
        // The status line is under the frame: what `w` did is told here, whole.
        if let Some(n) = &s.notice {
            // Paths are broken across lines, never cut (two of them can take six lines).
            let lines = format::wrap_whole(&n.text, usize::from(inner.width));
            let h = u16::try_from(lines.len().min(6)).unwrap_or(6);
            inner.height = inner.height.saturating_sub(h);
            let at = Rect {
                y: inner.y + inner.height,
                height: h,
                ..inner
            };
            let style = match n.level {
                Level::Error => t.critical,
                Level::Warn => t.warn,
                Level::Ok => t.ok,
                Level::Info => t.info,
            };
            let lines: Vec<Line> = lines.into_iter().map(|l| Line::styled(l, style)).collect();
            frame.render_widget(Paragraph::new(lines), at);
        }
        match (self.report, record) {
            (true, Some(r)) => {
                let text = r.report.text();
                let lines: Vec<Line> = wrapped(&text, usize::from(inner.width))
                    .into_iter()
                    .map(|l| Line::styled(l, t.popup))
                    .collect();
                // Never scrolled past its last line.
                let total = u16::try_from(lines.len()).unwrap_or(u16::MAX);
                let scroll = self.scroll.min(total.saturating_sub(inner.height));
                frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
            }
            _ if s.burst.history.is_empty() => {
                let text = Line::styled(
                    format!(
                        "no burst finished yet in this session ({} fires one)",
                        k(Action::Fire)
                    ),
                    t.muted,
                );
                frame.render_widget(Paragraph::new(text), inner);
            }
            _ => self.list(frame, inner, area),
        }
    }

    fn list(&self, frame: &mut Frame, inner: Rect, screen: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let w = usize::from(inner.width);
        let rows = rows_area(screen);
        let n = |v: u64| format::count(v.min(i64::MAX as u64) as i64);
        // Every figure of every row, so each column is as wide as its widest: never cut.
        let cells: Vec<[String; 5]> = s
            .burst
            .history
            .iter()
            .rev()
            .map(|r| {
                [
                    s.local(r.at).format("%H:%M:%S").to_string(),
                    r.report
                        .strategy
                        .map(|st| st.to_string())
                        .unwrap_or_else(|| "server's".into()),
                    n(r.report.attempts),
                    n(r.report.units_purchased),
                    format::ms(r.report.latency_ms.p99),
                ]
            })
            .collect();
        let names = ["time", "strategy", "buys", "sold", "p99 ms"];
        let widths: Vec<usize> = (0..5)
            .map(|c| {
                cells
                    .iter()
                    .map(|row| row[c].chars().count())
                    .chain([names[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let columns = |row: [&str; 5]| {
            let mut out = String::new();
            for (c, v) in row.iter().enumerate() {
                // Text left, figures right.
                if c < 2 {
                    out.push_str(&format!("{v:<width$} ", width = widths[c]));
                } else {
                    out.push_str(&format!("{v:>width$} ", width = widths[c]));
                }
            }
            out
        };
        let fixed: usize = widths.iter().map(|w| w + 1).sum();
        let heading = columns(names) + "target · audit";
        let mut lines = vec![Line::styled(format::fit(&heading, w), t.muted)];
        let first = first_shown(rows.height, self.selected);
        let selected = self.selected.min(s.burst.history.len().saturating_sub(1));
        for (i, row) in cells.iter().enumerate().skip(first) {
            let Some(r) = s.burst.listed(i) else { break };
            let head = columns([&row[0], &row[1], &row[2], &row[3], &row[4]]);
            let (verdict, ok) = verdict(r);
            let target = format!("{} (#{})", r.request.product_name, r.request.product_id);
            // The verdict whole; the product name gives way (to `#3` at the least).
            let room = w.saturating_sub(fixed + verdict.chars().count() + 3);
            let target = if room >= 6 {
                format::fit(&target, room)
            } else {
                format!("#{}", r.request.product_id)
            };
            let style = |st| if i == selected { t.selected } else { st };
            lines.push(Line::from(vec![
                Span::styled(head, style(t.popup)),
                Span::styled(target, style(t.popup)),
                Span::styled(" · ", style(t.muted)),
                Span::styled(
                    verdict,
                    style(if ok { t.verdict_ok } else { t.verdict_bad }),
                ),
            ]));
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }
}
