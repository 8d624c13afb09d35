//! Issue 16, items 1 and 2: a sale with 60 products of 60-character names, 7-digit stocks and
//! sold counts and a 9-digit revenue, drawn at every size an operator meets (60x16 to 200x60).
//! Each is a stored snapshot, and each number on screen in the Stock, Top products and Revenue
//! panes is read back and checked against the data it came from: a cut number (`55625` for
//! 255,625) matches nothing and fails.

use std::time::Instant;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use super::app::App;
use super::fixture;
use super::format::read_number;
use super::layout;
use super::ui;
use flashsale_core::model::Product;
use flashsale_core::money::Money;
use flashsale_monitor::sales::{DaySales, ProductSales, SalesSnapshot};
use flashsale_monitor::{SalesCoverage, Update};

const SIZES: [(u16, u16); 6] = [
    (60, 16),
    (80, 24),
    (100, 30),
    (120, 40),
    (140, 40),
    (200, 60),
];

/// A 60-character name without digits or spaces, so that a number on a row is never part of
/// its name.
fn name(i: usize) -> String {
    let letters: String = (0..3)
        .map(|k| char::from(b'A' + ((i / 26usize.pow(k)) % 26) as u8))
        .collect();
    let mut n = format!("{letters}-Ultrawide-Curved-Monitor-Deluxe-Edition-");
    while n.len() < 60 {
        n.push('x');
    }
    n
}

fn products() -> Vec<Product> {
    (0..60)
        .map(|i| Product {
            id: i as i32 + 1,
            name: name(i),
            price: Money::from_cents(129_999 + 1_000 * i as i64),
            stock: 1_000_000 + 255_625 * i as i32 % 8_999_999,
        })
        .collect()
}

fn sales(products: &[Product]) -> SalesSnapshot {
    let per: Vec<ProductSales> = products
        .iter()
        .map(|p| ProductSales {
            product_id: p.id,
            units: 9_999_999 - 10_002 * i64::from(p.id),
            revenue: Money::from_cents(10_327_329_999 - 1_000_000 * i64::from(p.id)),
            units_last_minute: 45_714 + i64::from(p.id),
        })
        .collect();
    SalesSnapshot {
        total_revenue: Money::from_cents(per.iter().map(|p| p.revenue.cents()).sum()),
        total_units_sold: per.iter().map(|p| p.units).sum(),
        products: per,
        revenue_by_day: (19..26)
            .map(|d| DaySales {
                date: format!("2026-11-{d}"),
                revenue: Money::from_cents(12_345_678_912 + i64::from(d)),
                units: 1_000_000 + i64::from(d),
            })
            .collect(),
        watermark: 1,
        watching_ids: 0,
        given_up_ids: 0,
        coverage: SalesCoverage::AllProducts,
    }
}

fn app() -> (App, Vec<Product>, SalesSnapshot) {
    let t0 = Instant::now();
    let mut app = fixture::app(t0);
    let products = products();
    let sales = sales(&products);
    let wall = fixture::wall();
    app.update(Update::Stock(products.clone()).into(), t0, wall);
    app.update(Update::Sales(sales.clone()).into(), t0, wall);
    app.state.gauges.clear();
    app.state.now = t0;
    app.state.wall = wall;
    (app, products, sales)
}

fn render(app: &App, w: u16, h: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    term.draw(|f| ui::draw(f, &app.state, app.theme(), &app.keymap))
        .expect("draw");
    term.backend().buffer().clone()
}

/// The text of `area`, one string per row.
fn rows(buf: &Buffer, area: Rect) -> Vec<String> {
    (area.top()..area.bottom())
        .map(|y| {
            let mut line = String::new();
            let mut skip = 0;
            for x in area.left()..area.right() {
                let symbol = buf[(x, y)].symbol();
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                line.push_str(symbol);
                skip = unicode_width::UnicodeWidthStr::width(symbol).saturating_sub(1);
            }
            line
        })
        .collect()
}

/// Every token of `line` that reads as a number, with its value and tolerance.
fn numbers(line: &str) -> Vec<(String, f64, f64)> {
    line.split(|c: char| c.is_whitespace() || c == '│')
        .filter(|t| t.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .filter_map(|t| read_number(t).map(|(v, tol)| (t.to_string(), v, tol)))
        .collect()
}

fn matches_one_of(token: &(String, f64, f64), values: &[f64]) -> bool {
    values.iter().any(|v| (v - token.1).abs() <= token.2 + 1e-6)
}

#[test]
fn every_number_on_screen_is_whole_at_every_size() {
    let (app, products, sales) = app();
    for (w, h) in SIZES {
        let buf = render(&app, w, h);
        insta::assert_snapshot!(
            format!("big_numbers_{w}x{h}"),
            rows(&buf, buf.area).join("\n")
        );
        let a = layout::areas(buf.area, products.len()).expect("fits");

        // Stock: rows in product order below the header; every number is one of the row's.
        let stock_rows = rows(&buf, a.stock);
        let header = stock_rows
            .iter()
            .position(|l| l.contains("product") && l.contains("stock"))
            .unwrap_or_else(|| panic!("{w}x{h}: no Stock header"));
        let mut checked = 0;
        for (line, p) in stock_rows[header + 1..].iter().zip(&products) {
            if !line.contains("-Ultrawide") && !line.contains('…') {
                break;
            }
            let sold = sales.of(p.id).expect("sold");
            let values = [
                p.price.cents() as f64 / 100.0,
                f64::from(p.stock),
                sold.units as f64,
                sold.units_last_minute as f64,
            ];
            let found = numbers(line);
            assert!(found.len() >= 2, "{w}x{h}: price and stock on {line:?}");
            for token in &found {
                assert!(
                    matches_one_of(token, &values),
                    "{w}x{h}: {:?} on {line:?} is none of {values:?}",
                    token.0
                );
            }
            assert!(
                found
                    .iter()
                    .any(|t| matches_one_of(t, &[f64::from(p.stock)])),
                "{w}x{h}: the stock of #{} on {line:?}",
                p.id
            );
            checked += 1;
        }
        assert!(checked > 0, "{w}x{h}: no stock row read");

        // Top products: "N. name  units sold  revenue", best first.
        let mut top_checked = 0;
        for line in rows(&buf, a.top) {
            let Some((rank, rest)) = line.trim_start_matches('│').trim().split_once(". ") else {
                continue;
            };
            let Ok(rank) = rank.parse::<usize>() else {
                continue;
            };
            let p = &sales.products[rank - 1];
            let values = [p.units as f64, p.revenue.cents() as f64 / 100.0];
            for token in numbers(rest) {
                assert!(
                    matches_one_of(&token, &values),
                    "{w}x{h}: {:?} in {line:?} is none of {values:?}",
                    token.0
                );
            }
            assert!(
                numbers(rest)
                    .iter()
                    .any(|t| matches_one_of(t, &[p.units as f64])),
                "{w}x{h}: units of rank {rank} in {line:?}"
            );
            top_checked += 1;
        }
        assert!(top_checked > 0, "{w}x{h}: no top product read");

        // Revenue: the totals line and the amounts under the bars.
        let week: i64 = sales.revenue_by_day.iter().map(|d| d.revenue.cents()).sum();
        let totals = [
            sales.total_revenue.cents() as f64 / 100.0,
            sales.total_units_sold as f64,
            week as f64 / 100.0,
        ];
        let days: Vec<f64> = sales
            .revenue_by_day
            .iter()
            .map(|d| d.revenue.cents() as f64 / 100.0)
            .collect();
        // The chart's own columns: the history graphs beside it have numbers of their own.
        let (chart, _) = crate::panes::revenue::split(crate::panes::inner(a.revenue, a.wide));
        let revenue_rows = rows(&buf, chart);
        let totals_line = revenue_rows
            .iter()
            .find(|l| l.contains("total "))
            .unwrap_or_else(|| panic!("{w}x{h}: no totals line"));
        // "7 days" is a label, not a figure.
        let found = numbers(&totals_line.replace("7 days", "days"));
        assert!(!found.is_empty(), "{w}x{h}: {totals_line:?}");
        for token in &found {
            assert!(
                matches_one_of(token, &totals),
                "{w}x{h}: {:?} in {totals_line:?}",
                token.0
            );
        }
        for line in revenue_rows.iter().filter(|l| !l.contains("total ")) {
            for token in numbers(line) {
                // Dates (`11-19`) read as no number; every amount is one of the days'.
                assert!(
                    matches_one_of(&token, &days),
                    "{w}x{h}: {:?} in {line:?} is no day's revenue",
                    token.0
                );
            }
        }
    }
}
