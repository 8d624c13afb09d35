//! The connection pool: open, busy, idle and max connections, acquire waits over the last
//! minute (p50/p99), waiters and timeouts, and the server's own view (`pg_stat_activity` by
//! state); for SQLite, its writer and readers.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Ctx, kv};
use crate::format;
use crate::state::Pane;
use flashsale_core::config::BackendKind;

pub struct PoolPane<'a> {
    pub ctx: Ctx<'a>,
}

impl PoolPane<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        if !s.replicas.rows.is_empty() {
            return super::replicas::ReplicasPane { ctx: self.ctx }.draw(frame, area);
        }
        if s.over_api() {
            return self.over_api(frame, area);
        }
        let block = self
            .ctx
            .block(Pane::Pool, "Connection pool", self.ctx.freshness(&s.pool));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let Some(p) = &s.pool.value else {
            frame.render_widget(
                Paragraph::new(self.ctx.waiting(&s.pool)).wrap(Wrap { trim: true }),
                inner,
            );
            return;
        };
        let busy = p.status.size.saturating_sub(p.status.idle);
        let a = &p.acquire;
        let mut lines = Vec::new();
        let mut l1: Vec<Span> = Vec::new();
        l1.extend(kv(
            t,
            "open ",
            format!("{}/{}", p.status.size, p.status.max),
        ));
        l1.extend(kv(t, "  busy ", busy.to_string()));
        l1.extend(kv(t, "  idle ", p.status.idle.to_string()));
        lines.push(Line::from(l1));
        let mut l2: Vec<Span> = Vec::new();
        l2.extend(kv(t, "wait p50 ", format::ms(a.p50_ms)));
        l2.extend(kv(t, " p99 ", format::ms(a.p99_ms)));
        l2.push(Span::styled(" ms", t.muted));
        if self.ctx.wide {
            l2.push(Span::styled(
                format!("  max {} ms ({}/min)", format::ms(a.max_ms), a.count),
                t.muted,
            ));
        }
        lines.push(Line::from(l2));
        let waiting_style = if a.waiting >= s.thresholds.pool_waiters && a.waiting > 0 {
            t.warn
        } else {
            t.text
        };
        let timeout_style = if a.timeouts_window > 0 {
            t.critical
        } else {
            t.text
        };
        lines.push(Line::from(vec![
            Span::styled("waiting ", t.muted),
            Span::styled(a.waiting.to_string(), waiting_style),
            Span::styled("  timeouts ", t.muted),
            Span::styled(format!("{}", a.timeouts_window), timeout_style),
            Span::styled(
                if self.ctx.wide {
                    format!("/min, {} in all", a.timeouts_total)
                } else {
                    "/min".to_string()
                },
                t.muted,
            ),
        ]));
        match (&p.server, p.backend) {
            (Some(states), _) => {
                let mut spans = vec![Span::styled("server ", t.muted)];
                if states.is_empty() {
                    spans.push(Span::styled("no sessions", t.muted));
                }
                for (i, st) in states.iter().enumerate() {
                    if i > 0 {
                        spans.push(Span::raw(" "));
                    }
                    spans.push(Span::styled(format!("{} ", st.state), t.muted));
                    spans.push(Span::styled(st.count.to_string(), t.text));
                }
                lines.push(Line::from(spans));
            }
            (None, BackendKind::Sqlite) => {
                lines.push(Line::from(Span::styled("sqlite: no server view", t.muted)))
            }
            // Narrow: no room for the reason on this one row; the status line and the events
            // give it.
            (None, BackendKind::Postgres) => lines.push(Line::from(Span::styled(
                match p.server_error.as_deref() {
                    Some(e) if self.ctx.wide => format!("server view unavailable: {e}"),
                    _ => "server view unavailable".to_string(),
                },
                t.warn,
            ))),
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }

    /// Over the API there is no pool to read: the pane says so, and what the server's health
    /// report says of its database.
    fn over_api(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let block = self
            .ctx
            .block(Pane::Pool, "Connection pool", self.ctx.freshness(&s.health));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let mut lines = vec![
            Line::styled("needs direct database access:", t.info),
            Line::styled(super::NEEDS_DIRECT, t.info),
        ];
        match &s.health.value {
            Some(h) => lines.push(Line::from(vec![
                Span::styled("server's database ", t.muted),
                super::dependency(&self.ctx, &h.report.database, h.database_down_since),
            ])),
            None => lines.push(self.ctx.waiting(&s.health)),
        }
        if let Some(db) = s.conn.api.as_ref().and_then(|a| a.database.as_deref())
            && self.ctx.wide
        {
            lines.push(Line::styled(
                format!("restocks and the audit use {db}"),
                t.muted,
            ));
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
    }
}
