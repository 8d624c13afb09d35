//! Top products by units sold, with their revenue: three, or as many as there is room for.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::Ctx;
use crate::format;
use crate::state::Pane;
use flashsale_monitor::SalesCoverage;

pub struct TopPane<'a> {
    pub ctx: Ctx<'a>,
}

impl TopPane<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let block = self
            .ctx
            .block(Pane::Top, "Top products", self.ctx.freshness(&s.sales));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let Some(sales) = &s.sales.value else {
            frame.render_widget(
                Paragraph::new(self.ctx.waiting(&s.sales)).wrap(Wrap { trim: true }),
                inner,
            );
            return;
        };
        let names = s.stock.value.as_deref().unwrap_or_default();
        let room = (inner.height as usize)
            .max(flashsale_core::model::TOP_PRODUCTS.min(inner.height as usize));
        let w = inner.width as usize;
        // The server's statistics (over the API) list the top products without their revenue.
        let with_revenue = sales.coverage == SalesCoverage::AllProducts;
        let mut lines: Vec<Line> = sales
            .products
            .iter()
            .take(room)
            .enumerate()
            .map(|(i, p)| {
                let name = names
                    .iter()
                    .find(|n| n.id == p.product_id)
                    .map_or_else(|| format!("#{}", p.product_id), |n| n.name.clone());
                let units = format!("{} sold", format::count(p.units));
                let revenue = if with_revenue {
                    format::money(p.revenue)
                } else {
                    String::new()
                };
                let rank = format!("{}. ", i + 1);
                let gap = if with_revenue { 2 } else { 0 };
                let name_w = w.saturating_sub(rank.len() + units.len() + revenue.len() + gap + 2);
                let name = format::fit(&name, name_w);
                let pad = w.saturating_sub(
                    rank.len() + name.chars().count() + units.len() + revenue.len() + gap,
                );
                Line::from(vec![
                    Span::styled(rank, t.muted),
                    Span::styled(name, t.text),
                    Span::raw(" ".repeat(pad)),
                    Span::styled(units, t.text),
                    Span::raw(" ".repeat(gap)),
                    Span::styled(revenue, t.muted),
                ])
            })
            .collect();
        if !with_revenue && !lines.is_empty() && lines.len() < inner.height as usize {
            lines.push(Line::styled(
                "the server's top products; their revenue is not in its statistics",
                t.muted,
            ));
        }
        if lines.is_empty() {
            frame.render_widget(Paragraph::new(Line::styled("no sales yet", t.muted)), inner);
        } else if !with_revenue {
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        } else {
            frame.render_widget(Paragraph::new(lines), inner);
        }
    }
}
