//! Events: the last things that happened (bursts, reconnects, errors, alerts), newest at the
//! bottom, each with its time and a level word.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Ctx;
use crate::format;
use crate::state::{Level, Pane};

pub struct EventsPane<'a> {
    pub ctx: Ctx<'a>,
}

impl EventsPane<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let mut extra = Vec::new();
        if let Some(note) = s.log.filter.note() {
            extra.push(Span::styled(format!(" {note} "), t.muted));
        }
        if s.log.scroll > 0 {
            extra.push(Span::styled(format!(" ↑{} ", s.log.scroll), t.muted));
        }
        let block = self.ctx.block(Pane::Events, "Events", extra);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let h = inner.height as usize;
        let shown: Vec<_> = s.log.shown().collect();
        let end = shown.len().saturating_sub(s.log.scroll);
        let start = end.saturating_sub(h);
        let w = inner.width as usize;
        let lines: Vec<Line> = shown[start..end]
            .iter()
            .map(|e| {
                let style = match e.level {
                    Level::Info => t.text,
                    Level::Ok => t.ok,
                    Level::Warn => t.warn,
                    Level::Error => t.critical,
                };
                let time = s.local(e.at).format("%H:%M:%S ").to_string();
                let word = format!("{:<5} ", e.level.word());
                let room = w.saturating_sub(time.len() + word.len());
                Line::from(vec![
                    Span::styled(time, t.muted),
                    Span::styled(word, style),
                    Span::styled(format::fit(&e.text, room), style),
                ])
            })
            .collect();
        if lines.is_empty() {
            let text = match s.log.filter.note() {
                Some(_) if !s.log.entries.is_empty() => format!(
                    "nothing at this level ({} steps to every level)",
                    self.ctx.keymap.keys(crate::action::Action::EventLevel)
                ),
                _ => "nothing yet".into(),
            };
            frame.render_widget(Paragraph::new(Line::styled(text, t.muted)), inner);
        } else {
            frame.render_widget(Paragraph::new(lines), inner);
        }
    }
}
