//! History over minutes, btop-style: purchases/s, total stock, sold-out/s and errors/s as block
//! graphs over the last 1, 5 or 15 minutes (`m`), drawn beside the revenue chart from the
//! rings in `state::history`. As many graphs as the height holds, most useful first; a label
//! shortens (never cuts a number) and goes before a graph does.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, SparklineBar};
use unicode_width::UnicodeWidthStr;

use super::Ctx;
use crate::format;
use crate::state::history::Ring;

/// Rows one graph needs: its label and one row of bars.
const GRAPH_ROWS: u16 = 2;

/// A rate as graphs label it: `0`, `4.5`, `12`, `1,234`.
pub fn rate(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 {
        "0".into()
    } else if v < 0.05 {
        // Rare events over a long slice: not nothing, and not a rounded-down 0.
        "<0.1".into()
    } else if v < 10.0 {
        let s = format!("{v:.1}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    } else {
        format::count(v.round() as i64)
    }
}

/// A label row then block bars below it: `values` scaled to their peak, absent ones blank.
pub fn graph(frame: &mut Frame, area: Rect, label: Line<'_>, values: &[Option<f64>], style: Style) {
    if area.height == 0 {
        return;
    }
    let head = Rect { height: 1, ..area };
    frame.render_widget(Paragraph::new(label), head);
    let bars_area = Rect {
        y: area.y + 1,
        height: area.height - 1,
        ..area
    };
    let peak = values.iter().flatten().fold(0.0_f64, |m, v| m.max(*v));
    // Scaled to a thousand steps so that fractions of a unit still show.
    let bars: Vec<SparklineBar> = values
        .iter()
        .map(|v| {
            SparklineBar::from(v.map(|v| {
                if peak > 0.0 {
                    (v / peak * 1000.0).round() as u64
                } else {
                    0
                }
            }))
        })
        .collect();
    frame.render_widget(
        Sparkline::default()
            .data(bars)
            .max(1000)
            .style(style)
            .absent_value_symbol(" "),
        bars_area,
    );
}

/// One history graph: what it shows and how its values are read from its ring.
struct Series<'a> {
    long: &'a str,
    short: &'a str,
    ring: &'a Ring,
    /// A level (stock) rather than a rate of events.
    level: bool,
}

pub struct HistoryGraphs<'a> {
    pub ctx: Ctx<'a>,
}

impl HistoryGraphs<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let h = &s.history;
        let series = [
            Series {
                long: "purchases/s",
                short: "buy/s",
                ring: &h.purchases,
                level: false,
            },
            Series {
                long: "stock (all)",
                short: "stock",
                ring: &h.total_stock,
                level: true,
            },
            Series {
                long: "sold out/s",
                short: "out/s",
                ring: &h.sold_out,
                level: false,
            },
            Series {
                long: "errors/s",
                short: "err/s",
                ring: &h.errors,
                level: false,
            },
        ];
        let n = usize::from(area.height / GRAPH_ROWS).min(series.len());
        if n == 0 || area.width == 0 {
            return;
        }
        let range = h.range.duration();
        let columns = usize::from(area.width);
        // The rows left over go to the first graphs.
        let (base, extra) = (area.height / n as u16, area.height % n as u16);
        let mut y = area.y;
        for (i, g) in series.iter().take(n).enumerate() {
            let rows = base + u16::from((i as u16) < extra);
            let values: Vec<Option<f64>> = if g.level {
                g.ring.levels(s.now, range, columns)
            } else {
                let rates = g.ring.rates(s.now, range, columns);
                rates.into_iter().map(Some).collect()
            };
            let now = values.last().copied().flatten();
            let peak = values.iter().flatten().fold(0.0_f64, |m, v| m.max(*v));
            let (now, peak) = if g.level {
                let now = now.map_or("—".into(), |v| format::count(v as i64));
                (now, format::count(peak as i64))
            } else {
                (rate(now.unwrap_or(0.0)), rate(peak))
            };
            let forms = [
                (g.long, format!("{now}  peak {peak}")),
                (g.short, format!("{now} ^{peak}")),
                (g.short, now.clone()),
            ];
            let (name, value) = forms
                .into_iter()
                .find(|(n, v)| n.width() + 1 + v.width() <= columns)
                .map_or((String::new(), now), |(n, v)| (format!("{n} "), v));
            let label = Line::from(vec![
                Span::styled(name, t.muted),
                Span::styled(value, t.text),
            ]);
            let style = if !g.level && g.long.starts_with("errors") && peak != "0" {
                t.warn
            } else {
                t.bar
            };
            let at = Rect {
                y,
                height: rows,
                ..area
            };
            graph(frame, at, label, &values, style);
            y += rows;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_short_and_whole() {
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(f64::NAN), "0");
        assert_eq!(rate(4.0), "4");
        assert_eq!(rate(0.01), "<0.1");
        assert_eq!(rate(4.46), "4.5");
        assert_eq!(rate(1234.4), "1,234");
    }
}
