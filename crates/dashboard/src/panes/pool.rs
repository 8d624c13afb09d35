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
        if let Some(replica) = self.read_replica(usize::from(inner.width)) {
            // Four rows at 80x24: the replica's lag, the reason it is there, goes before the
            // server's session counts.
            if lines.len() >= usize::from(inner.height) {
                lines.pop();
            }
            lines.push(replica);
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }

    /// The read replica's row: its lag (warned past the threshold), or that it is down and the
    /// primary is read instead; `None` without a replica.
    fn read_replica(&self, width: usize) -> Option<Line<'static>> {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let Some(r) = &s.read_replica.value else {
            return s
                .read_replica
                .error
                .as_ref()
                .map(|e| Line::styled(format!("replica: {}", format::one_line(e)), t.warn));
        };
        // Each row in forms from the longest to the shortest, the longest that fits taken: its
        // figures (times, lag, bytes) are in every form, never cut.
        let host = host_port(&r.url);
        let fitting = |mut forms: Vec<Line<'static>>| {
            let shortest = forms.pop();
            forms.into_iter().find(|l| l.width() <= width).or(shortest)
        };
        if let Some(since) = r.down_since {
            let down = format!("replica DOWN since {}", s.local(since).format("%H:%M:%S"));
            return fitting(
                [
                    format!("read {down} ({host}), reading the primary"),
                    format!("read {down}, reading the primary"),
                    format!("{down}, primary read"),
                    down,
                ]
                .into_iter()
                .map(|text| Line::styled(text, t.critical))
                .collect(),
            );
        }
        if r.in_recovery == Some(false) {
            return Some(Line::styled("replica: not a standby", t.warn));
        }
        let figures: Vec<Span<'static>> = match (r.lag_ms, r.lag_bytes) {
            // Behind, with nothing replayed since it started: the bytes are all there is.
            (None, Some(bytes)) => vec![
                Span::styled("? s", t.warn),
                Span::styled(format!(" {}", format::bytes(bytes)), t.muted),
            ],
            (Some(ms), Some(bytes)) => {
                let style = if ms > s.thresholds.replica_lag_ms {
                    t.warn
                } else {
                    t.text
                };
                // Seconds while short; past 100 s as an age (`3m05s`), so the row stays short.
                let lag = if ms < 100_000 {
                    format!("{:.1} s", ms as f64 / 1000.0)
                } else {
                    format::age(std::time::Duration::from_millis(ms))
                };
                vec![
                    Span::styled(lag, style),
                    Span::styled(format!(" {}", format::bytes(bytes)), t.muted),
                ]
            }
            _ => vec![Span::styled(
                if r.primary_error.is_some() {
                    "unknown (primary not answering)"
                } else {
                    "unknown"
                },
                t.warn,
            )],
        };
        let form = |lead: String, tail: &'static str| {
            let mut spans = vec![Span::styled(lead, t.muted)];
            spans.extend(figures.iter().cloned());
            spans.push(Span::styled(tail, t.muted));
            Line::from(spans)
        };
        fitting(vec![
            form(format!("read replica {host} lag "), " behind"),
            form("read replica lag ".into(), " behind"),
            form("replica lag ".into(), ""),
        ])
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

/// `host:port` of a database URL, as the wide pool pane names the replica (the whole URL, as
/// shown, when it has no host).
fn host_port(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.host_str().is_some() => {
            let host = u.host_str().unwrap_or_default();
            u.port()
                .map_or_else(|| host.to_string(), |p| format!("{host}:{p}"))
        }
        _ => url.to_string(),
    }
}
