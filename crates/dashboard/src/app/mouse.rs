//! The mouse: a click focuses the pane under it (and on the Stock pane selects the product
//! clicked), the wheel scrolls what is under it (the drill-down's orders while it is open, which
//! a click outside closes). Clicks are placed with the same layout the
//! screen is drawn with, from the terminal size the last resize reported.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::{App, Effect};
use crate::action::Action;
use crate::layout;
use crate::panes::{drill, stock};
use crate::state::{Overlay, Pane};

impl App {
    pub(super) fn mouse(&mut self, ev: MouseEvent, effects: &mut Vec<Effect>) {
        let at = Position::new(ev.column, ev.row);
        match ev.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let action = if ev.kind == MouseEventKind::ScrollUp {
                    Action::Up
                } else {
                    Action::Down
                };
                match self.state.overlay {
                    // A question waits for its answer, not for scrolling.
                    Some(Overlay::Confirm(_)) => {}
                    // An overlay covers the panes: it scrolls (or ignores) as its keys do.
                    Some(_) => self.action(action, effects),
                    None => {
                        if let Some((pane, _)) = self.pane_at(at) {
                            self.state.focus = pane;
                            self.action(action, effects);
                        }
                    }
                }
            }
            MouseEventKind::Down(MouseButton::Left) => match self.state.overlay {
                // A click closes the help and the limits prompt (its text stays for next time).
                Some(Overlay::Help | Overlay::Limits) => self.state.overlay = None,
                Some(Overlay::Activity) => self.activity_click(at),
                // A click outside the drill-down closes it (as Esc does).
                Some(Overlay::Drill(_)) => {
                    let (w, h) = self.state.screen.unwrap_or((0, 0));
                    if !drill::popup(Rect::new(0, 0, w, h)).contains(at) {
                        self.state.overlay = None;
                    }
                }
                Some(Overlay::Bursts { .. }) => self.click_burst(at.y),
                Some(_) => {}
                None => self.click(at),
            },
            _ => {}
        }
    }

    fn click(&mut self, at: Position) {
        let Some((pane, area)) = self.pane_at(at) else {
            return;
        };
        self.state.focus = pane;
        let Some(wide) = self.areas().map(|a| a.wide) else {
            return;
        };
        if pane != Pane::Stock {
            return;
        }
        let s = &mut self.state;
        let shown = s.shown_products();
        let selected = s.selected_position(&shown).unwrap_or(0);
        let filtering = s.stock_view.shows_filter();
        if let Some(i) = stock::product_at(area, wide, filtering, selected, shown.len(), at.y) {
            s.selected = shown[i];
        }
    }

    /// A click in the activity view selects the backend of the row clicked.
    fn activity_click(&mut self, at: Position) {
        let Some((w, h)) = self.state.screen else {
            return;
        };
        let screen = Rect::new(0, 0, w, h);
        if let Some(i) = crate::panes::activity::backend_at(&self.state, screen, at.y) {
            self.state.activity.select(i);
        }
    }

    /// The panes' places on the screen as last drawn, `None` before the size is known.
    pub(super) fn areas(&self) -> Option<layout::Areas> {
        let (w, h) = self.state.screen?;
        let products = self.state.stock.value.as_ref().map_or(5, Vec::len);
        layout::areas(Rect::new(0, 0, w, h), products)
    }

    /// Where `pane` is drawn: its place, or the whole body when zoomed (the others are not
    /// drawn then).
    pub(super) fn area_of(&self, pane: Pane) -> Option<Rect> {
        let a = self.areas()?;
        if self.state.zoom {
            return (pane == self.state.focus).then(|| layout::zoomed(&a));
        }
        Some(a.of(pane))
    }

    /// The pane drawn at `at` and its place, if any.
    fn pane_at(&self, at: Position) -> Option<(Pane, Rect)> {
        Pane::ALL
            .into_iter()
            .filter_map(|p| Some((p, self.area_of(p)?)))
            .find(|(_, r)| r.contains(at))
    }
}
