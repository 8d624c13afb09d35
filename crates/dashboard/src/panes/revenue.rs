//! Revenue by day: the last 7 UTC days as bars (the reference system's definition: today and
//! the six days before it), with total revenue and units sold; beside them, when there is
//! room, the history graphs of the last minutes (`history_graphs.rs`). Bars are on a square-root
//! scale, said in the title: a day of 480 beside a day of 60,000 would otherwise be no bar.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Paragraph, Wrap};

use super::history_graphs::HistoryGraphs;
use super::{Ctx, kv};
use crate::format;
use crate::state::Pane;
use flashsale_core::money::Money;
use unicode_width::UnicodeWidthStr;

/// `total X   units Y   7 days Z` in `width` columns: in full, else with the amounts
/// abbreviated (`1.03M`), else without the week, else the total alone; a number is never cut.
fn totals_line(
    t: &crate::theme::Theme,
    width: usize,
    total: Money,
    units: i64,
    week: Money,
) -> Line<'static> {
    let forms = [
        (
            format::money(total),
            format::count(units),
            Some(format::money(week)),
        ),
        (
            format::fit_money(total, 7),
            format::fit_count(units, 6),
            Some(format::fit_money(week, 7)),
        ),
        (
            format::fit_money(total, 7),
            format::fit_count(units, 6),
            None,
        ),
    ];
    for (total, units, week) in forms {
        let mut spans: Vec<Span> = Vec::new();
        spans.extend(kv(t, "total ", total));
        spans.extend(kv(t, "   units ", units));
        if let Some(week) = week {
            spans.extend(kv(t, "   7 days ", week));
        }
        let line = Line::from(spans);
        if line.width() <= width {
            return line;
        }
    }
    Line::from(kv(t, "total ", format::fit_money(total, 7)).to_vec())
}

/// The narrowest revenue chart beside the history graphs: 7 bars of 4 and their gaps.
const REVENUE_MIN: u16 = 34;
/// The narrowest history graphs worth drawing (`buy/s 12.5` and its bars).
const HISTORY_MIN: u16 = 15;

/// The revenue chart's place and the history graphs', if there is room for them: each about
/// half, the chart at least [`REVENUE_MIN`], a column between them.
pub fn split(inner: Rect) -> (Rect, Option<Rect>) {
    if inner.width < REVENUE_MIN + 1 + HISTORY_MIN {
        return (inner, None);
    }
    let chart = (inner.width / 2)
        .max(REVENUE_MIN)
        .min(inner.width - 1 - HISTORY_MIN);
    let history = Rect {
        x: inner.x + chart + 1,
        width: inner.width - chart - 1,
        ..inner
    };
    (
        Rect {
            width: chart,
            ..inner
        },
        Some(history),
    )
}

pub struct RevenuePane<'a> {
    pub ctx: Ctx<'a>,
}

impl RevenuePane<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let (inner, history) = split(super::inner(area, self.ctx.wide));
        let mut extra = self.ctx.freshness(&s.sales);
        const TITLE: &str = "Revenue by day (UTC, √ scale)";
        if history.is_some() {
            let note = format!("· history {} ", s.history.range.word());
            // The note goes before the title would run past the pane's width.
            let used: usize = TITLE.width() + 4 + extra.iter().map(|e| e.width()).sum::<usize>();
            if used + note.width() <= usize::from(area.width) {
                extra.push(Span::styled(note, t.muted));
            }
        }
        let block = self.ctx.block(Pane::Revenue, TITLE, extra);
        frame.render_widget(block, area);
        if let Some(h) = history {
            HistoryGraphs { ctx: self.ctx }.draw(frame, h);
        }
        let Some(sales) = &s.sales.value else {
            frame.render_widget(
                Paragraph::new(self.ctx.waiting(&s.sales)).wrap(Wrap { trim: true }),
                inner,
            );
            return;
        };
        let [totals, chart] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
        let week: i64 = sales.revenue_by_day.iter().map(|d| d.revenue.cents()).sum();
        let week = flashsale_core::money::Money::from_cents(week);
        let line = totals_line(
            t,
            totals.width as usize,
            sales.total_revenue,
            sales.total_units_sold,
            week,
        );
        frame.render_widget(Paragraph::new(line), totals);
        let n = sales.revenue_by_day.len().max(1) as u16;
        let bar_w = (chart.width.saturating_sub(n - 1) / n).clamp(1, 12);
        // Bars above, then a row of amounts and a row of dates, each centred under its bar:
        // values printed inside short bars would hide them.
        let [bars_area, values, dates] = Layout::vertical([
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(chart);
        let bars: Vec<Bar> = sales
            .revenue_by_day
            .iter()
            .map(|d| {
                Bar::default()
                    .value((d.revenue.cents().max(0) as f64).sqrt().round() as u64)
                    .text_value(String::new())
            })
            .collect();
        let chart_widget = BarChart::default()
            .data(BarGroup::default().bars(&bars))
            .bar_width(bar_w)
            .bar_gap(1)
            .bar_style(t.bar);
        frame.render_widget(chart_widget, bars_area);
        let cell = |text: String| {
            format!(
                "{:^w$} ",
                format::fit(&text, bar_w as usize),
                w = bar_w as usize
            )
        };
        // An amount that does not fit its bar even abbreviated is left out, never cut.
        let value_line: String = sales
            .revenue_by_day
            .iter()
            .map(|d| {
                let v = format::fit_money(d.revenue, (bar_w as usize).min(8));
                cell(if v.width() <= bar_w as usize {
                    v
                } else {
                    String::new()
                })
            })
            .collect();
        let date_line: String = sales
            .revenue_by_day
            .iter()
            .map(|d| {
                // Too narrow for `11-19`: the weekday (`Thu`), which no one reads as an amount.
                let weekday = chrono::NaiveDate::parse_from_str(&d.date, "%Y-%m-%d")
                    .map(|day| day.format("%a").to_string());
                let label = match weekday {
                    _ if bar_w >= 5 => d.date.get(5..).unwrap_or_default().to_string(),
                    Ok(w) if bar_w >= 3 => w,
                    _ => d.date.get(8..).unwrap_or_default().to_string(),
                };
                cell(label)
            })
            .collect();
        frame.render_widget(Paragraph::new(Span::styled(value_line, t.text)), values);
        frame.render_widget(Paragraph::new(Span::styled(date_line, t.muted)), dates);
    }
}
