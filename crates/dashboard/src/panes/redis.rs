//! Redis: PING round trips (min / avg / p99 / max over the last 15 s, and the slowest PING of
//! each second as a sparkline), `INFO` figures, the live rate-limit windows (`rate_limit:*`
//! keys, "≥N" when the bounded scan stopped short), and the rate-limit policy. "not configured"
//! with the in-process limiter; "DOWN since hh:mm:ss" when it does not answer. With room
//! (zoomed, read whole) the counters, 15 s latency rows and slow log follow (`redis_detail`).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, Wrap};

use super::{Ctx, kv};
use crate::format;
use crate::state::Pane;

pub struct RedisPane<'a> {
    pub ctx: Ctx<'a>,
}

impl RedisPane<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        if s.over_api() {
            return self.over_api(frame, area);
        }
        let extra = if s.conn.redis.is_some() {
            self.ctx.freshness(&s.redis)
        } else {
            Vec::new()
        };
        let block = self.ctx.block(Pane::Redis, "Redis", extra);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let w = inner.width as usize;
        if s.conn.redis.is_none() {
            let mut lines = vec![Line::styled("not configured (in-process limiter)", t.info)];
            if !self.ctx.wide {
                lines = format::pack(["not configured", "(in-process limiter)"], " ", w)
                    .into_iter()
                    .map(|l| Line::styled(l, t.info))
                    .collect();
            }
            lines.extend(self.policy(w));
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
            return;
        }
        let Some(r) = &s.redis.value else {
            frame.render_widget(
                Paragraph::new(self.ctx.waiting(&s.redis)).wrap(Wrap { trim: true }),
                inner,
            );
            return;
        };
        if let Some(since) = r.down_since {
            // What the limiter does now comes before why Redis is down.
            let mut lines = vec![Line::styled(
                format!("DOWN since {}", s.local(since).format("%H:%M:%S")),
                t.critical,
            )];
            let policy = self.policy(w);
            let error = r.error.clone().unwrap_or_default();
            if self.ctx.wide {
                lines.push(Line::styled(error, t.muted));
                lines.extend(policy);
            } else {
                lines.extend(policy.into_iter().rev());
                lines.extend(
                    format::wrap(&error, w)
                        .into_iter()
                        .map(|l| Line::styled(l, t.muted)),
                );
            }
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
            return;
        }
        let lat_rows = if self.ctx.wide { 1 } else { 2 };
        let spark_rows = if self.ctx.wide { 3 } else { 0 };
        let keys_rows = u16::from(r.rate_limit_keys.is_some());
        let policy_rows = self.policy_rows(w);
        let summary = lat_rows + spark_rows + 1 + keys_rows + r.masters.len() as u16 + policy_rows;
        let has_detail = r.stats.is_some() || !r.intervals.is_empty();
        let room = inner.height.saturating_sub(summary);
        let detail_rows = if has_detail && room >= super::redis_detail::MIN_ROWS {
            room
        } else {
            0
        };
        // Without room for the detail, the counters' line where a row is spare.
        let stats_rows = u16::from(detail_rows == 0 && r.stats.is_some() && room >= 1);
        let [lat, spark, info, keys, stats, masters, pol, detail] = Layout::vertical([
            Constraint::Length(lat_rows),
            Constraint::Length(spark_rows),
            Constraint::Length(1),
            Constraint::Length(keys_rows),
            Constraint::Length(stats_rows),
            Constraint::Length(r.masters.len() as u16),
            if detail_rows > 0 {
                Constraint::Length(policy_rows)
            } else {
                Constraint::Fill(1)
            },
            Constraint::Length(detail_rows),
        ])
        .areas(inner);
        let slow = r
            .latency
            .is_some_and(|l| l.max_ms > s.thresholds.redis_ping_ms);
        let v = |x: f64| format::ms(x);
        let lat_lines = match r.latency {
            Some(l) if self.ctx.wide => vec![Line::from(
                [
                    kv(t, "ping min ", v(l.min_ms)),
                    kv(t, "  avg ", v(l.avg_ms)),
                    kv(t, "  p99 ", v(l.p99_ms)),
                    kv(t, "  max ", v(l.max_ms)),
                ]
                .into_iter()
                .flatten()
                .chain([Span::styled(
                    format!(" ms  ({} PINGs, 15 s)", l.samples),
                    t.muted,
                )])
                .collect::<Vec<_>>(),
            )],
            Some(l) => vec![
                Line::from(
                    [kv(t, "ping min ", v(l.min_ms)), kv(t, " avg ", v(l.avg_ms))]
                        .into_iter()
                        .flatten()
                        .chain([Span::styled(" ms", t.muted)])
                        .collect::<Vec<_>>(),
                ),
                Line::from(
                    [kv(t, "p99 ", v(l.p99_ms)), kv(t, " max ", v(l.max_ms))]
                        .into_iter()
                        .flatten()
                        .chain([Span::styled(" ms ", t.muted)])
                        .collect::<Vec<_>>(),
                ),
            ],
            None => vec![Line::styled("no PING answered yet", t.muted)],
        };
        let lat_lines: Vec<Line> = if slow {
            lat_lines.into_iter().map(|l| l.style(t.warn)).collect()
        } else {
            lat_lines
        };
        // Narrow: the sparkline shares the second latency row, after the figures.
        let spark = if self.ctx.wide {
            spark
        } else {
            let used = lat_lines.get(1).map_or(0, |l| l.width() as u16);
            Rect {
                x: lat.x + used.min(lat.width),
                y: lat.y + 1,
                width: lat.width.saturating_sub(used),
                // No second row, no sparkline: never draw outside the pane.
                height: u16::from(lat.height >= 2),
            }
        };
        frame.render_widget(Paragraph::new(lat_lines), lat);
        let history = &r.history_us[r.history_us.len().saturating_sub(spark.width as usize)..];
        frame.render_widget(
            Sparkline::default()
                .data(history.iter().copied())
                .style(if slow { t.warn } else { t.sparkline }),
            spark,
        );
        let info_line = match &r.info {
            Some(i) => {
                let mut spans = vec![
                    Span::styled(format!("v{}", i.version), t.text),
                    Span::styled(" · ", t.muted),
                    Span::styled(i.connected_clients.to_string(), t.text),
                    Span::styled(
                        if i.connected_clients == 1 {
                            " client · "
                        } else {
                            " clients · "
                        },
                        t.muted,
                    ),
                    Span::styled(format::count_short(i.ops_per_sec), t.text),
                    Span::styled(" ops/s · ", t.muted),
                    Span::styled(i.used_memory_human.clone(), t.text),
                ];
                // Against the limit, when there is one: the figure that says "evicting soon";
                // narrow, as a share of it (`mem 95%`), which fits where `1.05M/64.0M` does not.
                if let Some(st) = r.stats.as_ref().filter(|st| st.maxmemory > 0) {
                    let pct = st.memory_percent().unwrap_or(0.0);
                    let style = if pct >= 90.0 || st.evicted_keys > 0 {
                        t.warn
                    } else {
                        t.text
                    };
                    if let Some(last) = spans.last_mut() {
                        *last = if self.ctx.wide {
                            Span::styled(
                                format!(
                                    "{}/{}",
                                    i.used_memory_human,
                                    super::redis_detail::bytes(st.maxmemory)
                                ),
                                style,
                            )
                        } else {
                            Span::styled(format!("mem {pct:.0}%"), style)
                        };
                    }
                }
                // Narrow: plain spaces, and the version (which does not change) goes first.
                if !self.ctx.wide {
                    for sp in &mut spans {
                        if sp.content.contains(" · ") {
                            sp.content = sp.content.replace(" · ", " ").into();
                        }
                    }
                    if Line::from(spans.clone()).width() > w {
                        spans.drain(..2);
                    }
                }
                Line::from(spans)
            }
            // A cluster: the router asks INFO of no one node; each master has its row below.
            None if !r.masters.is_empty() => Line::from(vec![
                Span::styled("cluster · ", t.muted),
                Span::styled(r.masters.len().to_string(), t.text),
                Span::styled(" masters", t.muted),
            ]),
            None => Line::styled("INFO not read yet", t.muted),
        };
        frame.render_widget(Paragraph::new(info_line), info);
        if let Some(k) = r.rate_limit_keys {
            // An incomplete count is a floor: the bounded SCAN stopped before the end.
            let at_least = if k.complete { "" } else { "≥" };
            let line = Line::from(vec![
                Span::styled("rate-limit windows ", t.muted),
                Span::styled(
                    format!("{at_least}{}", format::count(k.count as i64)),
                    t.text,
                ),
            ]);
            frame.render_widget(Paragraph::new(line), keys);
        }
        if let Some(st) = &r.stats {
            let line = super::redis_detail::stats_line(&self.ctx, st, w);
            frame.render_widget(Paragraph::new(line), stats);
        }
        frame.render_widget(Paragraph::new(self.master_lines(w)), masters);
        frame.render_widget(
            Paragraph::new(self.policy(w)).wrap(Wrap { trim: true }),
            pol,
        );
        if detail_rows > 0 {
            let lines = super::redis_detail::lines(&self.ctx, r, w, detail.height as usize);
            frame.render_widget(Paragraph::new(lines), detail);
        }
    }

    /// The rows the policy takes at `width`, wrapped as it is drawn.
    fn policy_rows(&self, width: usize) -> u16 {
        let lines = self.policy(width);
        let rows: usize = lines
            .iter()
            .map(|l| l.width().div_ceil(width.max(1)).max(1))
            .sum();
        rows as u16
    }

    /// A cluster's masters, one row each: address, PING, then what room is left of ops/s and
    /// memory; one that does not answer says so.
    fn master_lines(&self, width: usize) -> Vec<Line<'static>> {
        let t = self.ctx.theme;
        let Some(r) = &self.ctx.state.redis.value else {
            return Vec::new();
        };
        r.masters
            .iter()
            .map(|m| {
                let mut spans = match (m.ping_ms, &m.error) {
                    (Some(ms), _) => vec![
                        Span::styled("● ", t.ok),
                        Span::styled(m.address.clone(), t.text),
                        Span::styled(format!(" {} ms", format::ms(ms)), t.text),
                    ],
                    (None, e) => vec![
                        Span::styled("✖ ", t.critical),
                        Span::styled(m.address.clone(), t.critical),
                        Span::styled(
                            format!(" {}", e.as_deref().unwrap_or("no answer")),
                            t.critical,
                        ),
                    ],
                };
                if let Some(i) = &m.info {
                    let extra = [
                        Span::styled(format!(" {}", format::count_short(i.ops_per_sec)), t.text),
                        Span::styled(" ops/s ", t.muted),
                        Span::styled(i.used_memory_human.clone(), t.text),
                    ];
                    let extra_w: usize = extra.iter().map(Span::width).sum();
                    if Line::from(spans.clone()).width() + extra_w <= width {
                        spans.extend(extra);
                    }
                }
                let line = Line::from(spans);
                if line.width() > width {
                    // The address is what matters: the rest gives way, cut with a mark.
                    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
                    return Line::styled(format::fit(&text, width), line.spans[1].style);
                }
                line
            })
            .collect()
    }

    /// The rate-limit policy: in full when wide; narrow, the limits and what happens while
    /// Redis is down, each on a line of its own when both do not fit on one.
    fn policy(&self, width: usize) -> Vec<Line<'static>> {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        if self.ctx.wide {
            return vec![Line::from(vec![
                Span::styled("limits ", t.muted),
                Span::styled(s.conn.limiter.clone(), t.text),
            ])];
        }
        let on_down = s
            .conn
            .on_redis_down
            .as_ref()
            .map(|mode| format!("{mode} when Redis is down"));
        let limits = format!("limits {}", s.conn.limits_short);
        let limits = if limits.chars().count() > width {
            s.conn.limits_short.clone()
        } else {
            limits
        };
        format::pack(
            std::iter::once(limits.as_str()).chain(on_down.as_deref()),
            "; ",
            width,
        )
        .into_iter()
        .map(|l| Line::styled(l, t.text))
        .collect()
    }

    /// Over the API: Redis as the server's health report gives it (up with its PING, DOWN, or
    /// not configured), its policy when Redis is down, and that the PING history and `INFO`
    /// need direct access.
    fn over_api(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let block = self
            .ctx
            .block(Pane::Redis, "Redis", self.ctx.freshness(&s.health));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let Some(h) = &s.health.value else {
            frame.render_widget(
                Paragraph::new(self.ctx.waiting(&s.health)).wrap(Wrap { trim: true }),
                inner,
            );
            return;
        };
        let r = &h.report.redis;
        let mut status = vec![
            Span::styled(
                if self.ctx.wide {
                    "the server's check: "
                } else {
                    "server: "
                },
                t.muted,
            ),
            super::dependency(&self.ctx, r, h.redis_down_since),
        ];
        // Narrow: the reason is in the events.
        if let Some(e) = r.error.as_deref().filter(|_| r.is_down() && self.ctx.wide) {
            status.push(Span::styled(format!(": {e}"), t.muted));
        }
        let mut lines = vec![Line::from(status)];
        if r.status == "not configured" {
            // No Redis: nothing that direct access would show either.
            lines.push(Line::styled(
                if self.ctx.wide {
                    "(the server limits in process)"
                } else {
                    "(in-process limiter)"
                },
                t.muted,
            ));
        } else {
            // The reference system's report does not say.
            if !h.report.rate_limit_on_redis_down.is_empty() {
                lines.push(Line::from(vec![
                    Span::styled("if Redis is down: ", t.muted),
                    Span::styled(h.report.rate_limit_on_redis_down.clone(), t.text),
                ]));
            }
            // Narrow: the header already says the dashboard watches over the API.
            lines.push(Line::styled(
                if self.ctx.wide {
                    format!(
                        "PING history and INFO need direct Redis access: {}",
                        super::NEEDS_DIRECT
                    )
                } else {
                    "PING history and INFO need direct Redis access".to_string()
                },
                t.info,
            ));
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
    }
}
