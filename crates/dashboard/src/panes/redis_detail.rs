//! The Redis pane's detail, drawn below its summary when the pane has the room (zoomed with
//! `z`, read whole with `v`): the server's counters, the latency history in 15 s rows as
//! `redis-cli --latency-history` prints it, and the last slow-log entries. At 80x24 the pane
//! has room for the counters' one condensed line only.

use ratatui::text::{Line, Span};

use super::Ctx;
use crate::format;
use flashsale_monitor::RedisSnapshot;
use flashsale_monitor::redis::RedisStats;

/// Rows the detail needs at the least (a heading, a row, a heading, a row): below that, the
/// condensed line alone.
pub const MIN_ROWS: u16 = 6;

/// `12.0M`, `1.5G`: bytes in at most 6 characters.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", UNITS[unit])
    }
}

/// The counters on one line, the most telling first, as many as fit `width`:
/// `evicted 0 · hits 99.2% · blocked 0 · rejected 0 · mem 1.0M/64.0M`.
pub fn stats_line(ctx: &Ctx<'_>, s: &RedisStats, width: usize) -> Line<'static> {
    let t = ctx.theme;
    let hits = s
        .hit_percent()
        .map_or("—".to_string(), |p| format!("{p:.1}%"));
    let mem = if s.maxmemory > 0 {
        format!("{}/{}", bytes(s.used_memory), bytes(s.maxmemory))
    } else {
        format!("{}/no max", bytes(s.used_memory))
    };
    let bad = |n: u64| if n > 0 { t.warn } else { t.text };
    let parts = [
        (
            "evicted ",
            format::count_short(s.evicted_keys),
            bad(s.evicted_keys),
        ),
        ("hits ", hits, t.text),
        (
            "blocked ",
            s.blocked_clients.to_string(),
            bad(s.blocked_clients),
        ),
        (
            "rejected ",
            format::count_short(s.rejected_connections),
            bad(s.rejected_connections),
        ),
        ("mem ", mem, t.text),
    ];
    let mut spans = Vec::new();
    let mut used = 0;
    for (label, value, style) in parts {
        let sep = if spans.is_empty() { "" } else { " · " };
        let w = sep.chars().count() + label.chars().count() + value.chars().count();
        // A figure is shown whole or not at all: never a cut number.
        if used + w > width {
            break;
        }
        used += w;
        if !sep.is_empty() {
            spans.push(Span::styled(sep, t.muted));
        }
        spans.push(Span::styled(label, t.muted));
        spans.push(Span::styled(value, style));
    }
    Line::from(spans)
}

/// The detail, at most `height` rows of at most `width` columns: counters, then the newest
/// latency rows that fit (oldest first, as redis-cli scrolls), then the slow log.
pub fn lines(ctx: &Ctx<'_>, r: &RedisSnapshot, width: usize, height: usize) -> Vec<Line<'static>> {
    let t = ctx.theme;
    let s = ctx.state;
    let mut out = Vec::new();
    match (&r.stats, r.masters.is_empty()) {
        (Some(st), _) => {
            out.push(stats_line(ctx, st, width));
            if !st.maxmemory_policy.is_empty() && st.maxmemory > 0 {
                out.push(Line::from(vec![
                    Span::styled("maxmemory-policy ", t.muted),
                    Span::styled(st.maxmemory_policy.clone(), t.text),
                ]));
            }
        }
        (None, false) => {
            for m in &r.masters {
                if let Some(st) = &m.stats {
                    let mut line = stats_line(ctx, st, width.saturating_sub(m.address.len() + 1));
                    line.spans
                        .insert(0, Span::styled(format!("{} ", m.address), t.muted));
                    out.push(line);
                }
            }
        }
        (None, true) => out.push(Line::styled("counters: INFO not read yet", t.muted)),
    }
    // The slow log's share: a heading and its rows, at most the half of what is left.
    let slow_rows = if r.slowlog.is_empty() {
        1
    } else {
        r.slowlog.len()
    };
    let left = height.saturating_sub(out.len() + 2);
    let slow_room = (slow_rows + 1).min(left / 2).max(2);
    let lat_room = left.saturating_sub(slow_room).max(1);
    out.push(Line::styled(
        format!(
            "{:<8} {:>9} {:>9} {:>9} {:>6}   PING per 15 s{}",
            "from",
            "min ms",
            "avg ms",
            "max ms",
            "PINGs",
            if r.masters.is_empty() {
                ""
            } else {
                " (through the router)"
            }
        ),
        t.muted,
    ));
    if r.intervals.is_empty() {
        out.push(Line::styled("no PING answered yet", t.muted));
    }
    let shown = &r.intervals[r.intervals.len().saturating_sub(lat_room)..];
    for row in shown {
        let slow = row.max_ms > s.thresholds.redis_ping_ms;
        out.push(Line::styled(
            format!(
                "{:<8} {:>9} {:>9} {:>9} {:>6}",
                s.local(row.start).format("%H:%M:%S"),
                format::ms(row.min_ms),
                format::ms(row.avg_ms),
                format::ms(row.max_ms),
                row.samples
            ),
            if slow { t.warn } else { t.text },
        ));
    }
    out.push(Line::styled(
        format!(
            "SLOWLOG (last {}, every {} s){}",
            flashsale_monitor::redis::slowlog::SLOWLOG_ENTRIES,
            flashsale_monitor::redis::SLOWLOG_EVERY.as_secs(),
            if r.masters.is_empty() {
                ""
            } else {
                ", every master"
            }
        ),
        t.muted,
    ));
    if let Some(e) = &r.slowlog_error {
        out.push(Line::styled(format!("cannot read it: {e}"), t.warn));
    } else if r.slowlog.is_empty() {
        out.push(Line::styled(
            "empty: no command over slowlog-log-slower-than",
            t.muted,
        ));
    }
    for e in &r.slowlog {
        let head = format!(
            "{} {:>8} µs  ",
            s.local(e.at).format("%H:%M:%S"),
            format::count(e.duration_us.min(i64::MAX as u64) as i64)
        );
        let node = e.node.as_ref().map(|n| format!("{n} ")).unwrap_or_default();
        let room = width.saturating_sub(head.chars().count() + node.chars().count());
        out.push(Line::from(vec![
            Span::styled(head, t.text),
            Span::styled(node, t.muted),
            Span::styled(format::fit(&e.command, room), t.text),
        ]));
    }
    out.truncate(height.max(1));
    out
}
