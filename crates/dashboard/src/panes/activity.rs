//! The activity view (`d`), pg_activity's screen for our database: commit rates, the longest
//! transaction and the locks on `products` on top; one row per backend (pid, application,
//! state, running time, blocked-by; at 110 columns and more also the wait event, the
//! transaction's age and the idle-in-transaction age); under them every fact of the selected
//! backend and its query (whole with `v`). Numbers are never cut: a column too narrow for a
//! list says how many more there are, and the details line says them all.
//!
//! ```text
//!  ╭ Database activity · sale · 4 backends ────────────────╮
//!  │ 12.0 commits/s · 0.0 rollbacks/s · sampled 12:34:56    │  summary
//!  │ longest transaction: 4312 (psql) 3m12s idle in tx      │
//!  │ locks on products: 4312 RowExclusiveLock, ...          │
//!  │   PID APPLICATION    STATE      RUNNING BLOCKED  QUERY │  table
//!  │ ▶ 4400 pg_sleeper    active      12.3 s -        SEL…  │
//!  │ pid 4400 · user postgres · wait Timeout:PgSleep · ...  │  details
//!  │ SELECT pg_sleep(30)                                    │
//!  ╰ ↑↓ select  x cancel  X terminate  v whole  esc closes ╯
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::Ctx;
use crate::action::Action;
use crate::format;
use crate::state::State;
use flashsale_core::store::activity::{
    Activity, BackendRow, NO_SERVER, ProductLock, duration_text,
};

/// From this inner width on, the table has the wait and transaction columns too.
const WIDE_FROM: u16 = 110;
/// Columns (characters) of the narrow table's fixed part.
const PID_W: usize = 7;
const STATE_W: usize = 10;
const DUR_W: usize = 7;
const BLOCKED_W: usize = 9;
const WAIT_W: usize = 20;

pub struct ActivityOverlay<'a> {
    pub ctx: Ctx<'a>,
}

/// Where things go inside the view, the same for drawing and for placing a click.
struct Plan {
    summary: Vec<String>,
    /// The table: its header row, then the rows.
    table: Rect,
    /// The first row shown (scrolled to keep the selection in view).
    first: usize,
    details: Rect,
}

/// The view's frame: over every pane, between the header and the footer (which stay).
pub fn popup(area: Rect) -> Rect {
    Rect {
        y: area.y + 1,
        height: area.height.saturating_sub(2),
        ..area
    }
}

fn inner(area: Rect) -> Rect {
    Block::bordered().inner(popup(area))
}

impl Plan {
    fn new(s: &State, a: &Activity, inner: Rect) -> Plan {
        let w = usize::from(inner.width.max(1));
        let summary = summary(s, a, w);
        let top = (summary.len() as u16).min(inner.height / 3);
        let rest = inner.height.saturating_sub(top);
        let detail_h = if s.activity.whole {
            rest / 2
        } else {
            rest.min(4).min(rest / 2)
        };
        let table = Rect {
            y: inner.y + top,
            height: rest.saturating_sub(detail_h),
            ..inner
        };
        let details = Rect {
            y: table.y + table.height,
            height: detail_h,
            ..inner
        };
        let room = usize::from(table.height.saturating_sub(1)).max(1);
        let first = (s.activity.selected() + 1).saturating_sub(room);
        Plan {
            summary,
            table,
            first,
            details,
        }
    }
}

/// The row of the backend at screen row `y`, if a row is drawn there: for a click.
pub fn backend_at(s: &State, screen: Rect, y: u16) -> Option<usize> {
    let a = s.activity.sample.value.as_ref()?.as_ref()?;
    let plan = Plan::new(s, a, inner(screen));
    let first_row = plan.table.y + 1;
    if y < first_row || y >= plan.table.y + plan.table.height {
        return None;
    }
    let i = plan.first + usize::from(y - first_row);
    (i < a.backends.len()).then_some(i)
}

impl ActivityOverlay<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let k = |a| self.ctx.keymap.keys(a);
        let popup = popup(area);
        frame.render_widget(Clear, popup);
        let sample = &s.activity.sample;
        let count = sample
            .value
            .as_ref()
            .and_then(Option::as_ref)
            .map(|a| format!(" · {} · {} backends", a.database, a.backends.len()))
            .unwrap_or_default();
        let listed = matches!(sample.value, Some(Some(_)));
        let keys = if !listed {
            format!(" {} closes ", k(Action::Back))
        } else if s.read_only {
            format!(
                " {} whole query  {} closes · read-only: no cancel ",
                k(Action::Whole),
                k(Action::Back)
            )
        } else {
            format!(
                " {} cancel  {} terminate  {} whole query  {} closes ",
                k(Action::CancelBackend),
                k(Action::TerminateBackend),
                k(Action::Whole),
                k(Action::Back)
            )
        };
        let mut title = vec![Span::styled(
            format!(" Database activity{count} "),
            t.title_focused,
        )];
        title.extend(self.ctx.freshness(sample));
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .title(Line::from(title))
            .title_bottom(Line::styled(keys, t.muted))
            .border_style(t.border_focused)
            .style(t.popup);
        let inner = block.inner(popup);
        frame.render_widget(block, popup);
        let w = usize::from(inner.width.max(1));
        let say = |frame: &mut Frame, text: &str, style| {
            let lines: Vec<Line> = format::wrap(text, w)
                .into_iter()
                .map(|l| Line::styled(l, style))
                .collect();
            frame.render_widget(Paragraph::new(lines), inner);
        };
        match (&sample.value, &sample.error, &sample.withheld) {
            (_, _, Some(why)) => return say(frame, why, t.warn),
            (None, Some(e), _) => {
                return say(frame, &format!("cannot read the activity: {e}"), t.critical);
            }
            (None, None, _) => {
                return say(
                    frame,
                    "sampling pg_stat_activity (each sample spans a second, to rate the commits)",
                    t.muted,
                );
            }
            (Some(None), _, _) => {
                return say(frame, &format!("{}: {NO_SERVER}", s.conn.short), t.warn);
            }
            (Some(Some(_)), _, _) => {}
        }
        let Some(Some(a)) = &sample.value else {
            return;
        };
        let plan = Plan::new(s, a, inner);
        let summary: Vec<Line> = plan
            .summary
            .iter()
            .map(|l| Line::styled(l.clone(), t.text))
            .collect();
        frame.render_widget(
            Paragraph::new(summary),
            Rect {
                height: plan.table.y - inner.y,
                ..inner
            },
        );
        self.table(frame, a, &plan);
        self.details(frame, &plan);
    }

    fn table(&self, frame: &mut Frame, a: &Activity, plan: &Plan) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let wide = plan.table.width >= WIDE_FROM;
        let w = usize::from(plan.table.width);
        let app_w = if wide { 22 } else { 14 };
        let mut lines = vec![Line::styled(
            row_text(&Columns::header(), app_w, wide, w),
            t.header,
        )];
        if a.backends.is_empty() {
            lines.push(Line::styled(
                "  no other backend is connected to this database",
                t.muted,
            ));
        }
        let selected = s.activity.selected();
        let room = usize::from(plan.table.height.saturating_sub(1));
        for (i, b) in a.backends.iter().enumerate().skip(plan.first).take(room) {
            let text = row_text(&Columns::of(b, i == selected), app_w, wide, w);
            let style = if i == selected {
                t.selected
            } else if !b.blocked_by.is_empty() {
                t.warn
            } else {
                t.text
            };
            lines.push(Line::styled(text, style));
        }
        frame.render_widget(Paragraph::new(lines), plan.table);
    }

    fn details(&self, frame: &mut Frame, plan: &Plan) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let Some(b) = s.activity.selected_backend() else {
            return;
        };
        let w = usize::from(plan.details.width.max(1));
        let h = usize::from(plan.details.height);
        let facts_max = if h >= 4 { 3 } else { h.saturating_sub(1) };
        let mut lines: Vec<Line> = format::pack(facts(b).iter().map(String::as_str), " · ", w)
            .into_iter()
            .take(facts_max)
            .map(|l| Line::styled(l, t.muted))
            .collect();
        let room = h.saturating_sub(lines.len());
        let query = format::one_line(&b.query);
        if s.activity.whole {
            // Whole: broken at any character, so that nothing of the query is lost.
            let chars: Vec<char> = query.chars().collect();
            let chunks: Vec<String> = chars.chunks(w).map(|c| c.iter().collect()).collect();
            let shown = room.max(1);
            let more = chunks.len().saturating_sub(shown);
            for (j, c) in chunks.into_iter().take(shown).enumerate() {
                let last = j + 1 == shown && more > 0;
                let text = if last {
                    let note = format!(" (+{more} lines)");
                    let keep = w.saturating_sub(note.chars().count());
                    format!("{}{note}", c.chars().take(keep).collect::<String>())
                } else {
                    c
                };
                lines.push(Line::styled(text, t.text));
            }
        } else {
            lines.push(Line::styled(format::fit(&query, w), t.text));
        }
        frame.render_widget(Paragraph::new(lines), plan.details);
    }
}

/// The summary lines: rates, the longest transaction, the locks on `products`.
fn summary(s: &State, a: &Activity, w: usize) -> Vec<String> {
    // The view covers the status line: what came of a signal is said here instead.
    let mut out: Vec<String> = s.notice.iter().map(|n| n.text.clone()).collect();
    out.push(format!(
        "{:.1} commits/s · {:.1} rollbacks/s (over {:.1} s) · sampled {}",
        a.rates.commits_per_s,
        a.rates.rollbacks_per_s,
        a.rates.interval_ms as f64 / 1000.0,
        s.activity
            .sample
            .at
            .map(|at| {
                let ago = s.now.saturating_duration_since(at);
                let wall = s.wall - chrono::Duration::from_std(ago).unwrap_or_default();
                s.local(wall).format("%H:%M:%S").to_string()
            })
            .unwrap_or_default()
    ));
    out.push(match a.longest_transaction() {
        Some(b) => format!(
            "longest transaction: {} ({}) {}, {}",
            b.pid,
            b.name(),
            duration_text(b.transaction_ms),
            b.state.as_deref().unwrap_or("-")
        ),
        None => "longest transaction: none open".into(),
    });
    let mut locks: Vec<String> = a.product_locks.iter().map(ProductLock::text).collect();
    // One lock is never split across lines: the pid stays with its mode.
    match locks.first_mut() {
        Some(first) => *first = format!("locks on products: {first}"),
        None => locks.push("locks on products: none".into()),
    }
    let mut out: Vec<String> = out.into_iter().flat_map(|l| format::wrap(&l, w)).collect();
    out.extend(format::pack(locks.iter().map(String::as_str), ", ", w));
    out
}

/// Every fact of a backend, for the details line.
fn facts(b: &BackendRow) -> Vec<String> {
    let list = |pids: &[i32]| {
        if pids.is_empty() {
            "-".to_string()
        } else {
            pids.iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    vec![
        format!("pid {}", b.pid),
        b.name(),
        format!("user {}", b.user_name.as_deref().unwrap_or("-")),
        format!("client {}", b.client.as_deref().unwrap_or("local")),
        format!("state {}", b.state.as_deref().unwrap_or("-")),
        format!("running {}", duration_text(b.query_ms)),
        format!("wait {}", wait(b)),
        format!("blocked by {}", list(&b.blocked_by)),
        format!("transaction {}", duration_text(b.transaction_ms)),
        format!(
            "idle in transaction {}",
            duration_text(b.idle_in_transaction_ms)
        ),
    ]
}

fn wait(b: &BackendRow) -> String {
    match (&b.wait_event_type, &b.wait_event) {
        (Some(t), Some(e)) => format!("{t}:{e}"),
        _ => "-".into(),
    }
}

/// One row's cells, as text.
struct Columns {
    marker: &'static str,
    pid: String,
    app: String,
    state: String,
    running: String,
    blocked: String,
    wait: String,
    transaction: String,
    idle: String,
    query: String,
}

impl Columns {
    fn header() -> Columns {
        Columns {
            marker: "  ",
            pid: "PID".into(),
            app: "APPLICATION".into(),
            state: "STATE".into(),
            running: "RUNNING".into(),
            blocked: "BLOCKED".into(),
            wait: "WAIT".into(),
            transaction: "TX".into(),
            idle: "IDLE TX".into(),
            query: "QUERY".into(),
        }
    }

    fn of(b: &BackendRow, selected: bool) -> Columns {
        Columns {
            marker: if selected { "▶ " } else { "  " },
            pid: b.pid.to_string(),
            app: b.name(),
            state: short_state(b.state.as_deref()),
            running: duration_text(b.query_ms),
            blocked: blocked(&b.blocked_by),
            wait: wait(b),
            transaction: duration_text(b.transaction_ms),
            idle: duration_text(b.idle_in_transaction_ms),
            query: format::one_line(&b.query),
        }
    }
}

fn row_text(c: &Columns, app_w: usize, wide: bool, w: usize) -> String {
    let mut out = format!(
        "{}{:>PID_W$} {:<app_w$} {:<STATE_W$} {:>DUR_W$} {:<BLOCKED_W$}",
        c.marker,
        c.pid,
        format::fit(&c.app, app_w),
        c.state,
        c.running,
        c.blocked,
    );
    if wide {
        out.push_str(&format!(
            " {:<WAIT_W$} {:>DUR_W$} {:>DUR_W$}",
            format::fit(&c.wait, WAIT_W),
            c.transaction,
            c.idle
        ));
    }
    out.push(' ');
    let room = w.saturating_sub(out.chars().count());
    out.push_str(&format::fit(&c.query, room));
    out
}

/// A state in at most [`STATE_W`] characters.
fn short_state(state: Option<&str>) -> String {
    match state {
        None => "-".into(),
        Some("idle in transaction") => "idle in tx".into(),
        Some("idle in transaction (aborted)") => "tx aborted".into(),
        Some("fastpath function call") => "fastpath".into(),
        Some(other) => format::fit(other, STATE_W),
    }
}

/// The blockers in [`BLOCKED_W`] characters, never a cut pid: the first, and how many more.
fn blocked(pids: &[i32]) -> String {
    match pids {
        [] => "-".into(),
        [one] => one.to_string(),
        [first, rest @ ..] => {
            let text = format!("{first} +{}", rest.len());
            if text.chars().count() <= BLOCKED_W {
                text
            } else {
                format!("{} pids", pids.len())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_list_never_cuts_a_pid() {
        assert_eq!(blocked(&[]), "-");
        assert_eq!(blocked(&[4194304]), "4194304");
        assert_eq!(blocked(&[4400, 4401, 4402]), "4400 +2");
        assert_eq!(blocked(&[4194304, 4194303]), "2 pids");
        assert_eq!(
            short_state(Some("idle in transaction (aborted)")),
            "tx aborted"
        );
    }
}
