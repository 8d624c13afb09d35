//! The confirm dialog that stands before every write the user did not already say yes to.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::Ctx;
use crate::action::Action;
use crate::format;
use crate::state::Confirm;

pub struct ConfirmDialog<'a> {
    pub ctx: Ctx<'a>,
    pub confirm: &'a Confirm,
}

impl ConfirmDialog<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let t = self.ctx.theme;
        let width = area.width.saturating_sub(4).min(70);
        let inner_w = width.saturating_sub(2).max(1) as usize;
        // Wrapped here, not by the paragraph, so that the height counts the rows the words
        // really take and the yes/no line is never pushed out of the box.
        let text: Vec<String> = self
            .confirm
            .lines
            .iter()
            .flat_map(|l| format::wrap(l, inner_w))
            .collect();
        let height = (text.len() as u16 + 4).min(area.height);
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
        let mut lines: Vec<Line> = text.into_iter().map(|l| Line::styled(l, t.popup)).collect();
        let k = |a| self.ctx.keymap.keys(a);
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled(format!("{}/enter", k(Action::Confirm)), t.key),
            Span::styled(" yes   ", t.popup),
            Span::styled(format!("{}/esc", k(Action::Deny)), t.key),
            Span::styled(" no", t.popup),
        ]));
        frame.render_widget(Paragraph::new(lines).block(block), popup);
    }
}
