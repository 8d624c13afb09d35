//! `App::update`: the one place state changes. Events come in (keys through the keymap as
//! actions, sampler snapshots, burst progress); writes go out as [`Effect`]s for the runtime to
//! carry out, so update itself does no I/O and is driven directly by tests. Keys and actions
//! are handled here; data from the samplers and the burst engine in `feed.rs`.

mod activity_keys;
mod burst_list;
mod drill_keys;
mod feed;
mod fire;
mod limits_keys;
mod mouse;
mod navigate;
mod remembered;

pub use remembered::Given;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use super::event::Event;
use super::keymap::Keymap;
use super::state::editor::EditOutcome;
use super::state::{
    BurstPhase, BurstRequest, Editor, Field, Level, Notice, Overlay, Pane, REFRESH_STEPS, State,
};
use super::theme::{Theme, ThemeSet};

/// How long a notice stays in the status line.
const NOTICE_FOR: Duration = Duration::from_secs(5);

/// A write for the runtime to carry out; its result comes back as an [`Event`].
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    StartBurst(BurstRequest),
    CancelBurst,
    Restock {
        product_id: i32,
        stock: i32,
    },
    /// Keep these oversells (this database's, unacknowledged) in the oversells file, in place
    /// of what it held for this database.
    SaveOversells(Vec<flashsale_monitor::Oversell>),
    /// Start (`true`) or stop the activity sampler: the activity view opened or closed.
    WatchActivity(bool),
    /// Cancel or end backend `pid` (confirmed in the activity view).
    Signal {
        pid: i32,
        signal: flashsale_core::store::activity::Signal,
    },
    /// Read a user's (and an address's) rate-limit windows.
    LookUpLimits(crate::state::Who),
    /// Delete these windows (confirmed in the limits prompt).
    ResetLimits {
        who: crate::state::Who,
        keys: Vec<String>,
    },
    /// Read the latest `limit` orders of a product (the drill-down's list).
    FetchOrders {
        product_id: i32,
        limit: i64,
    },
    /// Save a burst's report into `<state dir>/bursts/`, as JSON and as text.
    ExportBurst(Box<crate::state::BurstRecord>),
    /// Write the preferences file with this content (a preference changed).
    SavePrefs(crate::prefs::Prefs),
}

/// How far a pane read whole scrolls at most (the drawing stops at its last line anyway).
const WHOLE_SCROLL_MAX: u16 = 1_000;

/// The dashboard: its state, its keys and its themes.
#[derive(Debug, Clone)]
pub struct App {
    pub state: State,
    pub keymap: Keymap,
    pub themes: ThemeSet,
    /// The preferences file and what of it is on screen ([`App::load_prefs`]).
    prefs: remembered::Remembered,
}

impl App {
    pub fn new(state: State, keymap: Keymap, themes: ThemeSet) -> App {
        let mut app = App {
            state,
            keymap,
            themes,
            prefs: remembered::Remembered::default(),
        };
        app.state.theme_name = app.themes.get(app.state.theme).name.clone();
        app.prefs = remembered::Remembered::new(&app.state);
        app
    }

    pub fn theme(&self) -> &Theme {
        self.themes.get(self.state.theme)
    }

    /// Applies one event at `now` / `wall`, returning the writes to carry out.
    pub fn update(&mut self, event: Event, now: Instant, wall: DateTime<Utc>) -> Vec<Effect> {
        let s = &mut self.state;
        s.now = now;
        s.wall = wall;
        if s.notice.as_ref().is_some_and(|n| n.until <= now) {
            s.notice = None;
        }
        let mut effects = Vec::new();
        let event_was_input = matches!(event, Event::Key(_) | Event::Mouse(_));
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.key(key, &mut effects),
            Event::Key(_) => {}
            Event::Mouse(m) => self.mouse(m, &mut effects),
            Event::Resize(w, h) => s.screen = Some((w, h)),
            // The error-rate window moves with the clock.
            Event::Tick => self.refresh_alerts(),
            Event::Monitor(update) => {
                let stock = matches!(update, flashsale_monitor::Update::Stock(_));
                self.monitor(update);
                if stock {
                    self.drill_refresh(&mut effects);
                }
                self.refresh_alerts();
            }
            Event::RecentOrders { product_id, result } => self.orders_arrived(product_id, result),
            Event::ConnectFailed {
                error,
                retry_in_secs,
            } => {
                if s.connect_error.as_ref().map(|(e, _)| e) != Some(&error) {
                    // Over the API the error says it already ("API unreachable: ...").
                    let text = if s.over_api() {
                        error.clone()
                    } else {
                        format!("cannot open the database: {error}")
                    };
                    s.log.push(wall, Level::Error, text);
                }
                s.connect_error = Some((error, retry_in_secs));
            }
            Event::Connected => {
                s.connect_error = None;
                s.connected = true;
                let what = if let Some(text) = s.replicas.watching() {
                    text
                } else if s.over_api() {
                    format!("watching {} over its API", s.conn.database)
                } else {
                    format!("connected to {}", s.conn.database)
                };
                s.log.push(wall, Level::Ok, what);
            }
            Event::Note(level, text) => s.log.push(wall, level, text),
            Event::BurstProgress(p) => self.progress(p),
            Event::BurstFinished(result) => self.finished(result, &mut effects),
            Event::Restocked(Ok((id, stock))) => {
                s.gauges.restocked(id, stock, s.sales.value.as_ref());
                let before = s.stock.value.iter().flatten().find(|p| p.id == id);
                let before = before.map(|p| p.stock);
                s.history.restocked(now, wall, id, before, stock);
                if let Some(p) = s
                    .stock
                    .value
                    .as_mut()
                    .and_then(|v| v.iter_mut().find(|p| p.id == id))
                {
                    p.stock = stock;
                }
                s.log.push(
                    wall,
                    Level::Ok,
                    format!("restocked product {id} to {stock}"),
                );
                self.refresh_alerts();
            }
            Event::Restocked(Err(e)) => {
                s.log
                    .push(wall, Level::Error, format!("restock failed: {e}"));
                self.notice(Level::Error, format!("restock failed: {e}"));
            }
            Event::Signalled {
                pid,
                signal,
                result,
            } => self.signalled(pid, signal, result),
            Event::LimitsFound(result) => self.limits_found(result),
            Event::LimitsReset(who, result) => self.limits_reset(who, result, &mut effects),
            Event::Exported(result) => self.exported(result),
            Event::Signal(name) => {
                s.log.push(wall, Level::Warn, format!("{name}: leaving"));
                s.leave_now = true;
                if s.burst.is_running() {
                    effects.push(Effect::CancelBurst);
                }
                s.quit = Some(crate::Ending::Signal(name));
            }
        }
        self.watch_activity(&mut effects);
        // Only the operator's keys and clicks change a preference.
        if event_was_input {
            self.remember_prefs(&mut effects);
        }
        effects
    }

    fn notice(&mut self, level: Level, text: impl Into<String>) {
        self.state.notice = Some(Notice {
            text: text.into(),
            level,
            until: self.state.now + NOTICE_FOR,
        });
    }

    fn key(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return self.action(Action::ForceQuit, effects);
        }
        // The editor takes every key: its fields are text.
        if let Some(editor) = self.state.burst.editor.as_mut() {
            match editor.key(&key) {
                EditOutcome::Editing => {}
                EditOutcome::Cancelled => {
                    self.state.burst.editor = None;
                    self.notice(Level::Info, "burst parameters unchanged");
                }
                EditOutcome::Applied(p) => {
                    self.state.burst.params = p;
                    self.state.burst.editor = None;
                    self.notice(Level::Ok, "burst parameters set");
                }
                EditOutcome::Refused(why) => self.notice(Level::Error, why),
            }
            return;
        }
        if self.filter_key(&key) || self.limits_key(&key, effects) || self.drill_key(&key) {
            return;
        }
        if let Some(action) = self.keymap.action(&key) {
            self.action(action, effects);
        } else {
            self.jump_key(&key);
        }
    }

    /// Carries out one action.
    pub fn action(&mut self, action: Action, effects: &mut Vec<Effect>) {
        // Dialogs first: they answer y/n/Enter/Esc and swallow the rest.
        if let Some(Overlay::Confirm(c)) = &self.state.overlay {
            match action {
                Action::Confirm | Action::Activate => {
                    let pending = c.on_yes.clone();
                    // Back to the view that asked (the activity view, the limits prompt, a
                    // drill-down), or to the panes.
                    self.state.overlay = c.back.clone().map(|b| *b);
                    self.carry_out(pending, effects);
                }
                Action::Deny | Action::Back | Action::Quit => {
                    self.state.overlay = c.back.clone().map(|b| *b);
                    self.notice(Level::Info, "cancelled");
                }
                Action::ForceQuit => {
                    self.state.leave_now = true;
                    self.quit(effects);
                }
                _ => {}
            }
            return;
        }
        if self.operator(action)
            || self.drill_action(action, effects)
            || self.burst_list(action, effects)
            || self.navigate(action, effects)
        {
            return;
        }
        // Reading a pane whole: the arrows scroll it, `v` or Enter closes it, Esc as anywhere.
        if let Some(Overlay::Whole { scroll, .. }) = &mut self.state.overlay {
            match action {
                Action::Up => return *scroll = scroll.saturating_sub(1),
                Action::Down => return *scroll = (*scroll + 1).min(WHOLE_SCROLL_MAX),
                Action::Whole | Action::Activate => return self.state.overlay = None,
                _ => {}
            }
        }
        if self.state.read_only && action.writes() {
            return self.notice(
                Level::Warn,
                "read-only: bursts and restocks are disabled (started with --read-only)",
            );
        }
        let s = &mut self.state;
        match action {
            Action::Quit => self.quit(effects),
            Action::ForceQuit => {
                s.leave_now = true;
                self.quit(effects);
            }
            Action::Help => {
                s.help_scroll = 0;
                s.overlay = match s.overlay {
                    Some(Overlay::Help) => None,
                    _ => Some(Overlay::Help),
                }
            }
            Action::Back => {
                if s.overlay.take().is_some() {
                } else if let BurstPhase::Running { cancelling, .. } = &mut s.burst.phase {
                    if !*cancelling {
                        *cancelling = true;
                        effects.push(Effect::CancelBurst);
                        s.log.push(
                            s.wall,
                            Level::Warn,
                            "burst cancelled: in-flight purchases finish, then the audit runs",
                        );
                    }
                } else if s.focus != Pane::Stock {
                    s.focus = Pane::Stock;
                }
            }
            Action::FocusNext | Action::Right => s.focus = s.focus.next(),
            Action::FocusPrev | Action::Left => s.focus = s.focus.prev(),
            Action::Up | Action::Down => self.step(action),
            Action::Activate => match s.focus {
                Pane::Burst => self.fire(),
                Pane::Stock => self.open_drill(effects),
                Pane::Events => {
                    s.overlay = Some(Overlay::Whole {
                        pane: Pane::Events,
                        scroll: 0,
                    })
                }
                _ => {}
            },
            Action::Whole => {
                s.overlay = Some(Overlay::Whole {
                    pane: s.focus,
                    scroll: 0,
                })
            }
            Action::Fire => self.fire(),
            Action::CycleStrategy if s.over_api() => {
                let text = match s.server_strategy() {
                    Some(name) => format!(
                        "the strategy is the server's ({name}): it cannot be changed over the API"
                    ),
                    None => {
                        "the strategy is the server's: it cannot be changed over the API".into()
                    }
                };
                self.notice(Level::Info, text);
            }
            Action::CycleStrategy => {
                let next = s.burst.params.strategy.next();
                s.burst.params.strategy = next;
                if next.is_unsafe() {
                    self.notice(
                        Level::Warn,
                        "strategy naive is UNSAFE: it oversells, on purpose",
                    );
                } else {
                    self.notice(Level::Info, format!("strategy {next}"));
                }
            }
            Action::Edit => {
                if s.burst.is_running() {
                    return self.notice(Level::Warn, "a burst is running (Esc cancels it)");
                }
                let editor = Editor::new(&s.burst.params, s.conn.max_quantity);
                // Over the API the server's strategy applies: no field to pretend otherwise.
                s.burst.editor = Some(if s.over_api() {
                    editor.without(Field::Strategy)
                } else {
                    editor
                });
                s.focus = Pane::Burst;
            }
            Action::Restock => {
                let stock = s.burst.params.restock_to;
                self.ask_restock(None, stock);
            }
            Action::HistoryRange => {
                s.history.range = s.history.range.next();
                let text = format!("history graphs over {}", s.history.range.word());
                self.notice(Level::Info, text);
            }
            Action::Pause => {
                s.paused = !s.paused;
                let what = if s.paused { "paused" } else { "live again" };
                s.log.push(s.wall, Level::Info, what);
            }
            Action::Faster | Action::Slower => {
                let i = REFRESH_STEPS
                    .iter()
                    .position(|d| *d >= s.refresh)
                    .unwrap_or(REFRESH_STEPS.len() - 1);
                let j = if action == Action::Faster {
                    i.saturating_sub(1)
                } else {
                    (i + 1).min(REFRESH_STEPS.len() - 1)
                };
                s.refresh = REFRESH_STEPS[j];
                let text = format!("refresh every {}", super::format::duration(s.refresh));
                self.notice(Level::Info, text);
            }
            Action::CycleTheme => {
                s.theme = (s.theme + 1) % self.themes.len().max(1);
                s.theme_name = self.themes.get(s.theme).name.clone();
                let text = format!("theme {}", s.theme_name);
                self.notice(Level::Info, text);
            }
            Action::Acknowledge => self.acknowledge(effects),
            // Taken by `navigate` above.
            Action::Filter
            | Action::Sort
            | Action::SortReverse
            | Action::PageUp
            | Action::PageDown
            | Action::First
            | Action::Last
            | Action::Zoom
            | Action::EventLevel
            | Action::Alerts
            | Action::Silence => {}
            // Taken by `operator` above.
            Action::Activity
            | Action::CancelBackend
            | Action::TerminateBackend
            | Action::Limits
            | Action::ResetLimits => {}
            // Taken by `burst_list` above.
            Action::Bursts | Action::Export => {}
            Action::Confirm | Action::Deny => {}
        }
    }

    fn quit(&mut self, effects: &mut Vec<Effect>) {
        if self.state.burst.is_running() {
            effects.push(Effect::CancelBurst);
        }
        self.state.quit = Some(crate::Ending::Quit);
    }
}
