//! The burst pane's one-line summaries, each shortened to its width by dropping what matters
//! least (a number is never cut): which burst the figures are of, and its latency percentiles.

use ratatui::text::{Line, Span};

use super::super::Ctx;
use crate::format;
use crate::state::BurstRequest;
use flashsale_burst::BurstReport;

/// The latency percentiles that fit in `width`, the lower ones giving way first (`max 16.0
/// ms` whole rather than `max 16.0 m`).
pub(super) fn latency_line<'a>(ctx: Ctx<'a>, l: &flashsale_burst::Latency, width: u16) -> Line<'a> {
    let t = ctx.theme;
    let all = [
        ("p50", l.p50, false),
        ("p90", l.p90, true),
        ("p99", l.p99, false),
        ("p99.9", l.p999, true),
        ("max", l.max, false),
    ];
    let line = |skip: usize| {
        let mut spans: Vec<Span> = Vec::new();
        let shown = all
            .iter()
            .filter(|(_, _, wide_only)| ctx.wide || !wide_only)
            .skip(skip);
        for (i, (name, v, wide_only)) in shown.enumerate() {
            let gap = match (i, wide_only) {
                (0, _) => "",
                (_, true) => "  ",
                _ => " ",
            };
            spans.push(Span::styled(format!("{gap}{name} "), t.muted));
            spans.push(Span::styled(format::ms(*v), t.text));
        }
        spans.push(Span::styled(" ms", t.muted));
        Line::from(spans)
    };
    let shown = all.iter().filter(|(_, _, w)| ctx.wide || !w).count();
    (0..shown)
        .map(line)
        .find(|l| l.width() <= width as usize)
        .unwrap_or_else(|| line(shown - 1))
}

/// Which burst the figures are of: `last: 40 on #1 naive 5,210/s`, shortened to fit (the
/// throughput, then the strategy give way; a number is never cut).
pub(super) fn last_line<'a>(
    ctx: Ctx<'a>,
    r: &BurstRequest,
    report: &BurstReport,
    width: u16,
) -> Line<'a> {
    let t = ctx.theme;
    let p = &r.params;
    let over_api = ctx.state.over_api();
    let strategy = match over_api {
        true => String::new(),
        false => format!(" {}", p.strategy),
    };
    let rate = format!(
        " {}/s",
        format::count(report.throughput_per_s.round() as i64)
    );
    let buyers = format::count(i64::from(p.buyers));
    // A cancelled burst must not look complete at any width: the word stays to the last.
    let (last, short) = if report.cancelled > 0 {
        ("last (cancelled)", "cancelled")
    } else {
        ("last", "last")
    };
    let mut candidates = Vec::new();
    if ctx.wide {
        let burst = if report.cancelled > 0 {
            "last burst (cancelled)"
        } else {
            "last burst"
        };
        candidates.push(format!(
            "{burst}: {buyers} buyers on {} (#{}){strategy}{rate}",
            r.product_name, r.product_id
        ));
    }
    candidates.push(format!(
        "{last}: {buyers} on #{}{strategy}{rate}",
        r.product_id
    ));
    candidates.push(format!("{last}: {buyers} on #{}{strategy}", r.product_id));
    candidates.push(format!("{short}: {buyers} on #{}", r.product_id));
    candidates.push(format!("{short}: #{}", r.product_id));
    let w = width as usize;
    let fits = candidates.iter().find(|c| c.chars().count() <= w);
    let text = fits.or(candidates.last()).cloned().unwrap_or_default();
    let unsafe_mark = p.strategy.is_unsafe() && !over_api;
    let style = if report.cancelled > 0 {
        t.warn
    } else {
        t.muted
    };
    let mut spans = vec![Span::styled(text, style)];
    if unsafe_mark && spans[0].width() + 7 <= w {
        spans.push(Span::styled(" UNSAFE", t.unsafe_strategy));
    }
    Line::from(spans)
}
