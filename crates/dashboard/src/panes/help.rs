//! The help overlay: every binding, generated from the keymap (so it shows remapped keys), in
//! two columns when one does not fit.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::Ctx;

/// `path` in `width` columns: its end kept (the file's name), `…` in front when cut.
fn fit_left(path: &str, width: usize) -> String {
    let n = path.chars().count();
    if n <= width {
        return path.to_string();
    }
    let keep = width.saturating_sub(1);
    let tail: String = path.chars().skip(n - keep).collect();
    format!("…{tail}")
}

pub struct HelpOverlay<'a> {
    pub ctx: Ctx<'a>,
}

impl HelpOverlay<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let t = self.ctx.theme;
        let rows = self.ctx.keymap.help(|a| self.ctx.state.offers(a));
        let key_w = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(4)
            + 2;
        // The log file's line, below the keys, when there is one.
        let log = self.ctx.state.log_file.as_deref();
        let extra = u16::from(log.is_some());
        let one_column = rows.len() as u16 + 2 + extra <= area.height;
        let columns = if one_column { 1 } else { 2 };
        // Rows that do not fit scroll (the arrows, the wheel): the bottom line says so.
        let fit = usize::from(area.height.saturating_sub(2 + extra)).max(1);
        let per_col_all = rows.len().div_ceil(columns);
        let scroll = self
            .ctx
            .state
            .help_scroll
            .min(per_col_all.saturating_sub(fit));
        let hidden = per_col_all > fit;
        let rows: Vec<(String, &str)> = if hidden {
            // Each column shows its own window of rows: column c holds rows c*per_col.. .
            let mut shown = Vec::new();
            for c in 0..columns {
                let col: Vec<_> = rows
                    .iter()
                    .skip(c * per_col_all)
                    .take(per_col_all)
                    .skip(scroll)
                    .take(fit)
                    .cloned()
                    .collect();
                let pad = fit - col.len();
                shown.extend(col);
                shown.extend(std::iter::repeat_n((String::new(), ""), pad));
            }
            shown
        } else {
            rows
        };
        let per_col = if hidden { fit } else { per_col_all };
        let width = area.width.min(if one_column { 60 } else { 80 });
        let height = (per_col as u16 + 2 + extra).min(area.height);
        let popup = Rect::new(
            area.x + (area.width - width) / 2,
            area.y + (area.height - height) / 2,
            width,
            height,
        );
        frame.render_widget(Clear, popup);
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .title(Line::styled(" Keys ", t.title_focused))
            // The header names the theme only when it is wide; here it is always named.
            .title(
                Line::styled(format!(" theme {} ", self.ctx.state.theme_name), t.muted)
                    .right_aligned(),
            )
            .title_bottom(Line::styled(
                if hidden {
                    " ↑↓ more · ? or esc closes "
                } else {
                    " ? or esc closes "
                },
                t.muted,
            ))
            .border_style(t.border_focused)
            .style(t.popup);
        let mut inner = block.inner(popup);
        frame.render_widget(block, popup);
        if let Some(path) = log {
            inner.height = inner.height.saturating_sub(1);
            let at = Rect {
                y: inner.y + inner.height,
                height: 1,
                ..inner
            };
            let label = format!("{:<key_w$}", "log");
            let room = usize::from(at.width).saturating_sub(key_w);
            let line = Line::from(vec![
                Span::styled(label, t.muted),
                Span::styled(fit_left(path, room), t.popup),
            ]);
            frame.render_widget(Paragraph::new(line), at);
        }
        let cols = Layout::horizontal(vec![Constraint::Fill(1); columns]).split(inner);
        for (c, chunk) in rows.chunks(per_col.max(1)).enumerate() {
            let Some(col) = cols.get(c) else { break };
            let w = col.width as usize;
            let lines: Vec<Line> = chunk
                .iter()
                .map(|(keys, help)| {
                    Line::from(vec![
                        Span::styled(format!("{keys:<key_w$}"), t.key),
                        Span::styled(
                            crate::format::fit(help, w.saturating_sub(key_w + 1)),
                            t.popup,
                        ),
                    ])
                })
                .collect();
            frame.render_widget(Paragraph::new(lines), *col);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fit_left;

    #[test]
    fn a_log_path_too_long_for_the_help_keeps_its_end_the_files_name() {
        let path = "/home/someone/.local/state/flashsale/flashsale.log";
        assert_eq!(fit_left(path, 60), path);
        let cut = fit_left(path, 20);
        assert_eq!(cut, "…hsale/flashsale.log");
        assert_eq!(cut.chars().count(), 20);
    }
}
