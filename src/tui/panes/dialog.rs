//! The confirm dialog that stands before every write the user did not already say yes to.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};

use super::Ctx;
use crate::tui::action::Action;
use crate::tui::state::Confirm;

pub struct ConfirmDialog<'a> {
    pub ctx: Ctx<'a>,
    pub confirm: &'a Confirm,
}

impl ConfirmDialog<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let t = self.ctx.theme;
        let width = area.width.saturating_sub(4).min(70);
        let inner_w = width.saturating_sub(2).max(1) as usize;
        let text_rows: usize = self
            .confirm
            .lines
            .iter()
            .map(|l| l.chars().count().div_ceil(inner_w).max(1))
            .sum();
        let height = (text_rows as u16 + 4).min(area.height);
        let popup = Rect::new(
            area.x + (area.width - width) / 2,
            area.y + (area.height - height) / 2,
            width,
            height,
        );
        frame.render_widget(Clear, popup);
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .title(Line::styled(
                format!(" {} ", self.confirm.title),
                t.title_focused,
            ))
            .border_style(t.warn)
            .style(t.popup);
        let mut lines: Vec<Line> = self
            .confirm
            .lines
            .iter()
            .map(|l| Line::styled(l.clone(), t.popup))
            .collect();
        let k = |a| self.ctx.keymap.keys(a);
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled(format!("{}/enter", k(Action::Confirm)), t.key),
            Span::styled(" yes   ", t.popup),
            Span::styled(format!("{}/esc", k(Action::Deny)), t.key),
            Span::styled(" no", t.popup),
        ]));
        frame.render_widget(
            Paragraph::new(lines).block(block).wrap(Wrap { trim: true }),
            popup,
        );
    }
}
