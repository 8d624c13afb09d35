//! The limits prompt (`u`): the typed user id and address, what is wrong with them, and the
//! windows the last lookup found (count, limit, remaining, time to reset), with where they
//! come from (Redis, or this process's in-process limiter, said to be per process).
//!
//! ```text
//!  ╭ Rate limits ───────────────────────────────────────────╮
//!  │ user [IP]: 42 10.0.0.1▏                                 │
//!  │ enter looks up                                         │
//!  │                                                        │
//!  │ user 42: 3 of 5 used, 2 left, resets in 54.2 s (key)   │
//!  │ ip 10.0.0.1: 3 of 10 used, 7 left, resets in ...       │
//!  │ from Redis redis://... · as of 12:34:56                │
//!  ╰ enter look up  ctrl+r reset  esc closes ───────────────╯
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::Ctx;
use crate::action::Action;
use crate::format;
use flashsale_core::ratelimit::windows::ip_label;

pub struct LimitsOverlay<'a> {
    pub ctx: Ctx<'a>,
}

impl LimitsOverlay<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let p = &s.limits;
        let width = area.width.saturating_sub(4).min(96);
        let w = usize::from(width.saturating_sub(2).max(1));
        let prompt = "user [IP]: ";
        // The end of the input, when it is longer than the line.
        let room = w.saturating_sub(prompt.len() + 1);
        let typed: Vec<char> = p.input.chars().collect();
        let shown: String = typed[typed.len().saturating_sub(room)..].iter().collect();
        let mut lines = vec![Line::from(vec![
            Span::styled(prompt, t.key),
            Span::styled(shown, t.input),
            Span::styled("▏", t.input),
        ])];
        match (&p.error, p.pending) {
            (Some(e), _) => lines.extend(
                format::wrap(e, w)
                    .into_iter()
                    .map(|l| Line::styled(l, t.input_error)),
            ),
            (None, true) => lines.push(Line::styled("looking up…", t.muted)),
            (None, false) => lines.push(Line::styled(
                "a user id, then optionally an IP address: 42 10.0.0.1",
                t.muted,
            )),
        }
        lines.push(Line::raw(""));
        match &p.found {
            None => lines.push(Line::styled("nothing looked up yet", t.muted)),
            Some(f) => {
                let mut text = Vec::new();
                match &f.windows {
                    None => text.push(("rate limiting is off: no windows".to_string(), t.muted)),
                    Some(ws) => {
                        let style = |remaining: u32| if remaining == 0 { t.warn } else { t.text };
                        text.push((
                            ws.user.line(&format!("user {}", f.who.user)),
                            style(ws.user.remaining()),
                        ));
                        if let (Some(ip), Some((bucket, ipw))) = (f.who.ip, &ws.ip) {
                            text.push((ipw.line(&ip_label(ip, bucket)), style(ipw.remaining())));
                        }
                    }
                }
                let when = p
                    .found_at
                    .map(|at| format!(" · as of {}", s.local(at).format("%H:%M:%S")))
                    .unwrap_or_default();
                text.push((format!("from {}{when}", f.source), t.muted));
                if f.per_process {
                    text.push((
                        "per process: these are this dashboard's counts alone; a server or \
                         another flashsale counts in windows of its own"
                            .into(),
                        t.warn,
                    ));
                }
                for (line, style) in text {
                    lines.extend(
                        format::wrap(&line, w)
                            .into_iter()
                            .map(|l| Line::styled(l, style)),
                    );
                }
            }
        }
        let height = (lines.len() as u16 + 2).min(area.height.saturating_sub(2));
        let popup = Rect::new(
            area.x + (area.width - width) / 2,
            area.y + (area.height.saturating_sub(height)) / 2,
            width,
            height,
        );
        frame.render_widget(Clear, popup);
        let k = |a| self.ctx.keymap.keys(a);
        let keys = if s.read_only {
            format!(
                " enter look up  {} closes · read-only: no reset ",
                k(Action::Back)
            )
        } else {
            format!(
                " enter look up  {} reset  {} closes ",
                k(Action::ResetLimits),
                k(Action::Back)
            )
        };
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .title(Line::styled(" Rate limits ", t.title_focused))
            .title_bottom(Line::styled(keys, t.muted))
            .border_style(t.border_focused)
            .style(t.popup);
        frame.render_widget(Paragraph::new(lines).block(block), popup);
    }
}
