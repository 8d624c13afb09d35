//! Moving around, as k9s and lazygit users expect: the Stock table's filter (typed after `/`)
//! and sort, pages and ends of lists, number keys to a pane, zoom, the events' level filter,
//! and the alerts list (silence, acknowledge).

use crossterm::event::{KeyCode, KeyEvent};

use super::{App, Effect, WHOLE_SCROLL_MAX};
use crate::action::Action;
use crate::state::{Level, Overlay, Pane};

/// How many rows a page is when the screen size is not known yet.
const DEFAULT_PAGE: usize = 10;

/// How far the help scrolls at most (it has fewer rows than this).
const HELP_SCROLL_MAX: usize = 200;

/// How long a filter may be (a product name is at most 255 characters).
const FILTER_MAX: usize = 64;

impl App {
    /// While the filter is typed, every key is text for it: Enter keeps it, Esc clears it.
    /// Returns whether the key was taken.
    pub(super) fn filter_key(&mut self, key: &KeyEvent) -> bool {
        let view = &mut self.state.stock_view;
        if !view.typing {
            return false;
        }
        match key.code {
            KeyCode::Enter => view.typing = false,
            KeyCode::Esc => {
                view.typing = false;
                view.filter.clear();
            }
            KeyCode::Backspace => {
                view.filter.pop();
            }
            KeyCode::Char(c) if !c.is_control() => {
                if view.filter.chars().count() >= FILTER_MAX {
                    self.notice(
                        Level::Warn,
                        format!("the filter is at most {FILTER_MAX} characters"),
                    );
                    return true;
                }
                view.filter.push(c);
            }
            // Arrows still move the selection among the products the filter leaves.
            KeyCode::Up | KeyCode::Down => {
                let action = if key.code == KeyCode::Up {
                    Action::Up
                } else {
                    Action::Down
                };
                self.step(action);
                return true;
            }
            _ => return true,
        }
        self.keep_selection_in_view();
        true
    }

    /// A digit not bound to anything else: focus the pane of that number (1 Stock .. 7 Events).
    pub(super) fn jump_key(&mut self, key: &KeyEvent) -> bool {
        let KeyCode::Char(c @ '1'..='7') = key.code else {
            return false;
        };
        if self.state.overlay.is_some() {
            return true;
        }
        let n = c as usize - '1' as usize;
        self.state.focus = Pane::ALL[n];
        true
    }

    /// The selection moves among the products shown, in their order; Events scroll.
    pub(super) fn step(&mut self, action: Action) {
        let page = self.page();
        let s = &mut self.state;
        if s.focus == Pane::Events {
            let max = s.log.shown_len().saturating_sub(1);
            // The scroll counts entries hidden below: up shows older ones.
            s.log.scroll = match action {
                Action::Up => s.log.scroll + 1,
                Action::Down => s.log.scroll.saturating_sub(1),
                Action::PageUp => s.log.scroll + page,
                Action::PageDown => s.log.scroll.saturating_sub(page),
                Action::First => max,
                _ => 0,
            }
            .min(max);
            return;
        }
        let shown = s.shown_products();
        if shown.is_empty() {
            return;
        }
        let last = shown.len() - 1;
        let at = s.selected_position(&shown);
        let to = match (action, at) {
            (Action::First, _) => 0,
            (Action::Last, _) => last,
            // The selected product is hidden (by the filter): from the top.
            (_, None) => 0,
            (Action::Up, Some(i)) => i.saturating_sub(1),
            (Action::Down, Some(i)) => (i + 1).min(last),
            (Action::PageUp, Some(i)) => i.saturating_sub(page),
            (_, Some(i)) => (i + page).min(last),
        };
        s.selected = shown[to];
    }

    /// After the filter changed: a selected product it hides gives way to the first it shows.
    fn keep_selection_in_view(&mut self) {
        let shown = self.state.shown_products();
        if self.state.selected_position(&shown).is_none()
            && let Some(first) = shown.first()
        {
            self.state.selected = *first;
        }
    }

    /// Rows in a page of the focused pane: its height on screen, less its frame and header.
    fn page(&self) -> usize {
        let pane = if self.state.focus == Pane::Events {
            Pane::Events
        } else {
            Pane::Stock
        };
        match self.area_of(pane) {
            Some(r) => usize::from(r.height.saturating_sub(3)).max(1),
            None => DEFAULT_PAGE,
        }
    }

    /// The actions of this module; returns whether it took `action`.
    pub(super) fn navigate(&mut self, action: Action, effects: &mut Vec<Effect>) -> bool {
        if let Some(Overlay::Alerts { .. }) = self.state.overlay {
            return self.alerts_list(action, effects);
        }
        if let Some(Overlay::Help) = self.state.overlay {
            // The help scrolls when it does not fit (the drawing stops at its last row).
            let s = &mut self.state;
            s.help_scroll = match action {
                Action::Up => s.help_scroll.saturating_sub(1),
                Action::Down => s.help_scroll + 1,
                Action::PageUp | Action::First => 0,
                Action::PageDown | Action::Last => s.help_scroll + 10,
                _ => return false,
            }
            .min(HELP_SCROLL_MAX);
            return true;
        }
        if let Some(Overlay::Whole { scroll, .. }) = &mut self.state.overlay {
            let page = 10;
            *scroll = match action {
                Action::PageUp => scroll.saturating_sub(page),
                Action::PageDown => (*scroll + page).min(WHOLE_SCROLL_MAX),
                Action::First => 0,
                Action::Last => WHOLE_SCROLL_MAX,
                _ => return false,
            };
            return true;
        }
        let s = &mut self.state;
        match action {
            Action::PageUp | Action::PageDown | Action::First | Action::Last => self.step(action),
            Action::Filter => {
                s.stock_view.typing = true;
                s.focus = Pane::Stock;
            }
            Action::Sort => {
                s.stock_view.sort = s.stock_view.sort.next();
                let text = format!("stock sorted by {}", s.stock_view.sort.word());
                self.notice(Level::Info, text);
            }
            Action::SortReverse => {
                s.stock_view.descending = !s.stock_view.descending;
                let way = if s.stock_view.descending {
                    "descending"
                } else {
                    "ascending"
                };
                let text = format!("stock sorted by {}, {way}", s.stock_view.sort.word());
                self.notice(Level::Info, text);
            }
            Action::Zoom => s.zoom = !s.zoom,
            Action::EventLevel => {
                s.log.next_filter();
                let text = match s.log.filter.note() {
                    Some(note) => format!("events: {note}"),
                    None => "events: every level".into(),
                };
                self.notice(Level::Info, text);
            }
            Action::Alerts => s.overlay = Some(Overlay::Alerts { selected: 0 }),
            Action::Silence => self.notice(Level::Info, "silence an alert from the alerts list"),
            _ => return false,
        }
        true
    }

    /// Keys in the alerts list: up/down select, `m` silences, `a` acknowledges oversells, the
    /// list's key or Esc closes. Returns whether it took `action`.
    fn alerts_list(&mut self, action: Action, effects: &mut Vec<Effect>) -> bool {
        let s = &mut self.state;
        let Some(Overlay::Alerts { selected }) = &mut s.overlay else {
            return false;
        };
        let last = s.alerts.len().saturating_sub(1);
        match action {
            Action::Up => *selected = selected.saturating_sub(1),
            Action::Down => *selected = (*selected + 1).min(last),
            Action::First | Action::PageUp => *selected = 0,
            Action::Last | Action::PageDown => *selected = last,
            Action::Alerts | Action::Back => s.overlay = None,
            Action::Silence => {
                let Some(alert) = s.alerts.get(*selected).cloned() else {
                    self.notice(Level::Info, "no alert to silence");
                    return true;
                };
                if alert
                    .key
                    .starts_with(flashsale_monitor::alerts::OVERSOLD_KEY)
                {
                    let ack = self.keymap.keys(Action::Acknowledge);
                    self.notice(
                        Level::Warn,
                        format!("an oversell is not silenced: acknowledge it ({ack})"),
                    );
                    return true;
                }
                let (now, wall) = (s.now, s.wall);
                let text = match s.alert_book.step_silence(&alert.key, now, wall) {
                    Some(silence) => format!(
                        "silenced until {}: {}",
                        s.local(silence.until_wall).format("%H:%M"),
                        alert.message
                    ),
                    None => format!("no longer silenced: {}", alert.message),
                };
                s.log.push(wall, Level::Info, text.clone());
                self.notice(Level::Info, text);
            }
            Action::Acknowledge => {
                self.acknowledge(effects);
                let s = &mut self.state;
                if let Some(Overlay::Alerts { selected }) = &mut s.overlay {
                    *selected = (*selected).min(s.alerts.len().saturating_sub(1));
                }
            }
            // The rest (help, quit, ...) as anywhere; panes' keys wait behind the list.
            Action::Quit | Action::ForceQuit | Action::Help => return false,
            _ => {}
        }
        true
    }
}
