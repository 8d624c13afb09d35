//! Stock: every product with price, stock, a gauge against the stock it had before its known
//! sales (or since its last restock; `state/gauges.rs`), or the OVERSOLD marker in its place
//! while an oversell awaits acknowledgement, units sold, units sold over the last minute and the time to sell out at that rate.
//! Columns are sized to their figures ([`Columns::fit`]): a number is abbreviated, never cut.
//! The selected row (marked ▶) is the burst target.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use super::{Ctx, gauge_cells, sell_out};
use crate::format;
use crate::state::{Pane, SortBy};
use flashsale_core::model::Product;
use unicode_width::UnicodeWidthStr;

pub struct StockPane<'a> {
    pub ctx: Ctx<'a>,
}

const COLUMN_SPACING: u16 = 1;

/// In the gauge's place on the row of a product an audit found oversold (until acknowledged).
const MARKER: &str = "OVERSOLD";

/// The Stock pane's columns, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Name,
    Price,
    Stock,
    Gauge,
    Sold,
    PerMin,
    Out,
}

impl Col {
    fn header(self, wide: bool) -> &'static str {
        match self {
            Col::Name => "  product",
            Col::Price => "price",
            Col::Stock => "stock",
            Col::Gauge => "left",
            Col::Sold => "sold",
            Col::PerMin => "/min",
            Col::Out if wide => "out in",
            Col::Out => "out",
        }
    }
}

/// What one row shows beside the product's own fields.
struct RowFigures {
    /// Units sold; `None` when not known (over the API, outside the server's top products).
    sold: Option<i64>,
    per_min: Option<i64>,
    /// When it sells out at that rate.
    out: String,
}

/// Column widths sized to the figures they must show. Names get room first (up to a useful
/// length); then, while the row is too wide, the gauge narrows, then "out in", "/min" and the
/// gauge are dropped, and only then are numbers abbreviated (`255.6k`): a number is never cut.
#[derive(Debug)]
struct Columns {
    name: u16,
    /// Each column after the name with its width; 0: not shown.
    rest: [(Col, u16); 6],
}

impl Columns {
    fn shown(&self) -> impl Iterator<Item = (Col, u16)> + '_ {
        std::iter::once((Col::Name, self.name))
            .chain(self.rest.iter().copied().filter(|(_, w)| *w > 0))
    }

    /// `oversold`: some row shows the OVERSOLD marker in the gauge's place, which then keeps
    /// the marker's width for as long as anything else can give way.
    fn fit(
        width: u16,
        wide: bool,
        oversold: bool,
        products: &[&Product],
        figures: &[RowFigures],
    ) -> Columns {
        let widest = |texts: &mut dyn Iterator<Item = String>, header: Col| {
            texts
                .map(|t| t.width() as u16)
                .max()
                .unwrap_or(0)
                .max(header.header(wide).width() as u16)
        };
        // Compact: prices without thousands separators, as they were (`1299.99`).
        let price = widest(
            &mut products.iter().map(|p| {
                if wide {
                    format::money(p.price)
                } else {
                    p.price.to_string()
                }
            }),
            Col::Price,
        );
        let stock = widest(
            &mut products.iter().map(|p| format::count(i64::from(p.stock))),
            Col::Stock,
        );
        let sold = widest(
            &mut figures
                .iter()
                .map(|f| f.sold.map_or("—".into(), format::count)),
            Col::Sold,
        );
        let per_min = widest(
            &mut figures
                .iter()
                .map(|f| f.per_min.map_or("—".into(), format::count)),
            Col::PerMin,
        );
        let out = widest(&mut figures.iter().map(|f| f.out.clone()), Col::Out);
        let name_full = products
            .iter()
            .map(|p| {
                let id = if wide {
                    format!("#{} ", p.id).width()
                } else {
                    0
                };
                (id + p.name.width() + 2) as u16
            })
            .max()
            .unwrap_or(0);
        // Names first, up to this much; the rest of a long name may give way to numbers.
        let name_want = name_full.min(if wide { 26 } else { 14 });
        let mut rest = [
            (Col::Price, price),
            (Col::Stock, stock),
            (
                Col::Gauge,
                if wide {
                    20
                } else if oversold {
                    MARKER.len() as u16
                } else {
                    5
                },
            ),
            (Col::Sold, sold),
            (Col::PerMin, per_min),
            (Col::Out, out),
        ];
        let used = |rest: &[(Col, u16); 6]| -> u16 {
            rest.iter()
                .filter(|(_, w)| *w > 0)
                .map(|(_, w)| w + COLUMN_SPACING)
                .sum()
        };
        let set = |rest: &mut [(Col, u16); 6], col: Col, f: &dyn Fn(u16) -> u16| {
            for (c, w) in rest.iter_mut() {
                if *c == col {
                    *w = f(*w);
                }
            }
        };
        // Each step gives numbers or names more room; stop at the first that fits.
        let marker = MARKER.len() as u16;
        let gauge_floor = move |w: u16| w.min(if oversold { marker } else { 4 });
        let steps: [(Col, &dyn Fn(u16) -> u16); 9] = [
            (Col::Gauge, &|w| w.min(8)),
            (Col::Gauge, &gauge_floor),
            (Col::Out, &|_| 0),
            (Col::PerMin, &|_| 0),
            (Col::Gauge, &|_| 0),
            // Abbreviated numbers: money needs 6 for `255.6k`, counts 5 for `1.23M`.
            (Col::Price, &|w| w.min(6)),
            (Col::Sold, &|w| w.min(5)),
            (Col::Stock, &|w| w.min(5)),
            (Col::Price, &|w| w.min(5)),
        ];
        for (col, step) in steps {
            if name_want + used(&rest) <= width {
                break;
            }
            set(&mut rest, col, step);
        }
        Columns {
            name: width.saturating_sub(used(&rest)).max(4),
            rest,
        }
    }
}

impl StockPane<'_> {
    /// Units sold, sold over the last minute, and when it sells out, for `p`.
    fn figures(&self, p: &Product) -> RowFigures {
        let s = self.ctx.state;
        // Over the API only the server's top products' sales are known: the others show `—`,
        // not a zero that would be a guess; sell rates then come from the stock polls.
        let (sold, per_min) = (s.units_sold(p), s.sold_per_minute(p));
        // Compact: "now" fits the column; the stock cell and the gauge say it too. Oversold:
        // the stock figure lies (lost updates), so no time is told from it.
        let out = if s.oversell(p.id).is_some() {
            "—".to_string()
        } else if !self.ctx.wide && p.stock <= 0 {
            "now".to_string()
        } else {
            sell_out(p.stock, per_min.unwrap_or(0))
        };
        RowFigures { sold, per_min, out }
    }

    /// The title's note: the selected row's place among those shown (`3/5`, `1/2 of 5` when
    /// filtered) and the order when not the listed one (`by price ▼`).
    fn view_note(&self, shown: &[usize]) -> Vec<Span<'static>> {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let Some(all) = s.stock.value.as_ref().map(Vec::len) else {
            return Vec::new();
        };
        let at = s.selected_position(shown).map_or(0, |i| i + 1);
        let mut note = format!("{at}/{}", shown.len());
        if shown.len() != all {
            note.push_str(&format!(" of {all}"));
        }
        let view = &s.stock_view;
        if view.sort != SortBy::Listed || view.descending {
            let arrow = if view.descending { '▼' } else { '▲' };
            note.push_str(&format!(" by {} {arrow}", view.sort.word()));
        }
        note.push(' ');
        vec![Span::styled(note, t.muted)]
    }

    /// The filter as typed (with a cursor while typing) and what Enter and Esc do.
    fn filter_line(&self, nothing: bool) -> Line<'static> {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let view = &s.stock_view;
        let mut spans = vec![
            Span::styled("/", t.key),
            Span::styled(view.filter.clone(), t.text),
        ];
        if view.typing {
            spans.push(Span::styled("▏ enter keeps, esc clears", t.muted));
        } else {
            let clear = self.ctx.keymap.keys(crate::action::Action::Filter);
            spans.push(Span::styled(
                format!("  ({clear} edits, esc there clears)"),
                t.muted,
            ));
        }
        if nothing {
            spans.push(Span::styled("  no product matches", t.warn));
        }
        Line::from(spans)
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let shown = s.shown_products();
        let mut extra = self.ctx.freshness(&s.stock);
        extra.extend(self.view_note(&shown));
        let block = self.ctx.block(Pane::Stock, "Stock", extra);
        let mut inner = block.inner(area);
        frame.render_widget(block, area);
        let Some(all) = &s.stock.value else {
            frame.render_widget(
                Paragraph::new(self.ctx.waiting(&s.stock)).wrap(Wrap { trim: true }),
                inner,
            );
            return;
        };
        if s.stock_view.shows_filter() {
            let [line, rest] =
                Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
            frame.render_widget(Paragraph::new(self.filter_line(shown.is_empty())), line);
            inner = rest;
        }
        let products: Vec<&Product> = shown.iter().map(|&i| &all[i]).collect();
        let wide = self.ctx.wide;
        // Every row's figures first, so the columns can be sized to what they must show.
        let figures: Vec<RowFigures> = products.iter().map(|p| self.figures(p)).collect();
        let oversold = products.iter().any(|p| s.oversell(p.id).is_some());
        let cols = Columns::fit(inner.width, wide, oversold, &products, &figures);
        let has_gauge = cols.shown().any(|(c, _)| c == Col::Gauge);
        let spacing = COLUMN_SPACING;
        let header = Row::new(
            cols.shown()
                .map(|(col, _)| col.header(wide))
                .enumerate()
                .map(|(i, h)| {
                    let l = Line::from(h);
                    Cell::from(if i == 0 || h == "left" {
                        l
                    } else {
                        l.right_aligned()
                    })
                }),
        )
        .style(t.muted);
        let rows = products
            .iter()
            .zip(&figures)
            .zip(&shown)
            .map(|((p, f), &i)| {
                let full = s.gauge_full(p);
                let oversell = s.oversell(p.id);
                let low = p.stock < s.thresholds.low_stock;
                let gauge_style = if p.stock == 0 {
                    t.critical
                } else if low {
                    t.warn
                } else {
                    t.gauge
                };
                let selected = i == s.selected;
                let mut name = if wide {
                    format!("#{} {}", p.id, p.name)
                } else {
                    p.name.clone()
                };
                if oversell.is_some() && !has_gauge {
                    name = format!("{MARKER} {name}");
                }
                let marker = if selected { "▶ " } else { "  " };
                let out = f.out.clone();
                let out_style = if p.stock == 0 { t.critical } else { t.text };
                let cells = cols.shown().map(|(col, w)| {
                    let w = w as usize;
                    match col {
                        Col::Name => Cell::from(format!(
                            "{marker}{}",
                            format::fit(&name, w.saturating_sub(2))
                        )),
                        Col::Price => {
                            Cell::from(Line::from(format::fit_money(p.price, w)).right_aligned())
                        }
                        Col::Stock => Cell::from(
                            Line::from(Span::styled(
                                format::fit_count(i64::from(p.stock), w),
                                if low { t.warn } else { t.text },
                            ))
                            .right_aligned(),
                        ),
                        Col::Gauge if oversell.is_some() => {
                            // As much of the verdict as fits: all, the oversell alone, the word.
                            let text = oversell
                                .map(|o| {
                                    [
                                        format!("{MARKER} {}", o.verdict()),
                                        format!("{MARKER} by {}", o.oversold),
                                    ]
                                })
                                .into_iter()
                                .flatten()
                                .find(|l| l.width() <= w && !l.ends_with(" by 0"))
                                .unwrap_or_else(|| MARKER.to_string());
                            Cell::from(Span::styled(format::fit(&text, w), t.verdict_bad))
                        }
                        Col::Gauge => {
                            let (fill, rest) = gauge_cells(f64::from(p.stock) / f64::from(full), w);
                            Cell::from(Line::from(vec![
                                Span::styled(fill, gauge_style),
                                Span::styled(rest, t.muted),
                            ]))
                        }
                        Col::Sold => Cell::from(
                            Line::from(f.sold.map_or("—".to_string(), |n| format::fit_count(n, w)))
                                .right_aligned(),
                        ),
                        Col::PerMin => Cell::from(
                            Line::from(
                                f.per_min
                                    .map_or("—".to_string(), |n| format::fit_count(n, w)),
                            )
                            .right_aligned(),
                        ),
                        Col::Out => Cell::from(
                            Line::from(Span::styled(format::fit(&out, w), out_style))
                                .right_aligned(),
                        ),
                    }
                });
                let row = Row::new(cells.collect::<Vec<_>>());
                if selected && s.focus == Pane::Stock {
                    row.style(t.selected)
                } else {
                    row.style(t.text)
                }
            });
        let widths = cols.shown().map(|(_, w)| Constraint::Length(w));
        let skip = first_shown(s.selected_position(&shown).unwrap_or(0), inner);
        let table = Table::new(rows.skip(skip), widths)
            .header(header)
            .column_spacing(spacing);
        frame.render_widget(table, inner);
    }
}

/// The first product row shown in a table drawn in `inner`: scrolled just enough to keep the
/// selected row in sight (the header takes the first line).
fn first_shown(selected: usize, inner: Rect) -> usize {
    let visible = inner.height.saturating_sub(1) as usize;
    selected.saturating_sub(visible.saturating_sub(1))
}

/// The product on line `y` of the Stock pane drawn in `area`, as a place among the `shown`
/// rows (`selected`: the selected row's place), if a product row is there. `filtering`: the
/// filter's line sits above the table.
pub fn product_at(
    area: Rect,
    wide: bool,
    filtering: bool,
    selected: usize,
    shown: usize,
    y: u16,
) -> Option<usize> {
    let mut inner = super::inner(area, wide);
    if filtering {
        inner.y += 1;
        inner.height = inner.height.saturating_sub(1);
    }
    let first_row = inner.y + 1;
    if y < first_row || y >= inner.y + inner.height {
        return None;
    }
    let i = first_shown(selected, inner) + usize::from(y - first_row);
    (i < shown).then_some(i)
}
