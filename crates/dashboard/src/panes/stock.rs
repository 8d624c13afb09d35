//! Stock: every product with price, stock, a gauge against the stock seen at start (or set by
//! restock), units sold, units sold over the last minute and the time to sell out at that rate.
//! The selected row (marked ▶) is the burst target.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use super::{Ctx, gauge_cells, sell_out};
use crate::format;
use crate::state::Pane;

pub struct StockPane<'a> {
    pub ctx: Ctx<'a>,
}

impl StockPane<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let block = self
            .ctx
            .block(Pane::Stock, "Stock", self.ctx.freshness(&s.stock));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let Some(products) = &s.stock.value else {
            frame.render_widget(
                Paragraph::new(self.ctx.waiting(&s.stock)).wrap(Wrap { trim: true }),
                inner,
            );
            return;
        };
        let wide = self.ctx.wide;
        // name (with the ▶ marker), price, stock, gauge, sold, /min, sells out in
        let fixed: [u16; 6] = if wide {
            [10, 6, 20, 7, 6, 9]
        } else {
            [7, 5, 5, 4, 4, 5]
        };
        let spacing = 1u16;
        let used: u16 = fixed.iter().sum::<u16>() + spacing * fixed.len() as u16;
        let name_w = inner.width.saturating_sub(used).max(4);
        let sales = s.sales.value.as_ref();
        let header = Row::new(
            [
                "  product",
                "price",
                "stock",
                "left",
                "sold",
                "/min",
                if wide { "out in" } else { "out" },
            ]
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                let l = Line::from(h);
                Cell::from(if i == 0 || i == 3 {
                    l
                } else {
                    l.right_aligned()
                })
            }),
        )
        .style(t.muted);
        let gauge_w = fixed[2] as usize;
        let rows = products.iter().enumerate().map(|(i, p)| {
            let start = s.start_stock.get(&p.id).copied().unwrap_or(p.stock).max(1);
            // Over the API only the server's top products' sales are known: the others show
            // `—`, not a zero that would be a guess.
            let sold = match sales {
                Some(x) => x.of(p.id),
                None if s.over_api() => None,
                None => Some(flashsale_monitor::sales::ProductSales {
                    product_id: p.id,
                    units: 0,
                    revenue: flashsale_core::money::Money::ZERO,
                    units_last_minute: 0,
                }),
            };
            // Over the API, sell rates come from the stock polls, for every product.
            let per_min = if s.over_api() {
                s.sell_rates.per_minute(p.id)
            } else {
                sold.map(|q| q.units_last_minute)
            };
            let units_cell = sold.map_or("—".to_string(), |q| {
                format::count_short(q.units.max(0) as u64)
            });
            let per_min_cell = per_min.map_or("—".to_string(), |n| n.to_string());
            let per_min = per_min.unwrap_or(0);
            let (fill, rest) = gauge_cells(f64::from(p.stock) / f64::from(start), gauge_w);
            let low = p.stock < s.thresholds.low_stock;
            let gauge_style = if p.stock == 0 {
                t.critical
            } else if low {
                t.warn
            } else {
                t.gauge
            };
            let selected = i == s.selected;
            let name = if wide {
                format!("#{} {}", p.id, p.name)
            } else {
                p.name.clone()
            };
            let marker = if selected { "▶ " } else { "  " };
            // Compact: "now" fits the column; the stock cell and the gauge say it too.
            let out = if !wide && p.stock <= 0 {
                "now".to_string()
            } else {
                sell_out(p.stock, per_min)
            };
            let out_style = if p.stock == 0 { t.critical } else { t.text };
            let row = Row::new(vec![
                Cell::from(format!(
                    "{marker}{}",
                    format::fit(&name, name_w.saturating_sub(2) as usize)
                )),
                Cell::from(
                    Line::from(if wide {
                        format::money(p.price)
                    } else {
                        p.price.to_string()
                    })
                    .right_aligned(),
                ),
                Cell::from(
                    Line::from(Span::styled(
                        p.stock.to_string(),
                        if low { t.warn } else { t.text },
                    ))
                    .right_aligned(),
                ),
                Cell::from(Line::from(vec![
                    Span::styled(fill, gauge_style),
                    Span::styled(rest, t.muted),
                ])),
                Cell::from(Line::from(units_cell).right_aligned()),
                Cell::from(Line::from(per_min_cell).right_aligned()),
                Cell::from(Line::from(Span::styled(out, out_style)).right_aligned()),
            ]);
            if selected && s.focus == Pane::Stock {
                row.style(t.selected)
            } else {
                row.style(t.text)
            }
        });
        let widths = std::iter::once(Constraint::Length(name_w))
            .chain(fixed.iter().map(|w| Constraint::Length(*w)));
        let visible = inner.height.saturating_sub(1) as usize;
        let skip = s.selected.saturating_sub(visible.saturating_sub(1));
        let table = Table::new(rows.skip(skip), widths)
            .header(header)
            .column_spacing(spacing);
        frame.render_widget(table, inner);
    }
}
