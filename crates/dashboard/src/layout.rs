//! Where each pane goes. Two arrangements, chosen by size; below the minimum the screen says
//! so instead of drawing unreadable panes.
//!
//! Compact (80x24 and up to 119 columns or 35 rows): panes have a title rule, not a box.
//!
//! ```text
//!  header: flashsale │ backend │ strategy │ refresh │ LIVE │ clock
//!  status: database errors / alerts / notices
//!  ─Stock──────────────────────────── ─Burst──────────────────
//!  ─Revenue (7 days)───────────────── │ params, gauge, verdict
//!  ─Top products────────────────────── ─Pool───────────────────
//!  ─Events──────────────────────────── ─Redis──────────────────
//!  footer: key hints (generated from the keymap)
//! ```
//!
//! Wide (120x36 and more): boxed panes, an alert row, three bands.
//!
//! ```text
//!  header / status / alerts
//!  ┌Stock──────────────────────┐┌Burst───────────────────┐
//!  ┌Revenue──────┐┌Top───────┐┌Pool──────────────────────┐
//!  ┌Redis────────────────┐┌Events──────────────────────────┐
//!  footer
//! ```

use ratatui::layout::{Constraint, Layout, Rect};

use crate::state::Pane;

/// Smallest screen the dashboard draws on.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// From this size on, the wide arrangement.
pub const WIDE_WIDTH: u16 = 120;
pub const WIDE_HEIGHT: u16 = 36;
/// The right column of the compact arrangement (burst, pool, Redis).
const COMPACT_RIGHT: u16 = 29;

/// Every pane's rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub status: Rect,
    /// Its own row in the wide arrangement; in the compact one alerts share the status row.
    pub alerts: Option<Rect>,
    pub stock: Rect,
    pub burst: Rect,
    pub revenue: Rect,
    pub top: Rect,
    pub pool: Rect,
    pub redis: Rect,
    pub events: Rect,
    pub footer: Rect,
    pub wide: bool,
}

impl Areas {
    /// The place of `pane`.
    pub fn of(&self, pane: Pane) -> Rect {
        match pane {
            Pane::Stock => self.stock,
            Pane::Burst => self.burst,
            Pane::Revenue => self.revenue,
            Pane::Top => self.top,
            Pane::Pool => self.pool,
            Pane::Redis => self.redis,
            Pane::Events => self.events,
        }
    }
}

/// Where a zoomed pane goes: everything between the header rows and the footer.
pub fn zoomed(a: &Areas) -> Rect {
    let top = a.alerts.unwrap_or(a.status).bottom();
    Rect::new(
        a.header.x,
        top,
        a.header.width,
        a.footer.y.saturating_sub(top),
    )
}

/// Lays out `area` for `products` stock rows; `None` when it is too small.
pub fn areas(area: Rect, products: usize) -> Option<Areas> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    let rows = products.clamp(1, 20) as u16;
    Some(if area.width >= WIDE_WIDTH && area.height >= WIDE_HEIGHT {
        wide(area, rows)
    } else {
        compact(area, rows)
    })
}

fn compact(area: Rect, rows: u16) -> Areas {
    let [header, status, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    // A column of space between the two sides: compact panes have no side borders.
    let [left, right] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(COMPACT_RIGHT)])
            .spacing(1)
            .areas(body);
    let [stock, revenue, top, events] = Layout::vertical([
        Constraint::Length(rows + 2),
        Constraint::Length(6),
        Constraint::Length(4),
        Constraint::Min(2),
    ])
    .areas(left);
    let [burst, pool, redis] = Layout::vertical([
        Constraint::Min(8),
        Constraint::Length(5),
        Constraint::Length(6),
    ])
    .areas(right);
    Areas {
        header,
        status,
        alerts: None,
        stock,
        burst,
        revenue,
        top,
        pool,
        redis,
        events,
        footer,
        wide: false,
    }
}

fn wide(area: Rect, rows: u16) -> Areas {
    let [header, status, alerts, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let [band_a, band_b, band_c] = Layout::vertical([
        Constraint::Length((rows + 4).max(17)),
        Constraint::Length(12),
        Constraint::Min(8),
    ])
    .areas(body);
    let [stock, burst] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(band_a);
    let [revenue, top, pool] = Layout::horizontal([
        Constraint::Percentage(40),
        Constraint::Percentage(28),
        Constraint::Percentage(32),
    ])
    .areas(band_b);
    let [redis, events] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(band_c);
    Areas {
        header,
        status,
        alerts: Some(alerts),
        stock,
        burst,
        revenue,
        top,
        pool,
        redis,
        events,
        footer,
        wide: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eighty_by_twenty_four_fits_every_pane() {
        let a = areas(Rect::new(0, 0, 80, 24), 5).expect("fits");
        assert!(!a.wide);
        assert_eq!(a.stock.height, 7);
        assert_eq!(a.burst.width, COMPACT_RIGHT);
        assert!(a.events.height >= 2, "{a:?}");
        assert!(
            a.redis.height >= 6 && a.pool.height >= 5 && a.burst.height >= 10,
            "{a:?}"
        );
    }

    #[test]
    fn large_screens_get_the_wide_arrangement() {
        let a = areas(Rect::new(0, 0, 160, 48), 5).expect("fits");
        assert!(a.wide && a.alerts.is_some());
    }

    #[test]
    fn too_small_is_none() {
        assert!(areas(Rect::new(0, 0, 20, 5), 5).is_none());
    }
}
