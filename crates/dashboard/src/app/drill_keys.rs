//! The drill-down's keys and data: opening it on the selected product (its orders fetched
//! then, and again after each stock sample while it stays open, one fetch at a time), scrolling
//! the orders, and `r`: a restock target typed in, then the restock dialog every restock goes
//! through, which gives way to the drill-down again once answered.

use crossterm::event::{KeyCode, KeyEvent};

use super::{App, Effect};
use crate::action::Action;
use crate::state::drill_view::{DRILL_ORDERS, RESTOCK_MAX};
use crate::state::{Confirm, Drill, Level, Overlay, Pending, RecentOrders};

/// The longest restock target typed (1000000 has seven digits).
const TARGET_DIGITS: usize = 7;

impl App {
    /// Opens the drill-down on the selected product and asks for its orders.
    pub(super) fn open_drill(&mut self, effects: &mut Vec<Effect>) {
        let Some(id) = self.state.selected_product().map(|p| p.id) else {
            return self.notice(Level::Warn, "no product selected");
        };
        if self.state.orders.value.as_ref().map(|o| o.product_id) != Some(id) {
            // Another product's orders would pass for this one's.
            self.state.orders = Default::default();
        }
        self.state.overlay = Some(Overlay::Drill(Drill::new(id)));
        self.fetch_orders(id, effects);
    }

    fn fetch_orders(&mut self, product_id: i32, effects: &mut Vec<Effect>) {
        if self.state.orders_pending {
            return;
        }
        self.state.orders_pending = true;
        effects.push(Effect::FetchOrders {
            product_id,
            limit: DRILL_ORDERS,
        });
    }

    /// After a stock sample: the open drill-down's orders again (the sample says sales moved).
    pub(super) fn drill_refresh(&mut self, effects: &mut Vec<Effect>) {
        if let Some(Overlay::Drill(d)) = &self.state.overlay {
            let id = d.product_id;
            self.fetch_orders(id, effects);
        }
    }

    pub(super) fn orders_arrived(
        &mut self,
        product_id: i32,
        result: Result<Vec<flashsale_core::store::recent::RecentOrder>, String>,
    ) {
        let s = &mut self.state;
        s.orders_pending = false;
        match result {
            Ok(orders) => {
                let fresh = RecentOrders { product_id, orders };
                s.orders.set(fresh, s.now);
            }
            Err(e) => {
                if s.orders.error.as_ref() != Some(&e) {
                    s.log
                        .push(s.wall, Level::Error, format!("recent orders: {e}"));
                }
                s.orders.error = Some(e);
            }
        }
    }

    /// While a restock target is typed, every key is text for it: digits, Backspace, Enter
    /// asks to restock to it, Esc stops typing. Returns whether the key was taken.
    pub(super) fn drill_key(&mut self, key: &KeyEvent) -> bool {
        let Some(Overlay::Drill(drill)) = &mut self.state.overlay else {
            return false;
        };
        let Some(typed) = &mut drill.typing else {
            return false;
        };
        match key.code {
            KeyCode::Esc => drill.typing = None,
            KeyCode::Backspace => {
                typed.pop();
            }
            KeyCode::Char(c) if c.is_ascii_digit() && typed.len() < TARGET_DIGITS => typed.push(c),
            // An eighth digit would pass the bound whatever it is: not taken.
            KeyCode::Char(c) if c.is_ascii_digit() => {}
            KeyCode::Enter => {
                let text = typed.clone();
                match text.parse::<i32>() {
                    Ok(stock) if (0..=RESTOCK_MAX).contains(&stock) => {
                        drill.typing = None;
                        let id = drill.product_id;
                        self.ask_restock(Some(id), stock);
                    }
                    _ => self.notice(
                        Level::Warn,
                        format!("restock target: a whole number from 0 to {RESTOCK_MAX}"),
                    ),
                }
            }
            KeyCode::Char(c) if !c.is_control() => self.notice(
                Level::Warn,
                format!("restock target: digits only ('{c}' is not one)"),
            ),
            _ => {}
        }
        true
    }

    /// The drill-down's actions; returns whether it took `action`.
    pub(super) fn drill_action(&mut self, action: Action, _effects: &mut Vec<Effect>) -> bool {
        let shown = self
            .state
            .orders
            .value
            .as_ref()
            .map_or(0, |o| o.orders.len());
        let read_only = self.state.read_only;
        let restock_to = self.state.burst.params.restock_to;
        let Some(Overlay::Drill(drill)) = &mut self.state.overlay else {
            return false;
        };
        let last = shown.saturating_sub(1);
        match action {
            Action::Up => drill.scroll = drill.scroll.saturating_sub(1),
            Action::Down => drill.scroll = (drill.scroll + 1).min(last),
            Action::PageUp => drill.scroll = drill.scroll.saturating_sub(10),
            Action::PageDown => drill.scroll = (drill.scroll + 10).min(last),
            Action::First => drill.scroll = 0,
            Action::Last => drill.scroll = last,
            Action::Back | Action::Activate => self.state.overlay = None,
            Action::Restock if read_only => self.notice(
                Level::Warn,
                "read-only: bursts and restocks are disabled (started with --read-only)",
            ),
            Action::Restock => drill.typing = Some(restock_to.to_string()),
            // As anywhere: quit, help, the graphs' range.
            Action::Quit | Action::ForceQuit | Action::Help | Action::HistoryRange => {
                return false;
            }
            _ => {}
        }
        true
    }

    /// The restock dialog for product `id` (else the selected one) to `stock`; a notice instead
    /// when there is no database to restock or no such product.
    pub(super) fn ask_restock(&mut self, id: Option<i32>, stock: i32) {
        let s = &mut self.state;
        let database = match &s.conn.api {
            None => s.conn.short.clone(),
            Some(api) => match &api.database {
                Some(db) => format!("{db} (--database-url)"),
                None => {
                    return self.notice(
                        Level::Warn,
                        "restock needs the database: the API has none (start with \
                         --database-url to restock)",
                    );
                }
            },
        };
        let p = match id {
            Some(id) => s.stock.value.iter().flatten().find(|p| p.id == id),
            None => s.selected_product(),
        };
        let Some(p) = p else {
            return self.notice(Level::Warn, "no product selected");
        };
        let confirm = Confirm {
            title: "Restock".into(),
            lines: vec![
                format!("Set the stock of {} (#{}) to {stock}?", p.name, p.id),
                format!("It is {} now. Database: {database}", p.stock),
            ],
            on_yes: Pending::Restock {
                product_id: p.id,
                name: p.name.clone(),
                stock,
            },
            // From the drill-down, back to it once answered.
            back: s.overlay.take().map(Box::new),
        };
        s.overlay = Some(Overlay::Confirm(confirm));
    }
}
