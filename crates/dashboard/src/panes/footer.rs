//! The footer: key hints generated from the keymap (or the editor's and the dialog's own keys
//! while they are open), as many as fit.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Ctx;
use crate::state::Overlay;

pub struct Footer<'a> {
    pub ctx: Ctx<'a>,
}

impl Footer<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let hints: Vec<(String, &str)> = if s.burst.editor.is_some() {
            vec![
                ("enter".into(), "apply"),
                ("esc".into(), "cancel"),
                ("↑↓".into(), "field"),
                ("←→".into(), "strategy"),
                ("ctrl+u".into(), "clear"),
            ]
        } else if matches!(s.overlay, Some(Overlay::Confirm(_))) {
            vec![("y".into(), "yes"), ("n".into(), "no")]
        } else {
            // `a` only while there is an oversell to acknowledge (the help always lists it).
            self.ctx.keymap.footer(|a| {
                s.offers(a) && (a != crate::action::Action::Acknowledge || !s.oversells.is_empty())
            })
        };
        let mut spans = vec![Span::raw(" ")];
        let mut used = 1usize;
        for (key, label) in hints {
            let w = key.chars().count() + label.chars().count() + 3;
            if used + w > area.width as usize {
                break;
            }
            used += w;
            spans.push(Span::styled(key, t.key));
            spans.push(Span::styled(format!(" {label}  "), t.muted));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)).style(t.base), area);
    }
}
