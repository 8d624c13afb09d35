//! One file per pane, each a small struct with `draw(&self, frame, area)` reading the state
//! through a [`Ctx`]. The helpers here give every pane the same frame: a title that says when
//! the pane has focus (a marker, not only a colour) and how old its data is.

pub mod activity;
pub mod alerts;
pub mod burst;
pub mod burst_history;
pub mod dialog;
pub mod drill;
pub mod events;
pub mod footer;
pub mod header;
pub mod help;
pub mod history_graphs;
pub mod limits;
pub mod pool;
pub mod redis;
pub mod redis_detail;
pub mod replicas;
pub mod revenue;
pub mod stock;
pub mod top;
pub mod whole;

use std::time::Duration;

use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders};

use super::format;
use super::keymap::Keymap;
use super::state::{Pane, Sampled, State};
use super::theme::Theme;

/// What every pane reads.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub state: &'a State,
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
    /// The wide arrangement: boxed panes, more detail.
    pub wide: bool,
}

impl<'a> Ctx<'a> {
    /// The pane's frame: boxed when wide, a title rule when compact.
    pub fn block(&self, pane: Pane, title: &'a str, extra: Vec<Span<'a>>) -> Block<'a> {
        let focused = self.state.focus == pane;
        let t = self.theme;
        let mut spans = vec![Span::styled(
            if focused {
                format!("▶ {title} ")
            } else {
                format!(" {title} ")
            },
            t.title(focused),
        )];
        spans.extend(extra);
        frame(self.wide)
            .border_style(t.border(focused))
            .title(Line::from(spans))
            .style(t.base)
    }

    /// A title note for data that is old or failing: "stale 12s", "retrying".
    pub fn freshness<T>(&self, sampled: &Sampled<T>) -> Vec<Span<'a>> {
        let s = self.state;
        let mut out = Vec::new();
        if s.paused && sampled.value.is_some() {
            return vec![Span::styled(" paused ", self.theme.muted)];
        }
        if let Some(age) = sampled.stale(s.now, s.refresh) {
            out.push(Span::styled(
                format!(" stale {} ", format::age(age)),
                self.theme.stale,
            ));
        }
        if sampled.error.is_some() {
            out.push(Span::styled(" retrying ", self.theme.warn));
        }
        out
    }

    /// The text shown while a source has never answered, or withholds its data.
    pub fn waiting<T>(&self, sampled: &Sampled<T>) -> Line<'a> {
        if let Some(reason) = &sampled.withheld {
            return Line::styled(reason.clone(), self.theme.info);
        }
        match &sampled.error {
            Some(e) => Line::from(vec![
                Span::styled("no data: ", self.theme.warn),
                Span::styled(e.clone(), self.theme.muted),
            ]),
            None => Line::styled("waiting for the first sample…", self.theme.muted),
        }
    }
}

/// What panes that need direct access say over the API (`--api`).
pub const NEEDS_DIRECT: &str = "watching over the API";

/// A pane's bare frame: boxed when wide, a title rule when compact.
fn frame<'a>(wide: bool) -> Block<'a> {
    if wide {
        Block::bordered().border_type(BorderType::Rounded)
    } else {
        Block::new().borders(Borders::TOP)
    }
}

/// What is left inside a pane's frame (where a click on its content lands).
pub fn inner(area: ratatui::layout::Rect, wide: bool) -> ratatui::layout::Rect {
    frame(wide).inner(area)
}

/// A dependency as the server's health report gives it: `up 0.42 ms`, `DOWN since 12:33:41`,
/// `not configured`; styled for what it says.
pub fn dependency<'a>(
    ctx: &Ctx<'a>,
    dep: &flashsale_api::Dependency,
    down_since: Option<chrono::DateTime<chrono::Utc>>,
) -> Span<'a> {
    let t = ctx.theme;
    match dep.status.as_str() {
        "up" => Span::styled(
            match dep.latency_ms {
                Some(ms) => format!("up {} ms", format::ms(ms)),
                None => "up".into(),
            },
            t.ok,
        ),
        "down" => Span::styled(
            match down_since {
                Some(since) => format!("DOWN since {}", ctx.state.local(since).format("%H:%M:%S")),
                None => "DOWN".into(),
            },
            t.critical,
        ),
        other => Span::styled(other.to_string(), t.info),
    }
}

/// A label and a value, the value emphasized.
pub fn kv<'a>(t: &Theme, label: &'a str, value: String) -> [Span<'a>; 2] {
    [Span::styled(label, t.muted), Span::styled(value, t.text)]
}

/// Key hints (`enter apply  esc cancel  ↑↓ field`) on as many lines as `width` needs, a hint
/// never split across lines.
pub fn key_hints<'a>(t: &Theme, hints: &[(String, &str)], width: u16) -> Vec<Line<'a>> {
    let width = width as usize;
    let mut lines = Vec::new();
    let mut spans: Vec<Span<'a>> = Vec::new();
    let mut used = 0;
    for (key, label) in hints {
        let w = key.chars().count() + 1 + label.chars().count();
        if used > 0 && used + 2 + w > width {
            lines.push(Line::from(std::mem::take(&mut spans)));
            used = 0;
        }
        if used > 0 {
            spans.push(Span::styled("  ", t.muted));
            used += 2;
        }
        spans.push(Span::styled(key.clone(), t.key));
        spans.push(Span::styled(format!(" {label}"), t.muted));
        used += w;
    }
    if !spans.is_empty() {
        lines.push(Line::from(spans));
    }
    lines
}

/// A text gauge of `width` cells: filled blocks then shaded ones (readable without colour).
pub fn gauge_cells(ratio: f64, width: usize) -> (String, String) {
    let r = if ratio.is_finite() {
        ratio.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let filled = (r * width as f64).round() as usize;
    ("█".repeat(filled), "░".repeat(width - filled.min(width)))
}

/// Seconds until a product sells out at `per_minute`, in words.
pub fn sell_out(stock: i32, per_minute: i64) -> String {
    if stock <= 0 {
        "SOLD OUT".into()
    } else if per_minute <= 0 {
        "—".into()
    } else {
        format::age(Duration::from_secs_f64(
            f64::from(stock) * 60.0 / per_minute as f64,
        ))
    }
}

/// Draws one pane in `area`.
pub fn draw_pane(
    ctx: Ctx<'_>,
    pane: Pane,
    frame: &mut ratatui::Frame,
    area: ratatui::layout::Rect,
) {
    match pane {
        Pane::Stock => stock::StockPane { ctx }.draw(frame, area),
        Pane::Burst => burst::BurstPane { ctx }.draw(frame, area),
        Pane::Revenue => revenue::RevenuePane { ctx }.draw(frame, area),
        Pane::Top => top::TopPane { ctx }.draw(frame, area),
        Pane::Pool => pool::PoolPane { ctx }.draw(frame, area),
        Pane::Redis => redis::RedisPane { ctx }.draw(frame, area),
        Pane::Events => events::EventsPane { ctx }.draw(frame, area),
    }
}
