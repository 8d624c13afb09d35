//! The header: what the dashboard is connected to, the strategy, the refresh rate, LIVE or
//! PAUSED, the clock; below it the status line (database errors first, then alerts on narrow
//! screens, then notices).

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;

use super::Ctx;
use crate::format;
use crate::state::Level;
use flashsale_monitor::Severity;

pub struct Header<'a> {
    pub ctx: Ctx<'a>,
}

impl Header<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let sep = || Span::styled(" │ ", t.header);
        let strategy = s.burst.params.strategy;
        // Over the API the server applies its own strategy (its health report names it); when
        // room is short the name alone, so that the URL stays (the burst pane says whose).
        let server_strategy = |tight: u8| match s.server_strategy() {
            Some(name) if tight == 0 => format!("{name} (server's)"),
            Some(name) => name.to_string(),
            None => "server's strategy".to_string(),
        };
        let strategy_span = if strategy.is_unsafe() {
            Span::styled(format!(" {strategy} UNSAFE "), t.unsafe_strategy)
        } else {
            Span::styled(strategy.to_string(), t.header)
        };
        let live = if s.paused {
            Span::styled(
                " PAUSED ",
                t.warn
                    .patch(t.header)
                    .add_modifier(ratatui::style::Modifier::BOLD),
            )
        } else if s.database_error().is_some() {
            // Not LIVE: nothing on screen is being refreshed from the database.
            Span::styled(
                "✖ DOWN",
                t.critical
                    .patch(t.header)
                    .add_modifier(ratatui::style::Modifier::BOLD),
            )
        } else {
            Span::styled("● LIVE", t.header)
        };
        let clock = s.local(s.wall).format("%H:%M:%S").to_string();
        // What it is connected to: the kind, then the host (and database or file); in full or
        // short form.
        let kind = if s.over_api() {
            "api".to_string()
        } else {
            s.conn.backend.to_string()
        };
        let full_host = s.replicas.with_more(&s.conn.database);
        let host = (&full_host, &s.conn.short);
        let db = |full: bool, tight: u8, room: Option<usize>| {
            let embedded = if s.conn.embedded && tight == 0 {
                " (embedded)"
            } else {
                ""
            };
            let host = if full { host.0 } else { host.1 };
            let host = match room {
                Some(room) => format::fit(host, room),
                None => host.clone(),
            };
            format!("{kind} {host}{embedded}")
        };
        let line = |full: bool, tight: u8, room: Option<usize>| {
            let mut spans = Vec::new();
            if tight < 2 {
                spans.extend([
                    Span::styled(
                        " flashsale",
                        t.header.add_modifier(ratatui::style::Modifier::BOLD),
                    ),
                    sep(),
                ]);
            } else {
                spans.push(Span::styled(" ", t.header));
            }
            spans.push(Span::styled(db(full, tight, room), t.header));
            if full && let Some(r) = &s.conn.redis {
                spans.extend([sep(), Span::styled(format!("redis {r}"), t.header)]);
            }
            spans.extend([
                sep(),
                if s.over_api() {
                    Span::styled(server_strategy(tight), t.header)
                } else {
                    strategy_span.clone()
                },
                sep(),
                Span::styled(
                    if full {
                        format!("every {}", format::duration(s.refresh))
                    } else {
                        format!("↻ {}", format::duration(s.refresh))
                    },
                    t.header,
                ),
                sep(),
                live.clone(),
            ]);
            if s.read_only {
                spans.extend([sep(), Span::styled("READ-ONLY", t.header)]);
            }
            if full {
                spans.extend([
                    sep(),
                    Span::styled(format!("theme {}", s.theme_name), t.header),
                ]);
            }
            Line::from(spans)
        };
        // What gives way when the line is too long, in turn: the wide extras (Redis, theme),
        // "(embedded)" and "(server's)", the brand, then the host is cut with an ellipsis; the
        // host is never dropped, the clock goes before it shrinks below `MIN_HOST`.
        const MIN_HOST: usize = 10;
        let width = area.width as usize;
        let mut clock_w = clock.len() + 2;
        let fits = |l: &Line, clock_w: usize| l.width() + clock_w <= width;
        let mut l = line(self.ctx.wide, 0, None);
        for tight in [0, 1, 2] {
            if fits(&l, clock_w) {
                break;
            }
            l = line(false, tight, None);
        }
        if !fits(&l, clock_w) {
            let host_w = host.1.chars().count();
            let others = l.width().saturating_sub(host_w);
            let mut room = width.saturating_sub(others + clock_w);
            if room < MIN_HOST.min(host_w) {
                clock_w = 0;
                room = width.saturating_sub(others);
            }
            l = line(false, 2, Some(room.max(2)));
        }
        frame.render_widget(Paragraph::new(l).style(t.header), area);
        let clock_w = clock_w as u16;
        if clock_w > 0 && area.width > clock_w {
            let r = Rect::new(area.right() - clock_w, area.y, clock_w, 1);
            frame.render_widget(
                Paragraph::new(format!("{clock} "))
                    .style(t.header)
                    .alignment(Alignment::Right),
                r,
            );
        }
    }

    /// The status line: why the database cannot be reached, else alerts (narrow screens), else
    /// the last notice.
    pub fn draw_status(&self, frame: &mut Frame, area: Rect, with_alerts: bool) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let line = if let Some(e) = s.database_error() {
            let retry = s.connect_error.as_ref().map_or(2, |(_, r)| *r);
            // The error is cut, never the retry: it says the dashboard is still trying.
            let tail = format!(", retrying in {retry}s");
            let room = (area.width as usize).saturating_sub(3 + tail.chars().count());
            Line::from(vec![
                Span::styled(" ✖ ", t.critical),
                Span::styled(format!("{}{tail}", format::fit(e, room)), t.critical),
            ])
        } else if let Some(n) = s.notice.as_ref().filter(|_| {
            !(with_alerts && s.banner_alerts().any(|a| a.severity == Severity::Critical))
        }) {
            // A notice answers the operator's own key, for a few seconds: it takes the line
            // even while warnings are up (narrow screens have no alert row), after the alerts'
            // label, so that they are not hidden meanwhile. A critical alert (an oversell, the
            // database down) keeps the line.
            let style = match n.level {
                Level::Error => t.critical,
                Level::Warn => t.warn,
                Level::Ok => t.ok,
                Level::Info => t.info,
            };
            let mut line = Line::default();
            if with_alerts && let Some(label) = alerts_label(self.ctx) {
                line.push_span(label);
            }
            // Cut between words, so that no number in it is shown cut.
            let room = (area.width as usize).saturating_sub(line.width() + 1);
            line.push_span(Span::styled(
                format!(" {}", format::fit_words(&n.text, room)),
                style,
            ));
            line
        } else if with_alerts && s.banner_alerts().next().is_some() {
            alert_line(self.ctx, area.width as usize)
        } else if s.over_api() {
            health_line(self.ctx, area.width as usize)
        } else if let Some(failing) = not_answering(s) {
            Line::from(Span::styled(format!(" not answering: {failing}"), t.warn))
        } else {
            Line::from(Span::styled(" all sources answering", t.muted))
        };
        frame.render_widget(Paragraph::new(line).style(t.base), area);
    }

    /// The wide arrangement's alert row.
    pub fn draw_alerts(&self, frame: &mut Frame, area: Rect) {
        let s = self.ctx.state;
        let line = if s.banner_alerts().next().is_none() {
            let text = match s.alerts.len() {
                0 => " no alerts".to_string(),
                n => format!(
                    " no alerts but {n} silenced: {}",
                    self.ctx.keymap.keys(crate::action::Action::Alerts)
                ),
            };
            Line::from(Span::styled(text, self.ctx.theme.muted))
        } else {
            alert_line(self.ctx, area.width as usize)
        };
        frame.render_widget(Paragraph::new(line).style(self.ctx.theme.base), area);
    }
}

/// Over the API, the server's own health report: what it says is up or down; then its purchase
/// error rate over the last minute (from `/metrics`) when there is room, or why it is unknown.
fn health_line<'a>(ctx: Ctx<'a>, width: usize) -> Line<'a> {
    let mut line = health_report(ctx);
    if let Some((long, short)) = purchase_errors(ctx) {
        for span in [long, short] {
            if line.width() + 3 + span.width() <= width {
                line.push_span(Span::styled(" · ", ctx.theme.muted));
                line.push_span(span);
                break;
            }
        }
    }
    line
}

/// The server's purchase errors, in full and in short, styled for what they say; `None` before
/// the first read of `/metrics`.
fn purchase_errors<'a>(ctx: Ctx<'a>) -> Option<(Span<'a>, Span<'a>)> {
    let (s, t) = (ctx.state, ctx.theme);
    let p = &s.server_purchases;
    let unknown =
        |long: String, style| Some((Span::styled(long, style), Span::styled("errors n/a", style)));
    if let Some(reason) = &p.withheld {
        return unknown(format!("purchase errors: {reason}"), t.info);
    }
    if let Some(e) = &p.error {
        return unknown(format!("purchase errors: {e}"), t.warn);
    }
    let reading = p.value.as_ref()?;
    let (long, short, style) = match s.server_purchases_last_minute() {
        Some((errors, purchases)) if purchases > 0 => {
            let rate = errors as f64 * 100.0 / purchases as f64;
            let style = if rate > s.thresholds.error_rate_percent {
                t.critical
            } else if !s.paused && p.stale(s.now, s.refresh).is_some() {
                t.stale
            } else {
                t.muted
            };
            (
                format!(
                    "purchase errors {rate:.1}% of {} in the last minute",
                    format::count(i64::try_from(purchases).unwrap_or(i64::MAX))
                ),
                format!("errors {rate:.1}%"),
                style,
            )
        }
        Some(_) => (
            "no purchases in the last minute".to_string(),
            "errors —".to_string(),
            t.muted,
        ),
        None if reading.last_minute.is_some() => (
            "purchase errors: no read in the last minute".to_string(),
            "errors —".to_string(),
            t.stale,
        ),
        None => (
            "purchase errors: after the next read".to_string(),
            "errors —".to_string(),
            t.muted,
        ),
    };
    Some((Span::styled(long, style), Span::styled(short, style)))
}

/// The health report alone.
fn health_report<'a>(ctx: Ctx<'a>) -> Line<'a> {
    let (s, t) = (ctx.state, ctx.theme);
    let Some(h) = &s.health.value else {
        return Line::from(Span::styled(
            match &s.health.withheld {
                Some(reason) => format!(" {reason}"),
                None => " waiting for the server's health report".to_string(),
            },
            t.muted,
        ));
    };
    let mut spans = if h.report.success {
        vec![Span::styled(" server healthy", t.ok)]
    } else {
        vec![Span::styled(" ✖ server unhealthy", t.critical)]
    };
    spans.push(Span::styled(" · database ", t.muted));
    spans.push(super::dependency(
        &ctx,
        &h.report.database,
        h.database_down_since,
    ));
    spans.push(Span::styled(" · redis ", t.muted));
    spans.push(super::dependency(&ctx, &h.report.redis, h.redis_down_since));
    Line::from(spans)
}

/// The alerts' label, ` ⚠ ALERTS (2) ` in the worst one's colour, reversed; `None` without
/// alerts.
fn alerts_label(ctx: Ctx<'_>) -> Option<Span<'static>> {
    let t = ctx.theme;
    let (count, worst) = ctx
        .state
        .banner_alerts()
        .fold((0, None), |(n, w), a| (n + 1, w.max(Some(a.severity))));
    let style = if worst == Some(Severity::Critical) {
        t.critical
    } else {
        t.warn
    };
    let label = match count {
        0 => return None,
        1 => " ⚠ ALERT ".to_string(),
        n => format!(" ⚠ ALERTS ({n}) "),
    };
    Some(Span::styled(
        label,
        style.add_modifier(ratatui::style::Modifier::REVERSED),
    ))
}

/// The alerts not silenced, worst first, as many whole as fit in `width`; those left out are
/// counted (`+2 more: !`, with the key as bound), and that key lists every one. The first is
/// cut only when it alone is wider than the line.
fn alert_line(ctx: Ctx<'_>, width: usize) -> Line<'static> {
    let t = ctx.theme;
    let alerts: Vec<&flashsale_monitor::Alert> = ctx.state.banner_alerts().collect();
    // The key as the user's `[keys]` bind it.
    let whole_key = ctx.keymap.keys(crate::action::Action::Alerts);
    let Some(label) = alerts_label(ctx) else {
        return Line::default();
    };
    let mut line = Line::from(label);
    let whole = |a: &&flashsale_monitor::Alert| {
        let mut text = format!(" {}", a.message);
        // Its rule no longer fires; it clears once that has lasted (`ALERT_HOLD`).
        if ctx.state.alert_clearing.contains_key(&a.key) {
            text.push_str(" (clearing)");
        }
        text
    };
    for (i, a) in alerts.iter().enumerate() {
        let style = if a.severity == Severity::Critical {
            t.critical
        } else {
            t.warn
        };
        let sep = if i > 0 { " · " } else { "" };
        let text = whole(a);
        let left = alerts.len() - i - 1;
        let more = if left > 0 {
            format!(" · +{left} more: {whole_key}")
        } else {
            String::new()
        };
        let need = sep.chars().count() + text.width() + more.chars().count();
        if line.width() + need > width {
            if i == 0 {
                let room = width.saturating_sub(line.width() + more.chars().count());
                line.push_span(Span::styled(format::fit(&text, room), style));
                line.push_span(Span::styled(more, t.muted));
            } else {
                line.push_span(Span::styled(
                    format!(" · +{} more: {whole_key}", alerts.len() - i),
                    t.muted,
                ));
            }
            return line;
        }
        if i > 0 {
            line.push_span(Span::styled(sep, t.muted));
        }
        line.push_span(Span::styled(text, style));
    }
    line
}

/// The direct sources failing now, by name (the database's own failure has its line above):
/// the status line says "all sources answering" only when none is.
fn not_answering(s: &crate::state::State) -> Option<String> {
    let redis_down = s.redis.error.is_some()
        || s.redis
            .value
            .as_ref()
            .is_some_and(|r| r.down_since.is_some());
    let names: Vec<&str> = [
        (s.sales.error.is_some(), "sales"),
        (s.pool.error.is_some(), "the server view"),
        (redis_down, "Redis"),
        (
            s.read_replica.error.is_some(),
            "the read replica (the primary is read)",
        ),
    ]
    .into_iter()
    .filter_map(|(failing, name)| failing.then_some(name))
    .collect();
    (!names.is_empty()).then(|| names.join(", "))
}
