//! The alerts list (`!`): every active alert, worst first, with since when it stands, how often
//! it was raised this session, and whether it fires, is clearing, or is silenced until when.
//! Messages are wrapped, never cut.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::Ctx;
use crate::action::Action;
use crate::format;
use flashsale_monitor::Severity;

pub struct AlertsOverlay<'a> {
    pub ctx: Ctx<'a>,
    pub selected: usize,
}

impl AlertsOverlay<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let k = |a| self.ctx.keymap.keys(a);
        // Over every pane, between the header and the footer, which stay.
        let popup = Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(2),
            ..area
        };
        frame.render_widget(Clear, popup);
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .title(Line::styled(
                format!(" Alerts ({}) ", s.alerts.len()),
                t.title_focused,
            ))
            .title_bottom(Line::styled(
                format!(
                    " {} silence  {} acknowledge oversells  {} closes ",
                    k(Action::Silence),
                    k(Action::Acknowledge),
                    k(Action::Back),
                ),
                t.muted,
            ))
            .border_style(t.border_focused)
            .style(t.popup);
        let inner = block.inner(popup);
        frame.render_widget(block, popup);
        let w = usize::from(inner.width.max(1));
        if s.alerts.is_empty() {
            let text = Line::styled("no alerts: every rule is quiet", t.muted);
            frame.render_widget(Paragraph::new(text), inner);
            return;
        }
        let selected = self.selected.min(s.alerts.len() - 1);
        let mut lines: Vec<Line> = Vec::new();
        let mut selected_from = 0;
        for (i, a) in s.alerts.iter().enumerate() {
            if i == selected {
                selected_from = lines.len();
            }
            let style = if a.severity == Severity::Critical {
                t.critical
            } else {
                t.warn
            };
            let word = match a.severity {
                Severity::Critical => "CRITICAL",
                Severity::Warning => "warning",
            };
            let mut facts = Vec::new();
            if let Some(r) = s.alert_book.records.get(&a.key) {
                let age = (s.wall - r.since).to_std().unwrap_or_default();
                facts.push(format!(
                    "since {} ({} ago)",
                    s.local(r.since).format("%H:%M:%S"),
                    format::age(age)
                ));
                facts.push(format!("raised {}×", r.raised));
            }
            facts.push(match s.alert_book.silenced.get(&a.key) {
                Some(sil) if sil.until > s.now => {
                    format!("silenced until {}", s.local(sil.until_wall).format("%H:%M"))
                }
                _ if s.alert_clearing.contains_key(&a.key) => "clearing".into(),
                _ => "firing".into(),
            });
            let marker = if i == selected { "▶ " } else { "  " };
            let head = format!("{word} · {}", facts.join(" · "));
            let head_style = if i == selected { t.selected } else { style };
            for (j, l) in format::wrap(&head, w.saturating_sub(2))
                .into_iter()
                .enumerate()
            {
                let lead = if j == 0 { marker } else { "  " };
                lines.push(Line::styled(format!("{lead}{l}"), head_style));
            }
            for l in format::wrap(&a.message, w.saturating_sub(4)) {
                lines.push(Line::styled(format!("    {l}"), t.popup));
            }
        }
        // Scrolled just enough to show the selected alert's first lines.
        let room = usize::from(inner.height);
        let scroll = (selected_from + 2).saturating_sub(room);
        let scroll = u16::try_from(scroll).unwrap_or(u16::MAX);
        frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
    }
}
