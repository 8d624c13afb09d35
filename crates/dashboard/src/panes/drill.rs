//! The drill-down of one product (`enter` on a Stock row), over the panes: its stock, price and
//! sell rate; the last restock seen; the bursts fired at it here; its stock and sell rate over
//! the last 15 minutes as graphs; its latest orders (scrolled with the arrows and the wheel);
//! and the restock target being typed. Facts wrap, never cut.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::history_graphs::{graph, rate};
use super::{Ctx, sell_out};
use crate::action::Action;
use crate::format;
use crate::state::Drill;
use crate::state::history::SPAN;

/// Where the drill-down goes on a screen of `area`: everything between the header and the
/// footer (a click outside it closes it).
pub fn popup(area: Rect) -> Rect {
    Rect {
        y: area.y + 1,
        height: area.height.saturating_sub(2),
        ..area
    }
}

/// Rows of bars per graph: more on tall screens.
fn graph_rows(height: u16) -> u16 {
    if height >= 40 { 8 } else { 2 }
}

pub struct DrillOverlay<'a> {
    pub ctx: Ctx<'a>,
    pub drill: &'a Drill,
}

impl DrillOverlay<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let k = |a| self.ctx.keymap.keys(a);
        let id = self.drill.product_id;
        let product = s.stock.value.iter().flatten().find(|p| p.id == id);
        let name = product.map_or_else(|| "gone from the stock list".into(), |p| p.name.clone());
        let popup = popup(area);
        frame.render_widget(Clear, popup);
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .title(Line::styled(format!(" ▶ #{id} {name} "), t.title_focused))
            .title_bottom(Line::styled(
                format!(
                    " {} restock  {} orders  {} back ",
                    k(Action::Restock),
                    k(Action::Down),
                    k(Action::Back)
                ),
                t.muted,
            ))
            .border_style(t.border_focused)
            .style(t.popup);
        let inner = block.inner(popup);
        frame.render_widget(block, popup);
        let w = usize::from(inner.width.max(1));
        let mut facts: Vec<String> = Vec::new();
        let per_minute = s.history.per_minute(id, s.now);
        if let Some(p) = product {
            facts.push(format!("stock {}", format::count(i64::from(p.stock))));
            facts.push(format!("price {}", format::money(p.price)));
            facts.push(format!("sells {}/min", rate(per_minute)));
            // "sold out in 4m", or "SOLD OUT" alone once it is.
            let out = sell_out(p.stock, per_minute.round() as i64);
            facts.push(if p.stock > 0 {
                format!("sold out in {out}")
            } else {
                out
            });
        }
        let mut lines: Vec<Line> = format::pack(facts.iter().map(String::as_str), " · ", w)
            .into_iter()
            .map(|l| Line::styled(l, t.text))
            .collect();
        let restock = match s.history.restocks.get(&id) {
            Some(r) => {
                let ago = format::age(s.now.saturating_duration_since(r.at));
                let from = r.from.map_or(String::new(), |f| {
                    format!("{} → ", format::count(i64::from(f)))
                });
                let by = if r.ours { "from here" } else { "seen rising" };
                format!(
                    "last restock {} ({ago} ago): {from}{}, {by}",
                    s.local(r.wall).format("%H:%M:%S"),
                    format::count(i64::from(r.to))
                )
            }
            None => "last restock: none seen this session".into(),
        };
        let bursts = match s.history.bursts.get(&id) {
            Some(b) => format!(
                "bursts here {} · purchased {} · sold out {} · rate-limited {} · errors {}",
                b.bursts,
                format::count(b.purchased as i64),
                format::count(b.sold_out as i64),
                format::count(b.rate_limited as i64),
                format::count(b.errors as i64)
            ),
            None => "bursts here: none yet".into(),
        };
        for text in [restock, bursts] {
            let parts: Vec<&str> = text.split(" · ").collect();
            lines.extend(
                format::pack(parts, " · ", w)
                    .into_iter()
                    .map(|l| Line::styled(l, t.muted)),
            );
        }
        if let Some(typed) = &self.drill.typing {
            lines.push(Line::from(vec![
                Span::styled("restock to: ", t.text),
                Span::styled(format!("{typed}▏"), t.selected),
                Span::styled("  enter asks  esc stops", t.muted),
            ]));
        }
        let head = u16::try_from(lines.len())
            .unwrap_or(u16::MAX)
            .min(inner.height);
        frame.render_widget(
            Paragraph::new(lines),
            Rect {
                height: head,
                ..inner
            },
        );
        let rest = Rect {
            y: inner.y + head,
            height: inner.height - head,
            ..inner
        };
        let rows = graph_rows(area.height) + 1;
        let charts = if rest.height >= rows * 2 + 3 { rows } else { 0 };
        if charts > 0 {
            self.charts(
                frame,
                Rect {
                    height: charts,
                    ..rest
                },
                per_minute,
            );
        }
        let orders = Rect {
            y: rest.y + charts,
            height: rest.height - charts,
            ..rest
        };
        self.orders(frame, orders);
    }

    /// Stock and units sold per minute over the last 15 minutes: side by side when wide, else
    /// the stock alone.
    fn charts(&self, frame: &mut Frame, area: Rect, per_minute: f64) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let id = self.drill.product_id;
        let side = area.width >= 60;
        let half = if side {
            (area.width - 1) / 2
        } else {
            area.width
        };
        let left = Rect {
            width: half,
            ..area
        };
        let stock = s
            .history
            .stock
            .get(&id)
            .map(|r| r.levels(s.now, SPAN, usize::from(half)))
            .unwrap_or_else(|| vec![None; usize::from(half)]);
        let low = stock.iter().flatten().fold(f64::INFINITY, |m, v| m.min(*v));
        let high = stock.iter().flatten().fold(0.0_f64, |m, v| m.max(*v));
        let label = if low.is_finite() {
            format!(
                "stock, last 15m: low {} high {}",
                format::count(low as i64),
                format::count(high as i64)
            )
        } else {
            "stock, last 15m: no samples yet".into()
        };
        graph(frame, left, Line::styled(label, t.muted), &stock, t.bar);
        if !side {
            return;
        }
        let right = Rect {
            x: area.x + half + 1,
            width: area.width - half - 1,
            ..area
        };
        // Units per minute: the stock samples' drops, per slice.
        let sold: Vec<Option<f64>> = s
            .history
            .sold
            .get(&id)
            .map(|r| r.rates(s.now, SPAN, usize::from(right.width)))
            .unwrap_or_else(|| vec![0.0; usize::from(right.width)])
            .into_iter()
            .map(|v| Some(v * 60.0))
            .collect();
        let peak = sold.iter().flatten().fold(0.0_f64, |m, v| m.max(*v));
        let label = format!(
            "sold/min, last 15m: now {} peak {}",
            rate(per_minute),
            rate(peak)
        );
        graph(frame, right, Line::styled(label, t.muted), &sold, t.bar);
    }

    /// The latest orders, newest first, from the scroll position on.
    fn orders(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        if area.height == 0 {
            return;
        }
        let id = self.drill.product_id;
        let list = s.orders.value.as_ref().filter(|o| o.product_id == id);
        let mut lines = Vec::new();
        let Some(list) = list else {
            let text = match &s.orders.error {
                Some(e) => format!("orders: {e}"),
                None => "reading the latest orders…".into(),
            };
            for l in format::wrap(&text, usize::from(area.width)) {
                lines.push(Line::styled(l, t.muted));
            }
            return frame.render_widget(Paragraph::new(lines), area);
        };
        let n = list.orders.len();
        let from = self.drill.scroll.min(n.saturating_sub(1));
        let shown = usize::from(area.height.saturating_sub(1));
        let to = (from + shown).min(n);
        let age = s
            .orders
            .age(s.now)
            .filter(|a| *a >= Duration::from_secs(3))
            .map(|a| format!(", read {} ago", format::age(a)))
            .unwrap_or_default();
        let head = if n == 0 {
            format!("latest orders: none{age}")
        } else {
            format!("latest orders {}-{to} of {n}{age}", from + 1)
        };
        lines.push(Line::styled(head, t.title));
        let wide = area.width >= 70;
        for o in list.orders.iter().skip(from).take(shown) {
            // The time as HH:MM:SS of the day it was (RFC 3339 text from the store).
            let time = o.created_at.get(11..19).unwrap_or(&o.created_at);
            let mut row = format!(
                "{:>8}  {time}  {:>4} × {:>10}  ",
                o.id,
                o.quantity,
                format::money(o.total_price)
            );
            if wide {
                row.push_str(&format!("{:<10} ", o.status));
            }
            let room = usize::from(area.width).saturating_sub(row.chars().count());
            row.push_str(&format::fit(&o.user_id, room));
            lines.push(Line::styled(row, t.text));
        }
        frame.render_widget(Paragraph::new(lines), area);
    }
}
