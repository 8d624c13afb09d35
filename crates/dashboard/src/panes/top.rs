//! Top products by units sold, with their revenue: three, or as many as there is room for.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::Ctx;
use crate::format;
use crate::state::Pane;
use flashsale_core::money::Money;
use flashsale_monitor::SalesCoverage;
use unicode_width::UnicodeWidthStr;

/// A top product's units and revenue in words that leave its name room: in full when they
/// do, else abbreviated (`10k sold`, `255.6k`), else without the revenue; never cut. With the
/// gap between them.
fn top_figures(
    units: i64,
    revenue: Option<Money>,
    room: usize,
    name_w: usize,
) -> (String, String, usize) {
    // A name needs this much before the figures give way: enough to tell products apart.
    let want = name_w.min(12) + 1;
    let gap = if revenue.is_some() { 2 } else { 0 };
    let full_units = format!("{} sold", format::count(units));
    let full_revenue = revenue.map(format::money).unwrap_or_default();
    if full_units.width() + full_revenue.width() + gap + want <= room {
        return (full_units, full_revenue, gap);
    }
    let short_units = format!("{} sold", format::fit_count(units, 5));
    let short_revenue = revenue.map(|r| format::fit_money(r, 6)).unwrap_or_default();
    if short_units.width() + short_revenue.width() + gap + want <= room {
        return (short_units, short_revenue, gap);
    }
    (short_units, String::new(), 0)
}

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
                let rank = format!("{}. ", i + 1);
                let (units, revenue, gap) = top_figures(
                    p.units,
                    with_revenue.then_some(p.revenue),
                    w.saturating_sub(rank.len()),
                    name.width(),
                );
                let name_w =
                    w.saturating_sub(rank.len() + units.width() + revenue.width() + gap + 1);
                let name = format::fit(&name, name_w);
                let pad = w.saturating_sub(
                    rank.len() + name.width() + units.width() + revenue.width() + gap,
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
